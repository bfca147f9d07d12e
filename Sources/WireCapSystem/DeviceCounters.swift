#if canImport(Glibc)
import Glibc
#endif
import WireCapCore

/// The drop counters a network device keeps for packets it lost before any XDP
/// program or socket saw them: the loss ledger's `before-socket` cause.
///
/// Read from the interface's rtnetlink statistics as sysfs exposes them
/// (`/sys/class/net/IF/statistics/*`, the same `rtnl_link_stats64` that
/// `ip -s link` prints):
/// - `rx_missed_errors`: the NIC had no descriptor for the packet (its ring was full);
/// - `rx_fifo_errors`, `rx_over_errors`: the NIC's receive FIFO overflowed.
///
/// Not `rx_dropped`: drivers count upper-layer drops there too (an XDP_DROP, a
/// stack drop of a packet WireCap never redirected, and on veth the very
/// socket drops the ledger already has from `XDP_STATISTICS`), so adding it would
/// count packets twice (libpcap PR #854 discusses the same trap).
///
/// These counters are per interface, not per queue: the ledger shows them in
/// its interface row. Virtual devices (veth) keep none of them: on veth a packet
/// is never dropped before the receiving side's XDP program (the sender's
/// queue is stopped instead, which `wirecap generate` sees as back-pressure).
public struct DeviceCounters: Sendable {
    /// A reading.
    public struct Snapshot: Sendable, Hashable {
        /// Packets dropped before XDP, every counter summed.
        public var drops: UInt64 = 0
        public init(drops: UInt64 = 0) { self.drops = drops }
    }

    /// The interface.
    public let interface: String
    /// The device rx queues captured (kept for per-queue counters).
    public let queues: [Int]
    static let names = ["rx_missed_errors", "rx_fifo_errors", "rx_over_errors"]

    public init(interface: String, queues: [Int]) {
        self.interface = interface
        self.queues = queues
    }

    /// Which counters feed the reading (for the report).
    public var description: String { "rtnetlink " + Self.names.joined(separator: "+") }

    /// Reads the counters now (a missing file counts 0).
    public func read() -> Snapshot {
        var s = Snapshot()
        for name in Self.names {
            if let text = Sys.readSmallFile("/sys/class/net/\(interface)/statistics/\(name)"), let v = UInt64(text) {
                s.drops &+= v
            }
        }
        return s
    }
}
