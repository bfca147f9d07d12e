// libpcap's filter compiler and interpreter, wrapped once.
//
// WireCapXDP cannot import libpcap (<pcap/bpf.h> and <linux/bpf.h> both define
// `struct bpf_insn`), so the engine takes a plain predicate closure and the
// caller builds it from a `PacketFilter` (see `PacketFilter.predicate`).
// The import is internal and no libpcap type appears in this module's interface
// (the program is kept as raw instruction memory), so a client importing both
// WireCapFilter and WireCapXDP never loads both C modules.
internal import CPCAP

/// A filter expression libpcap refused, with libpcap's own message on one line.
public struct FilterError: Error, Sendable, CustomStringConvertible {
    /// The expression as given.
    public var expression: String
    /// libpcap's text (`pcap_geterr`), newlines removed.
    public var message: String

    public init(expression: String, message: String) {
        self.expression = expression
        self.message = message
    }

    /// `filter 'EXPR': MESSAGE`.
    public var description: String { "filter '\(expression)': \(message)" }
}

/// A compiled tcpdump-syntax filter: `pcap_compile` on a dead handle of the
/// capture's link type and snap length, matched with libpcap's `bpf_filter`
/// interpreter over a packet's bytes in place.
///
/// Accepts exactly what tcpdump accepts, because it is the same compiler. The
/// program is immutable after `init`; `bpf_filter` keeps no state, so one filter
/// may be used by any number of threads at once.
///
/// Cost: one call into libpcap per packet, no allocation (see the README for
/// the measured ns per packet).
public final class PacketFilter: @unchecked Sendable {
    /// The expression as compiled.
    public let expression: String
    /// The LINKTYPE_* value the program was compiled for.
    public let linkType: UInt32
    /// The snap length given to the compiler (`ret` values are clamped to it).
    public let snapLength: Int
    /// A copy of the compiled `struct bpf_insn` array (libpcap's own is freed at once).
    private let instructions: UnsafeMutableRawPointer
    private let length: Int

    /// Compiles `expression`.
    ///
    /// - Parameters:
    ///   - expression: tcpdump syntax; empty matches every packet.
    ///   - linkType: LINKTYPE_* of the packets (1 Ethernet, 113 SLL, 276 SLL2, 101 raw IP).
    ///   - snapLength: the capture's snap length.
    ///   - optimize: run libpcap's optimizer (tcpdump does unless `-O`).
    /// - Throws: ``FilterError`` with libpcap's message (`pcap_compile`'s error text).
    ///
    /// The C calls are `pcap_open_dead`, `pcap_compile` (netmask
    /// `PCAP_NETMASK_UNKNOWN`, like tcpdump on an interface without IPv4) and `pcap_close`.
    public init(expression: String, linkType: UInt32 = 1, snapLength: Int = 262_144, optimize: Bool = true) throws(FilterError) {
        self.expression = expression
        self.linkType = linkType
        self.snapLength = snapLength
        guard let dead = pcap_open_dead(Self.dlt(forLinkType: linkType), Int32(clamping: snapLength)) else {
            throw FilterError(expression: expression, message: "pcap_open_dead failed for link type \(linkType)")
        }
        defer { pcap_close(dead) }
        var p = bpf_program()
        let rc = pcap_compile(dead, &p, expression, optimize ? 1 : 0, PCAP_NETMASK_UNKNOWN)
        guard rc == 0, let insns = p.bf_insns else {
            let text = pcap_geterr(dead).map { String(cString: $0) } ?? "pcap_compile failed"
            throw FilterError(expression: expression, message: text.split(whereSeparator: \.isNewline).joined(separator: " "))
        }
        length = Int(p.bf_len)
        let bytes = length * MemoryLayout<bpf_insn>.stride
        instructions = .allocate(byteCount: max(bytes, 1), alignment: MemoryLayout<bpf_insn>.alignment)
        instructions.copyMemory(from: insns, byteCount: bytes)
        instructions.bindMemory(to: bpf_insn.self, capacity: length)
        pcap_freecode(&p)
    }

