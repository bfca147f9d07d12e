import CWireCapPcap
import WireCap
import WireCapFilter

/// The classic BPF program of `pcap_setfilter`, copied into a ``PacketFilter``
/// (the program may free its own with `pcap_freecode`), run per packet by
/// libpcap's `bpf_filter`.
///
/// The capture's handles take one ``PacketPredicate`` when they are made (at
/// `pcap_activate`), and `pcap_setfilter` comes later: the predicate reads
/// this box, which the pcap handle's one thread replaces. No program: every
/// packet passes.
final class FilterProgram: @unchecked Sendable {
    /// The filter (nil: none); written only by the thread that reads packets
    /// (pcap_setfilter and the reads run on it).
    private var filter: PacketFilter?

    /// Installs a copy of `program` (nil or empty: remove the filter).
    func install(_ program: UnsafePointer<wc_bpf_program>?) {
        guard let program, program.pointee.bf_len > 0, let source = program.pointee.bf_insns else {
            filter = nil
            return
        }
        filter = PacketFilter(copying: source, count: Int(program.pointee.bf_len), expression: "pcap_setfilter")
    }

    /// Whether the packet passes: `bpf_filter` over its captured bytes with its
    /// wire length (what libpcap's own user-space filter does).
    @inline(__always)
    func matches(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> Bool {
        filter?.matches(bytes, wireLength: wireLength) ?? true
    }

    /// The predicate the capture's handles run.
    var predicate: PacketPredicate {
        PacketPredicate(expression: "pcap_setfilter") { [self] bytes, wire in matches(bytes, wireLength: wire) }
    }
}
