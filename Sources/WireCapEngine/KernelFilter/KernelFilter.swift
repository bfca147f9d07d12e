/// One classic BPF instruction: libpcap's `struct bpf_insn` (the kernel's
/// `sock_filter`), the output of `pcap_compile`.
public struct ClassicInstruction: Sendable, Hashable, CustomStringConvertible {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32

    public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }

    /// From `code | jt << 16 | jf << 24 | k << 32` (how `PacketFilter` hands its
    /// program over without a libpcap type in its interface).
    public init(packed: UInt64) {
        self.init(code: UInt16(truncatingIfNeeded: packed), jt: UInt8(truncatingIfNeeded: packed >> 16),
                  jf: UInt8(truncatingIfNeeded: packed >> 24), k: UInt32(truncatingIfNeeded: packed >> 32))
    }

    public var description: String { "{ 0x\(String(code, radix: 16)), \(jt), \(jf), 0x\(String(k, radix: 16)) }" }
}

/// A tcpdump filter run in the engine's XDP program (issue 17): libpcap compiles
/// the expression to classic BPF as for the user-space filter, and this type
/// translates that program to eBPF inside the XDP program, so a rejected packet
/// never takes a frame, a pool cell or a capture-thread pass. It goes on to the
/// kernel stack untouched (``Rejected/pass``, as if WireCap were not there) or is
/// dropped (``Rejected/drop``); either way it is counted per queue and appears in
/// the ledger as `filtered`, like a packet the user-space filter rejects.
///
/// **Translation** (our own; classic BPF has one accumulator A, one index X, 16
/// scratch words M[] and forward jumps only):
///
/// ```
///   A → w4, X → w5 (32-bit ALU, so both stay zero-extended), M[i] → the stack at fp−128+4i
///   data → r2, data_end → r3, r6/r7 scratch; ctx stays in r9 (the program's)
///   ld[h|b] [k], [x+k]   bounds-checked against data_end (outside: reject, as bpf_filter
///                        returns 0), then converted from network order
///   len                  bpf_xdp_get_buff_len, once, before the first instruction
///   alu, jmp             the same operation in eBPF's 32-bit ALU and JMP32 classes;
///                        A/X or A%X with X = 0 rejects, shifts by 32 or more give 0
///   ret k, ret a         accept when non-zero, reject when zero
/// ```
///
/// What does not translate (Linux ancillary loads at `SKF_AD_OFF`, scratch
/// indices ≥ 16, unknown opcodes) throws ``Untranslatable``; the caller then runs
/// the filter in user space and says so on one line.
///
/// The translation is checked against libpcap's own interpreter: every
/// expression of the filter-parity corpus, over the corpus packets and random
/// ones, through `bpf_filter` and through the translated program in the kernel
/// (`BPF_PROG_TEST_RUN`).
public struct KernelFilter: Sendable, Hashable {
    /// What becomes of a packet the filter rejects.
    public enum Rejected: String, Sendable, Hashable {
        /// On to the kernel stack, as without WireCap (`XDP_PASS`, the default).
        case pass
        /// Dropped in the XDP program (`XDP_DROP`): less work for the host.
        case drop
    }

    /// A filter the translation cannot express, and why (one line).
    public struct Untranslatable: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The expression (for messages).
    public var expression: String
    /// The classic program.
    public var classic: [ClassicInstruction]
    /// Pass or drop rejected packets.
    public var rejected: Rejected

    /// The scratch-word stack slot of M[0] (fp − 128) and of the length (fp − 132).
    package static let scratchOffset: Int16 = -128
    package static let lengthOffset: Int16 = -132

    /// Whether `insn` is a packet load at an offset no XDP packet reaches (the
    /// verifier allows packet offsets up to 0xFFFF): it always rejects.
    static func alwaysOutOfBounds(_ insn: ClassicInstruction) -> Bool {
        let mode = insn.code & 0xe0
        let load = (insn.code & 0x07 == 0 && (mode == 0x20 || mode == 0x40)) || (insn.code & 0x07 == 1 && mode == 0xa0)
        // An absolute load at SKF_AD_OFF and above is a Linux ancillary load: untranslatable, not out of bounds.
        guard load, !(insn.code & 0x07 == 0 && mode == 0x20 && insn.k >= 0xFFFF_F000) else { return false }
        let size = insn.code & 0x18
        let bytes: UInt32 = size == EBPF.sizeW ? 4 : size == EBPF.sizeH ? 2 : 1
        return insn.k > 0xFFFF - bytes
    }