    /// Takes a copy of a program compiled elsewhere: `count` `struct bpf_insn`s at
    /// `program` (a libpcap program's `bf_insns`, as `pcap_setfilter` receives it).
    public init(copying program: UnsafeRawPointer, count: Int, expression: String, linkType: UInt32 = 1,
                snapLength: Int = 262_144) {
        self.expression = expression
        self.linkType = linkType
        self.snapLength = snapLength
        length = count
        let bytes = count * MemoryLayout<bpf_insn>.stride
        instructions = .allocate(byteCount: max(bytes, 1), alignment: MemoryLayout<bpf_insn>.alignment)
        instructions.copyMemory(from: program, byteCount: bytes)
        instructions.bindMemory(to: bpf_insn.self, capacity: count)
    }

    deinit { instructions.deallocate() }

    /// Instructions in the compiled program.
    public var instructionCount: Int { length }

    /// The compiled program, one instruction per value as
    /// `code | jt << 16 | jf << 24 | k << 32` (no libpcap type in this module's
    /// interface): what the XDP program's translation takes (`KernelFilter`).
    public var packedInstructions: [UInt64] {
        let p = instructions.assumingMemoryBound(to: bpf_insn.self)
        return (0..<length).map { i in
            UInt64(p[i].code) | UInt64(p[i].jt) << 16 | UInt64(p[i].jf) << 24 | UInt64(p[i].k) << 32
        }
    }

    /// Whether the packet passes: `bpf_filter(program, bytes, wireLength, bytes.count) != 0`.
    ///
    /// - Parameters:
    ///   - bytes: the captured bytes, starting at the link-layer header.
    ///   - wireLength: the length on the wire (default: the captured length).
    public func matches(_ bytes: UnsafeRawBufferPointer, wireLength: Int? = nil) -> Bool {
        let program = UnsafePointer(instructions.assumingMemoryBound(to: bpf_insn.self))
        // bpf_filter reads at most `captured` bytes (its loads are bounds-checked).
        guard let base = bytes.baseAddress else {
            var zero: UInt8 = 0
            return bpf_filter(program, &zero, 0, 0) != 0
        }
        return bpf_filter(program, base.assumingMemoryBound(to: UInt8.self),
                          UInt32(truncatingIfNeeded: wireLength ?? bytes.count), UInt32(truncatingIfNeeded: bytes.count)) != 0
    }

    /// The filter as a closure for engines that cannot import libpcap
    /// (`CaptureSession`'s `filter:`). The closure keeps the filter alive.
    public var predicate: @Sendable (UnsafeRawBufferPointer) -> Bool {
        { [self] bytes in self.matches(bytes) }
    }

    /// Like ``predicate``, with the packet's wire length (for `greater`, `less`, `len`).
    public var wirePredicate: @Sendable (UnsafeRawBufferPointer, Int) -> Bool {
        { [self] bytes, wire in self.matches(bytes, wireLength: wire) }
    }

    /// The program as `tcpdump -d` prints it (`bpf_image` per instruction).
    public var listing: [String] {
        (0..<instructionCount).map { i in
            var insn = instructions.assumingMemoryBound(to: bpf_insn.self)[i]
            return bpf_image(&insn, Int32(i)).map { String(cString: $0) } ?? "?"
        }
    }

    /// The DLT_* value libpcap's `pcap_open_dead` expects for a LINKTYPE_* value (the
    /// number in a file's header): equal except LINKTYPE_RAW (101), which is DLT_RAW
    /// (12 on Linux). Ethernet 1, BSD null 0, PPP 9, loopback 108, Linux cooked
    /// SLL 113 and SLL2 276 are the same in both spaces.
    public static func dlt(forLinkType linkType: UInt32) -> Int32 {
        linkType == 101 ? 12 : Int32(bitPattern: linkType)
    }
}

/// `--sample N`: delivers the first of every `N` packets it sees (PF_RING's
/// sampling rate), counting the rest. One per consumer thread (not shared).
public struct PacketSampler: Sendable {
    /// 1 in `every` packets is delivered.
    public let every: Int
    private var countdown: Int

    /// - Parameter every: N ≥ 1 (1 delivers everything).
    public init(every: Int) {
        precondition(every >= 1, "sampling rate must be at least 1")
        self.every = every
        countdown = 0
    }

    /// Whether to deliver the next packet.
    @inlinable
    public mutating func next() -> Bool {
        if countdownValue == 0 { setCountdown(every - 1); return true }
        setCountdown(countdownValue - 1)
        return false
    }

    @usableFromInline var countdownValue: Int { countdown }
    @usableFromInline mutating func setCountdown(_ v: Int) { countdown = v }
}
