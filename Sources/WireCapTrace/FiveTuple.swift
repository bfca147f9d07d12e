/// The IP 5-tuple of a packet: what RSS hashes and what defines a flow.
@frozen
public struct FiveTuple: Hashable, Sendable, CustomStringConvertible {
    /// IP version: 4 or 6.
    public var version: UInt8
    /// IP protocol number (6 TCP, 17 UDP, 132 SCTP, …).
    public var proto: UInt8
    /// `true` when the ports are known (TCP/UDP/SCTP and not a non-first fragment).
    public var hasPorts: Bool
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    /// Creates a tuple; pass `hasPorts: false` for fragments and port-less protocols.
    public init(
        version: UInt8, proto: UInt8, source: IPAddress, destination: IPAddress,
        sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, hasPorts: Bool = true
    ) {
        self.version = version
        self.proto = proto
        self.source = source
        self.destination = destination
        self.sourcePort = hasPorts ? sourcePort : 0
        self.destinationPort = hasPorts ? destinationPort : 0
        self.hasPorts = hasPorts
    }

    public var description: String {
        let s = version == 4 ? source.v4Description : source.description
        let d = version == 4 ? destination.v4Description : destination.description
        return hasPorts ? "\(proto) \(s):\(sourcePort) > \(d):\(destinationPort)" : "\(proto) \(s) > \(d)"
    }
}

/// Link-layer header types that the readers understand (LINKTYPE_* values of the
/// pcap and pcapng specifications).
public enum LinkType: UInt32, Sendable, Hashable {
    /// LINKTYPE_ETHERNET: Ethernet II, optionally 802.1Q / 802.1ad tagged.
    case ethernet = 1
    /// LINKTYPE_RAW: a bare IPv4 or IPv6 packet.
    case raw = 101
    /// DLT_RAW as written by some BSDs and old libpcap (value 12).
    case rawBSD12 = 12
    /// DLT_RAW on OpenBSD (value 14).
    case rawBSD14 = 14
    /// LINKTYPE_LINUX_SLL: Linux "cooked" capture, 16-byte header.
    case linuxSLL = 113
    /// LINKTYPE_IPV4: a bare IPv4 packet.
    case ipv4 = 228
    /// LINKTYPE_IPV6: a bare IPv6 packet.
    case ipv6 = 229
    /// LINKTYPE_LINUX_SLL2: Linux "cooked" capture v2, 20-byte header.
    case linuxSLL2 = 276
}

extension FiveTuple {
    /// Extracts the 5-tuple from a captured frame of link type `linkType` (the raw
    /// LINKTYPE value; unknown types give `nil`), through ``PacketHeaders``. Never
    /// reads out of bounds: a truncated header gives `nil` (no tuple) or a tuple
    /// without ports. As RSS hashes them, IPv4 fragments (first ones too) have no
    /// ports; an IPv6 first fragment keeps its ports.
    public static func extract(linkType: UInt32, frame: UnsafeRawBufferPointer) -> FiveTuple? {
        guard let h = PacketHeaders.parse(frame, linkType: linkType), h.version != 0 else { return nil }
        let ports = h.hasPorts && !(h.version == 4 && h.fragment != nil)
        return FiveTuple(version: h.version, proto: h.proto,
                         source: h.version == 4 ? IPAddress(v4: UInt32(truncatingIfNeeded: h.sourceLow))
                                                : IPAddress(high: h.sourceHigh, low: h.sourceLow),
                         destination: h.version == 4 ? IPAddress(v4: UInt32(truncatingIfNeeded: h.destinationLow))
                                                     : IPAddress(high: h.destinationHigh, low: h.destinationLow),
                         sourcePort: h.sourcePort, destinationPort: h.destinationPort, hasPorts: ports)
    }
}