    /// Checks that `classic` translates (``emit(into:context:accept:reject:)`` into a
    /// scratch program; the caller emits its accept and reject code only where jumped to).
    public init(expression: String, classic: [ClassicInstruction], rejected: Rejected = .pass) throws(Untranslatable) {
        self.expression = expression
        self.classic = classic
        self.rejected = rejected
        var scratch = EBPFAssembler()
        let accept = scratch.label(), reject = scratch.label()
        try emit(into: &scratch, context: 9, accept: accept, reject: reject)
        scratch.bind(accept)
        scratch.bind(reject)
        do { _ = try scratch.finish() } catch { throw Untranslatable(reason: "'\(expression)': \(error.description)") }
    }

    /// Emits the filter: it reads the packet through the `xdp_md` in register
    /// `context` (kept), may use r0–r8 and the stack from fp − 132 to fp − 68, and
    /// jumps to `accept` or `reject` (never falls through; a filter that always
    /// accepts never jumps to `reject`: see ``EBPFAssembler/isReferenced(_:)``).
    package func emit(into a: inout EBPFAssembler, context: UInt8, accept: EBPFAssembler.Label,
                      reject: EBPFAssembler.Label) throws(Untranslatable) {
        let n = classic.count
        guard n > 0 else { throw Untranslatable(reason: "'\(expression)': an empty program") }
        let regA: UInt8 = 4, regX: UInt8 = 5, data: UInt8 = 2, end: UInt8 = 3, t1: UInt8 = 6, t2: UInt8 = 7
        let labels = (0...n).map { _ in a.label() }
        func fail(_ i: Int, _ why: String) -> Untranslatable {
            Untranslatable(reason: "'\(expression)': instruction \(i) \(classic[i]): \(why)")
        }
        func target(_ i: Int, _ skip: Int) throws(Untranslatable) -> EBPFAssembler.Label {
            let t = i + 1 + skip
            guard t <= n else { throw fail(i, "jumps past the end") }
            return labels[t]
        }
        func scratch(_ i: Int) throws(Untranslatable) -> Int16 {
            guard classic[i].k < 16 else { throw fail(i, "scratch word \(classic[i].k) of 16") }
            return KernelFilter.scratchOffset + Int16(classic[i].k) * 4
        }
        // Packet load of `size` bytes at [k] (or [X + k]) into `dst`, in host order.
        // - Returns: `false` when the load always fails (it jumped to reject; nothing after it runs).
        @discardableResult
        func packetLoad(_ i: Int, size: UInt8, indexed: Bool, into dst: UInt8) throws(Untranslatable) -> Bool {
            let k = classic[i].k
            let bytes: Int32 = size == EBPF.sizeW ? 4 : size == EBPF.sizeH ? 2 : 1
            let limit = 0xFFFF - bytes
            guard !KernelFilter.alwaysOutOfBounds(classic[i]) else { a.jump(to: reject); return false }
            if indexed {
                a.emit(EBPF.mov64X, dst: t1, src: regX)
                a.emit(EBPF.add64K, dst: t1, imm: Int32(k))
                a.jump(EBPF.classJMP | EBPF.jmpJGT | EBPF.sourceK, dst: t1, imm: limit, to: reject)
                a.emit(EBPF.mov64X, dst: t2, src: data)
                a.emit(EBPF.add64X, dst: t2, src: t1)
                a.emit(EBPF.mov64X, dst: t1, src: t2)
            } else {
                a.emit(EBPF.mov64X, dst: t1, src: data)
                a.emit(EBPF.add64K, dst: t1, imm: Int32(k))
            }
            a.emit(EBPF.mov64X, dst: t2, src: t1)
            a.emit(EBPF.add64K, dst: t2, imm: bytes)
            a.jump(EBPF.classJMP | EBPF.jmpJGT | EBPF.sourceX, dst: t2, src: end, to: reject)
            a.emit(EBPF.load(size), dst: dst, src: t1, off: 0)
            if bytes > 1 { a.emit(EBPF.toBigEndian, dst: dst, imm: bytes * 8) }
            return true
        }

        // Prologue: the length (only if a `len` needs it), the packet bounds, A = X = 0,
        // and every scratch word used set to 0 (the verifier wants initialized stack).
        let usesLength = classic.contains { $0.code & 0x07 <= 0x01 && $0.code & 0xe0 == 0x80 }   // ld len, ldx len
        if usesLength {
            a.emit(EBPF.mov64X, dst: 1, src: context)
            a.emit(EBPF.call, imm: EBPF.helperXDPGetBuffLen)
            a.emit(EBPF.store(EBPF.sizeW), dst: 10, src: 0, off: KernelFilter.lengthOffset)
        }
        a.emit(EBPF.load(EBPF.sizeW), dst: data, src: context, off: EBPF.mdData)
        a.emit(EBPF.load(EBPF.sizeW), dst: end, src: context, off: EBPF.mdDataEnd)
        a.emit(EBPF.mov32K, dst: regA, imm: 0)
        a.emit(EBPF.mov32K, dst: regX, imm: 0)
        var slots = Set<UInt32>()
        for insn in classic where [0x60, 0x61, 0x02, 0x03].contains(insn.code) && insn.k < 16 { slots.insert(insn.k) }
        for slot in slots.sorted() {
            a.emit(EBPF.storeImmediate(EBPF.sizeW), dst: 10, off: KernelFilter.scratchOffset + Int16(slot) * 4, imm: 0)
        }

        // The verifier refuses unreachable instructions, so only what a reachable
        // instruction jumps or falls to is emitted (jumps are forward: one pass).
        var reachable = [Bool](repeating: false, count: n + 1)
        reachable[0] = true
        for i in 0..<n where reachable[i] {
            let insn = classic[i]
            let op = insn.code & 0xf0
            let mark = { (t: Int) in if t <= n { reachable[t] = true } }
            switch insn.code & 0x07 {
            case 0x05 where op == EBPF.jmpJA: mark(i + 1 + Int(insn.k))
            case 0x05: mark(i + 1 + Int(insn.jt)); mark(i + 1 + Int(insn.jf))
            case 0x06: break
            case 0x04 where insn.code & 0x08 == 0 && (op == EBPF.opDiv || op == EBPF.opMod) && insn.k == 0: break
            case 0x00 where KernelFilter.alwaysOutOfBounds(insn), 0x01 where KernelFilter.alwaysOutOfBounds(insn): break
            default: mark(i + 1)
            }
        }

        for i in 0..<n where reachable[i] {
            a.bind(labels[i])
            let insn = classic[i]
            let code = UInt8(truncatingIfNeeded: insn.code)
            guard insn.code <= 0xFF else { throw fail(i, "unknown opcode") }
            let k = Int32(bitPattern: insn.k)
            switch code & 0x07 {
            case 0x00, 0x01:   // LD, LDX
                let dst = code & 0x07 == 0 ? regA : regX
                let size = code & 0x18
                switch code & 0xe0 {
                case 0x00: a.emit(EBPF.mov32K, dst: dst, imm: k)                                // imm
                case 0x20 where dst == regA && size != EBPF.sizeDW:                             // abs
                    guard insn.k < 0xFFFF_F000 else { throw fail(i, "a Linux ancillary load (SKF_AD_OFF)") }
                    try packetLoad(i, size: size, indexed: false, into: regA)
                case 0x40 where dst == regA && size != EBPF.sizeDW:                             // ind
                    try packetLoad(i, size: size, indexed: true, into: regA)
                case 0x60: a.emit(EBPF.load(EBPF.sizeW), dst: dst, src: 10, off: try scratch(i)) // mem
                case 0x80: a.emit(EBPF.load(EBPF.sizeW), dst: dst, src: 10, off: KernelFilter.lengthOffset) // len
                case 0xa0 where dst == regX && size == EBPF.sizeB:                              // msh
                    if try packetLoad(i, size: EBPF.sizeB, indexed: false, into: regX) {
                        a.emit(EBPF.classALU | EBPF.opAnd | EBPF.sourceK, dst: regX, imm: 0xf)
                        a.emit(EBPF.classALU | EBPF.opLsh | EBPF.sourceK, dst: regX, imm: 2)
                    }
                default: throw fail(i, "unknown load")
                }
            case 0x02: a.emit(EBPF.store(EBPF.sizeW), dst: 10, src: regA, off: try scratch(i))  // st
            case 0x03: a.emit(EBPF.store(EBPF.sizeW), dst: 10, src: regX, off: try scratch(i))  // stx
            case 0x04:   // ALU: the same operation bits in eBPF's 32-bit class
                let op = code & 0xf0
                let fromX = code & 0x08 != 0
                guard [EBPF.opAdd, EBPF.opSub, EBPF.opMul, EBPF.opDiv, EBPF.opOr, EBPF.opAnd, EBPF.opLsh,
                       EBPF.opRsh, EBPF.opNeg, EBPF.opMod, EBPF.opXor].contains(op) else { throw fail(i, "unknown ALU operation") }
                if op == EBPF.opNeg {
                    a.emit(EBPF.classALU | EBPF.opNeg, dst: regA)
                } else if !fromX {
                    if (op == EBPF.opDiv || op == EBPF.opMod) && insn.k == 0 {
                        a.jump(to: reject)                                  // bpf_filter returns 0
                    } else if (op == EBPF.opLsh || op == EBPF.opRsh) && insn.k >= 32 {
                        a.emit(EBPF.mov32K, dst: regA, imm: 0)
                    } else {
                        a.emit(EBPF.classALU | op | EBPF.sourceK, dst: regA, imm: k)
                    }
                } else if op == EBPF.opDiv || op == EBPF.opMod {
                    a.jump(EBPF.classJMP32 | EBPF.jmpJEQ | EBPF.sourceK, dst: regX, imm: 0, to: reject)
                    a.emit(EBPF.classALU | op | EBPF.sourceX, dst: regA, src: regX)
                } else if op == EBPF.opLsh || op == EBPF.opRsh {
                    let zero = a.label(), done = a.label()
                    a.jump(EBPF.classJMP32 | EBPF.jmpJGT | EBPF.sourceK, dst: regX, imm: 31, to: zero)
                    a.emit(EBPF.classALU | op | EBPF.sourceX, dst: regA, src: regX)
                    a.jump(to: done)
                    a.bind(zero)
                    a.emit(EBPF.mov32K, dst: regA, imm: 0)
                    a.bind(done)
                } else {
                    a.emit(EBPF.classALU | op | EBPF.sourceX, dst: regA, src: regX)
                }
            case 0x05:   // JMP
                let op = code & 0xf0
                if op == EBPF.jmpJA {
                    guard insn.k <= UInt32(n) else { throw fail(i, "jumps past the end") }
                    a.jump(to: try target(i, Int(insn.k)))
                    continue
                }
                guard [EBPF.jmpJEQ, EBPF.jmpJGT, EBPF.jmpJGE, EBPF.jmpJSET].contains(op) else { throw fail(i, "unknown jump") }
                let fromX = code & 0x08 != 0
                a.jump(EBPF.classJMP32 | op | (fromX ? EBPF.sourceX : EBPF.sourceK), dst: regA, src: fromX ? regX : 0,
                       imm: fromX ? 0 : k, to: try target(i, Int(insn.jt)))
                if insn.jf != 0 { a.jump(to: try target(i, Int(insn.jf))) }
            case 0x06:   // RET
                switch code & 0x18 {
                case 0x00: a.jump(to: insn.k != 0 ? accept : reject)
                case 0x10, 0x08:
                    a.jump(EBPF.classJMP32 | EBPF.jmpJEQ | EBPF.sourceK, dst: code & 0x18 == 0x10 ? regA : regX, imm: 0, to: reject)
                    a.jump(to: accept)
                default: throw fail(i, "unknown return")
                }
            default:     // MISC
                switch code & 0xf8 {
                case 0x00: a.emit(EBPF.mov32X, dst: regX, src: regA)   // tax
                case 0x80: a.emit(EBPF.mov32X, dst: regA, src: regX)   // txa
                default: throw fail(i, "unknown misc operation")
                }
            }
        }
        if reachable[n] {
            a.bind(labels[n])
            a.jump(to: reject)   // falling off the end (libpcap never emits it)
        }
    }
}
