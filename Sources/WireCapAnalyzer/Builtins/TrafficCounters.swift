import WireCap
import WireCapTrace
import WireCapSystem
import WireCapEngine
import WireCapFilter

/// Packets and bytes, per network and transport protocol.
public struct TrafficCounters: Analyzer {
    public var name: String { "counters" }
    public init() {}

    /// One worker's counts.
    public struct State: AnalyzerState, Sendable, Hashable, Codable {
        public var packets: UInt64 = 0
        /// Bytes on the wire.
        public var bytes: UInt64 = 0
        public var ipv4: UInt64 = 0, ipv6: UInt64 = 0, arp: UInt64 = 0, otherNetwork: UInt64 = 0
        public var tcp: UInt64 = 0, udp: UInt64 = 0, icmp: UInt64 = 0, icmpv6: UInt64 = 0, otherTransport: UInt64 = 0
        /// Packets whose origin queue differs from the worker's (offloaded chunks).
        public var offloaded: UInt64 = 0

        public init() {}

        @inlinable
        public mutating func process(packet: Packet) {
            packets &+= 1
            bytes &+= UInt64(packet.wireLength)
            if packet.wasOffloaded { offloaded &+= 1 }
            guard let h = PacketHeaders.parse(packet.bytes, linkType: packet.linkType) else { otherNetwork &+= 1; return }
            switch h.etherType {
            case 0x0800: ipv4 &+= 1
            case 0x86DD: ipv6 &+= 1
            case 0x0806: arp &+= 1; return
            default: otherNetwork &+= 1; return
            }
            guard h.version != 0 else { otherTransport &+= 1; return }
            let proto = h.proto
            switch proto {
            case 6: tcp &+= 1
            case 17: udp &+= 1
            case 1: icmp &+= 1
            case 58: icmpv6 &+= 1
            default: otherTransport &+= 1
            }
        }

        public mutating func merge(_ o: State) {
            packets &+= o.packets; bytes &+= o.bytes
            ipv4 &+= o.ipv4; ipv6 &+= o.ipv6; arp &+= o.arp; otherNetwork &+= o.otherNetwork
            tcp &+= o.tcp; udp &+= o.udp; icmp &+= o.icmp; icmpv6 &+= o.icmpv6; otherTransport &+= o.otherTransport
            offloaded &+= o.offloaded
        }
    }

    public func makeState(worker: Int) -> State { State() }

    public func report(_ s: State) -> AnalysisReport {
        AnalysisReport(
            name: name,
            lines: [
                "packets \(s.packets), bytes \(s.bytes) (\(s.offloaded) processed after offload)",
                "network: ipv4 \(s.ipv4), ipv6 \(s.ipv6), arp \(s.arp), other \(s.otherNetwork)",
                "transport: tcp \(s.tcp), udp \(s.udp), icmp \(s.icmp), icmpv6 \(s.icmpv6), other \(s.otherTransport)",
            ],
            values: ["packets": s.packets, "bytes": s.bytes, "ipv4": s.ipv4, "ipv6": s.ipv6, "arp": s.arp,
                     "other_network": s.otherNetwork, "tcp": s.tcp, "udp": s.udp, "icmp": s.icmp,
                     "icmpv6": s.icmpv6, "other_transport": s.otherTransport, "offloaded": s.offloaded])
    }
}

/// The byte-12/13 IPv4 counter of the "Profiling of Socket, PCAP and Fastnet"
/// benchmark: reads bytes 12 and 13 of the Ethernet header and counts packets
/// whose EtherType is IPv4 (0x0800). It touches every packet's memory, which is
/// the point: a consumer that reads nothing measures nothing.
public struct IPv4Counter: Analyzer {
    public var name: String { "ipv4" }
    public init() {}

    /// One worker's counts.
    public struct State: AnalyzerState, Sendable, Hashable {
        public var packets: UInt64 = 0
        public var ipv4: UInt64 = 0
        public init() {}

        @inlinable
        public mutating func process(packet: Packet) {
            packets &+= 1
            let b = packet.bytes
            if b.count >= 14, b[12] == 0x08, b[13] == 0x00 { ipv4 &+= 1 }
        }

        public mutating func merge(_ o: State) { packets &+= o.packets; ipv4 &+= o.ipv4 }
    }

    public func makeState(worker: Int) -> State { State() }

    public func report(_ s: State) -> AnalysisReport {
        AnalysisReport(name: name, lines: ["\(s.ipv4) of \(s.packets) packets are IPv4 (bytes 12-13 = 08 00)"],
                       values: ["packets": s.packets, "ipv4": s.ipv4])
    }
}

/// The paper's `pkt_handler` load (§4): each packet is run through a BPF filter
/// x times (WireCapFilter's `ConsumerCost`: libpcap's `bpf_filter` with
/// `udp and dst port 9`, as the C baselines do).
public struct PacketHandlerLoad: Analyzer {
    public var name: String { "load" }
    /// x: filter runs per packet.
    public let runs: Int
    let cost: ConsumerCost

    public init(runs: Int) {
        self.runs = runs
        cost = ConsumerCost(runs: runs)
    }

    /// One worker's counts.
    public struct State: AnalyzerState {
        @usableFromInline let cost: ConsumerCost
        public var packets: UInt64 = 0
        /// Filter runs that matched (x per matching packet).
        public var matches: UInt64 = 0

        @inlinable
        public mutating func process(packet: Packet) {
            packets &+= 1
            matches &+= UInt64(cost.apply(packet.bytes))
        }

        public mutating func merge(_ o: State) { packets &+= o.packets; matches &+= o.matches }
    }

    public func makeState(worker: Int) -> State { State(cost: cost) }

    public func report(_ s: State) -> AnalysisReport {
        AnalysisReport(name: name, lines: ["x = \(runs): \(s.packets) packets, \(s.matches) filter matches"],
                       values: ["packets": s.packets, "matches": s.matches, "x": UInt64(runs)])
    }
}
