import WireCapCore
import WireCapSystem
/// The paper's per-packet application cost x (§4): each packet is run through
/// a BPF filter x times.
///
/// The filter is classic BPF, interpreted here the way libpcap's `bpf_filter`
/// does it. (libpcap itself cannot be called from this module: pcap's
/// `struct bpf_insn` and the kernel's eBPF `struct bpf_insn` that libbpf needs
/// clash in one Clang module context.) The default program is the output of
/// `tcpdump -dd 'udp and dst port 9'`, which matches every generator packet.
///
/// ``apply(_:)`` allocates nothing.
///
/// Each run starts with the accumulator holding the previous run's result, so the
/// x runs are a dependency chain the optimiser cannot fold into one: with identical
/// inputs the (pure) interpreter call was once hoisted out of the loop, and X = 300
/// cost what X = 1 costs (found by the e2e harness's consumer-cost check; a unit
/// test now checks that the cost grows with x). The filter's first instruction
/// loads the accumulator from the packet, so the seed never changes the verdict.
public final class ConsumerCost: @unchecked Sendable {
    /// One classic BPF instruction (`struct sock_filter`).
    public struct Instruction: Sendable, Hashable {
        public var code: UInt16, jt: UInt8, jf: UInt8, k: UInt32
        public init(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) {
            self.code = code; self.jt = jt; self.jf = jf; self.k = k
        }
    }

    /// `tcpdump -dd 'udp and dst port 9'`.
    public static let udpDiscardFilter: [Instruction] = [
        .init(0x28, 0, 0, 0x0000_000c), .init(0x15, 0, 7, 0x0000_0800), .init(0x30, 0, 0, 0x0000_0017),
        .init(0x15, 0, 11, 0x0000_0011), .init(0x28, 0, 0, 0x0000_0014), .init(0x45, 9, 0, 0x0000_1fff),
        .init(0xb1, 0, 0, 0x0000_000e), .init(0x48, 0, 0, 0x0000_0010), .init(0x15, 5, 6, 0x0000_0009),
        .init(0x15, 0, 5, 0x0000_86dd), .init(0x30, 0, 0, 0x0000_0014), .init(0x15, 0, 3, 0x0000_0011),
        .init(0x28, 0, 0, 0x0000_0038), .init(0x15, 0, 1, 0x0000_0009), .init(0x06, 0, 0, 0x0004_0000),
        .init(0x06, 0, 0, 0x0000_0000),
    ]

    /// Runs per packet.
    public let runs: Int
    private let program: UnsafeMutableBufferPointer<Instruction>

    /// - Parameter program: classic BPF; only the opcodes ``run(_:)`` knows are accepted (checked here).
    public init(runs: Int, program: [Instruction] = ConsumerCost.udpDiscardFilter) {
        self.runs = runs
        for (i, insn) in program.enumerated() {
            precondition(Self.known.contains(insn.code), "BPF opcode 0x\(String(insn.code, radix: 16)) at \(i) not supported")
            if insn.code & 0x07 == 0x05 {
                precondition(i + 1 + Int(max(insn.jt, insn.jf)) < program.count, "BPF jump out of range at \(i)")
            }
        }
        self.program = .allocate(capacity: program.count)
        _ = self.program.initialize(from: program)
    }

    deinit { program.deallocate() }

    static let known: Set<UInt16> = [
        0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x00, 0x01, 0xb1,         // ld abs, ind, imm; ldx imm, msh
        0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d,          // ja, jeq/jgt/jge/jset k and x
        0x54, 0x04, 0x14, 0x74, 0x64,                                 // and, add, sub, rsh, lsh (k)
        0x06, 0x16, 0x07, 0x87,                                       // ret k/a, tax, txa
    ]

    /// Runs the filter `runs` times over the packet. - Returns: times it matched.
    @inline(__always)
    public func apply(_ bytes: UnsafeRawBufferPointer) -> Int {
        var matched = 0
        var previous: UInt32 = 0
        for _ in 0..<runs {
            previous = run(bytes, accumulator: previous)
            if previous != 0 { matched &+= 1 }
        }
        return matched
    }

    /// One run of the filter: the snapshot length it accepts (0 = reject).
    /// - Parameter accumulator: the A register's initial value (see the type's note).
    @inline(never)
    public func run(_ p: UnsafeRawBufferPointer, accumulator: UInt32 = 0) -> UInt32 {
        var a: UInt32 = accumulator, x: UInt32 = 0
        var pc = 0
        let n = p.count
        @inline(__always) func byte(_ o: Int) -> UInt32? { o >= 0 && o < n ? UInt32(p[o]) : nil }
        @inline(__always) func half(_ o: Int) -> UInt32? { o >= 0 && o + 2 <= n ? UInt32(p[o]) << 8 | UInt32(p[o + 1]) : nil }
        @inline(__always) func word(_ o: Int) -> UInt32? {
            o >= 0 && o + 4 <= n ? UInt32(p[o]) << 24 | UInt32(p[o + 1]) << 16 | UInt32(p[o + 2]) << 8 | UInt32(p[o + 3]) : nil
        }
        while pc < program.count {
            let i = program[pc]
            pc += 1
            let k = Int(i.k)
            switch i.code {
            case 0x20: guard let v = word(k) else { return 0 }; a = v
            case 0x28: guard let v = half(k) else { return 0 }; a = v
            case 0x30: guard let v = byte(k) else { return 0 }; a = v
            case 0x40: guard let v = word(Int(x) + k) else { return 0 }; a = v
            case 0x48: guard let v = half(Int(x) + k) else { return 0 }; a = v
            case 0x50: guard let v = byte(Int(x) + k) else { return 0 }; a = v
            case 0x00: a = i.k
            case 0x01: x = i.k
            case 0xb1: guard let v = byte(k) else { return 0 }; x = (v & 0x0f) << 2
            case 0x05: pc += k
            case 0x15: pc += a == i.k ? Int(i.jt) : Int(i.jf)
            case 0x25: pc += a > i.k ? Int(i.jt) : Int(i.jf)
            case 0x35: pc += a >= i.k ? Int(i.jt) : Int(i.jf)
            case 0x45: pc += a & i.k != 0 ? Int(i.jt) : Int(i.jf)
            case 0x1d: pc += a == x ? Int(i.jt) : Int(i.jf)
            case 0x2d: pc += a > x ? Int(i.jt) : Int(i.jf)
            case 0x3d: pc += a >= x ? Int(i.jt) : Int(i.jf)
            case 0x4d: pc += a & x != 0 ? Int(i.jt) : Int(i.jf)
            case 0x54: a &= i.k
            case 0x04: a &+= i.k
            case 0x14: a &-= i.k
            case 0x74: a = i.k < 32 ? a >> i.k : 0
            case 0x64: a = i.k < 32 ? a << i.k : 0
            case 0x06: return i.k
            case 0x16: return a
            case 0x07: x = a
            case 0x87: a = x
            default: return 0
            }
        }
        return 0
    }
}
