/// Builds an eBPF program one instruction at a time, with labels for jumps, so a
/// program is written as a listing and never as hand-counted offsets. Used for
/// the engine's XDP program and for the filters translated into it
/// (``KernelFilter``).
///
/// Each instruction is one `struct bpf_insn` packed into a `UInt64` in the
/// kernel's little-endian layout: `code | dst | src << 4 | off << 16 | imm << 32`.
/// A jump names a ``Label``; ``finish()`` writes each jump's offset (target −
/// jump − 1, in instructions) once every label is bound.
package struct EBPFAssembler: Sendable {
    /// A jump target, bound to a position with ``bind(_:)``.
    package struct Label: Hashable, Sendable { fileprivate let id: Int }

    /// A program the assembler cannot finish: a label never bound, or a jump farther
    /// than a 16-bit offset reaches.
    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var description: String
    }

    private var code: [UInt64] = []
    private var targets: [Int?] = []
    private var jumps: [(at: Int, label: Int)] = []

    package init() {}

    /// Instructions emitted so far.
    package var count: Int { code.count }

    /// A new, unbound label.
    package mutating func label() -> Label {
        targets.append(nil)
        return Label(id: targets.count - 1)
    }

    /// Whether any jump emitted so far targets `label` (code only it reaches is
    /// unreachable otherwise, and the verifier refuses unreachable instructions).
    package func isReferenced(_ label: Label) -> Bool { jumps.contains { $0.label == label.id } }

    /// Binds `label` to the next instruction emitted.
    package mutating func bind(_ label: Label) {
        precondition(targets[label.id] == nil, "EBPFAssembler: label bound twice")
        targets[label.id] = code.count
    }

    /// Emits one instruction.
    package mutating func emit(_ op: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) {
        code.append(Self.encode(op, dst: dst, src: src, off: off, imm: imm))
    }

    /// Emits a jump (conditional or `ja`) to `label`.
    package mutating func jump(_ op: UInt8, dst: UInt8 = 0, src: UInt8 = 0, imm: Int32 = 0, to label: Label) {
        jumps.append((code.count, label.id))
        emit(op, dst: dst, src: src, imm: imm)
    }

    /// `ja label`.
    package mutating func jump(to label: Label) { jump(EBPF.ja, to: label) }

    /// `dst = map` (`ld_imm64` with `BPF_PSEUDO_MAP_FD`: the loader turns the fd into the map).
    package mutating func loadMap(_ dst: UInt8, fd: Int32) {
        emit(EBPF.ldImm64, dst: dst, src: EBPF.pseudoMapFD, imm: fd)
        emit(0)
    }

    /// The program, every jump's offset written.
    package func finish() throws(Failure) -> [UInt64] {
        var out = code
        for (at, id) in jumps {
            guard let target = targets[id] else { throw Failure(description: "a jump at \(at) to a label never bound") }
            let offset = target - at - 1
            guard let off = Int16(exactly: offset) else {
                throw Failure(description: "a jump at \(at) of \(offset) instructions does not fit 16 bits")
            }
            out[at] = out[at] & ~(UInt64(0xFFFF) << 16) | UInt64(UInt16(bitPattern: off)) << 16
        }
        return out
    }

    /// One packed instruction.
    package static func encode(_ op: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> UInt64 {
        UInt64(op) | UInt64(dst | src << 4) << 8 | UInt64(UInt16(bitPattern: off)) << 16
            | UInt64(UInt32(bitPattern: imm)) << 32
    }
}

