import CWireCapPcap
import WireCap

/// The classic BPF program of `pcap_setfilter`, copied (the program may free its
/// own with `pcap_freecode`), run per packet by libpcap's `bpf_filter`.
///
/// The capture's handles take one ``PacketPredicate`` when they are made (at
/// `pcap_activate`), and `pcap_setfilter` comes later: the predicate reads
/// this box, which the pcap handle's one thread replaces. No program: every
/// packet passes.
final class FilterProgram: @unchecked Sendable {
    /// The instructions (nil: no filter) and their count; written only by the
    /// thread that reads packets (pcap_setfilter and the reads run on it).
    private var instructions: UnsafeMutablePointer<wc_bpf_insn>?
    private var count = 0

    /// Installs a copy of `program` (nil: remove the filter).
    func install(_ program: UnsafePointer<wc_bpf_program>?) {
        instructions?.deallocate()
        instructions = nil
        count = 0
        guard let program, program.pointee.bf_len > 0, let source = program.pointee.bf_insns else { return }
        let n = Int(program.pointee.bf_len)
        let copy = UnsafeMutablePointer<wc_bpf_insn>.allocate(capacity: n)
        copy.initialize(from: source, count: n)
        instructions = copy
        count = n
    }

    /// Whether the packet passes: `bpf_filter` over its captured bytes with its
    /// wire length (what libpcap's own user-space filter does).
    @inline(__always)
    func matches(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> Bool {
        guard let instructions else { return true }
        return RealPcap.bpfFilter(instructions, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                  UInt32(truncatingIfNeeded: wireLength), UInt32(truncatingIfNeeded: bytes.count)) != 0
    }

    /// The predicate the capture's handles run.
    var predicate: PacketPredicate {
        PacketPredicate(expression: "pcap_setfilter") { [self] bytes, wire in matches(bytes, wireLength: wire) }
    }

    deinit { instructions?.deallocate() }
}