/// eBPF opcodes and helper numbers the engine's programs use (`linux/bpf.h`,
/// `linux/bpf_common.h`), spelled once.
package enum EBPF {
    // Instruction classes.
    package static let classLD: UInt8 = 0x00, classLDX: UInt8 = 0x01, classST: UInt8 = 0x02, classSTX: UInt8 = 0x03
    package static let classALU: UInt8 = 0x04, classJMP: UInt8 = 0x05, classJMP32: UInt8 = 0x06, classALU64: UInt8 = 0x07
    // Sizes and modes of loads and stores.
    package static let sizeW: UInt8 = 0x00, sizeH: UInt8 = 0x08, sizeB: UInt8 = 0x10, sizeDW: UInt8 = 0x18
    package static let modeMEM: UInt8 = 0x60
    // ALU and jump operations, and the operand source.
    package static let opAdd: UInt8 = 0x00, opSub: UInt8 = 0x10, opMul: UInt8 = 0x20, opDiv: UInt8 = 0x30
    package static let opOr: UInt8 = 0x40, opAnd: UInt8 = 0x50, opLsh: UInt8 = 0x60, opRsh: UInt8 = 0x70
    package static let opNeg: UInt8 = 0x80, opMod: UInt8 = 0x90, opXor: UInt8 = 0xa0, opMov: UInt8 = 0xb0
    package static let opEnd: UInt8 = 0xd0
    package static let jmpJA: UInt8 = 0x00, jmpJEQ: UInt8 = 0x10, jmpJGT: UInt8 = 0x20, jmpJGE: UInt8 = 0x30
    package static let jmpJSET: UInt8 = 0x40, jmpJNE: UInt8 = 0x50, jmpJSGT: UInt8 = 0x60, jmpJLT: UInt8 = 0xa0
    package static let jmpCall: UInt8 = 0x80, jmpExit: UInt8 = 0x90
    package static let sourceK: UInt8 = 0x00, sourceX: UInt8 = 0x08

    // Whole opcodes used often.
    package static let ja: UInt8 = classJMP | jmpJA
    package static let call: UInt8 = classJMP | jmpCall
    package static let exit: UInt8 = classJMP | jmpExit
    package static let ldImm64: UInt8 = classLD | sizeDW | 0x00
    package static let mov64K: UInt8 = classALU64 | opMov | sourceK
    package static let mov64X: UInt8 = classALU64 | opMov | sourceX
    package static let add64K: UInt8 = classALU64 | opAdd | sourceK
    package static let add64X: UInt8 = classALU64 | opAdd | sourceX
    package static let sub64X: UInt8 = classALU64 | opSub | sourceX
    package static let and64K: UInt8 = classALU64 | opAnd | sourceK
    package static let lsh64K: UInt8 = classALU64 | opLsh | sourceK
    package static let rsh64K: UInt8 = classALU64 | opRsh | sourceK
    package static let mov32K: UInt8 = classALU | opMov | sourceK
    package static let mov32X: UInt8 = classALU | opMov | sourceX
    /// `dst = htobe(dst)` (imm: 16 or 32): a byte swap on this little-endian machine.
    package static let toBigEndian: UInt8 = classALU | opEnd | sourceX
    package static func load(_ size: UInt8) -> UInt8 { classLDX | modeMEM | size }
    package static func store(_ size: UInt8) -> UInt8 { classSTX | modeMEM | size }
    package static func storeImmediate(_ size: UInt8) -> UInt8 { classST | modeMEM | size }
    /// `lock *(u64 *)(dst + off) += src` (`BPF_STX | BPF_DW | BPF_ATOMIC`, imm `BPF_ADD`):
    /// an add other CPUs' adds cannot overwrite.
    package static let atomicAdd64: UInt8 = classSTX | sizeDW | 0xc0

    /// `src` of `ld_imm64` when its immediate is a map fd.
    package static let pseudoMapFD: UInt8 = 1

    // Helper functions (`enum bpf_func_id`).
    package static let helperMapLookup: Int32 = 1
    package static let helperKtimeGetNs: Int32 = 5
    package static let helperRedirectMap: Int32 = 51
    package static let helperXDPAdjustMeta: Int32 = 54
    package static let helperXDPGetBuffLen: Int32 = 188

    // XDP actions.
    package static let xdpDrop: Int32 = 1, xdpPass: Int32 = 2, xdpTX: Int32 = 3, xdpRedirect: Int32 = 4

    // `struct xdp_md` field offsets.
    package static let mdData: Int16 = 0, mdDataEnd: Int16 = 4, mdDataMeta: Int16 = 8, mdRxQueueIndex: Int16 = 16
}
