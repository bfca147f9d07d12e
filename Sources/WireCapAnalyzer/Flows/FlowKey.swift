import WireCap
import WireCapTrace

/// A flow's identity: IP version, protocol, addresses, ports and the outer VLAN id.
///
/// IPv4 addresses are stored in the low 32 bits of `sourceLow`/`destinationLow`
/// (the high words zero); IPv6 addresses use both words, big-endian order.
@frozen
public struct FlowKey: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var sourceHigh: UInt64 = 0, sourceLow: UInt64 = 0
    public var destinationHigh: UInt64 = 0, destinationLow: UInt64 = 0
    public var sourcePort: UInt16 = 0, destinationPort: UInt16 = 0
    /// The outermost 802.1Q/802.1ad VLAN id, 0 when untagged.
    public var vlan: UInt16 = 0
    /// IP protocol number (6 TCP, 17 UDP, …).
    public var proto: UInt8 = 0
    /// 4 or 6.
    public var version: UInt8 = 0
    /// 1 for the pseudo-flow of non-first IP fragments whose first fragment (and so
    /// whose ports) was not seen; 0 for every real flow.
    public var unattributedFragments: UInt8 = 0

    public init() {}

    /// Where a packet sits in a fragmented IP datagram (the one parser's type).
    public typealias Fragment = PacketHeaders.Fragment

    /// A mixing hash (not Swift's seeded `Hasher`: tables use it on the hot path).
    @inlinable
    public var hash64: UInt64 {
        var h = sourceHigh &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ sourceLow) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ destinationHigh) &* 0x94D0_49BB_1331_11EB
        h = (h ^ destinationLow) &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(sourcePort) | UInt64(destinationPort) << 16 | UInt64(vlan) << 32 | UInt64(proto) << 48 | UInt64(version) << 56
        h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 29)
    }

    /// Parses a frame with ``PacketHeaders`` (Ethernet with up to 4 VLAN tags, Linux
    /// cooked SLL/SLL2, raw IP). Never reads out of bounds. - Returns: nil for non-IP packets.
    @inlinable
    public static func parse(_ packet: Packet) -> FlowKey? {
        parse(packet.bytes, linkType: packet.linkType)
    }

    /// See ``parse(_:)``.
    @inlinable
    public static func parse(_ b: UnsafeRawBufferPointer, linkType: UInt32 = 1) -> FlowKey? {
        parseWithFragment(b, linkType: linkType)?.key
    }

    /// Like ``parse(_:linkType:)``, and says whether the packet is a fragment of an
    /// IP datagram (IPv4 MF/offset, or an IPv6 fragment header): a non-first fragment
    /// carries no ports, so its key has ports 0 until its first fragment names them
    /// (see ``FragmentPorts``).
    @inlinable
    public static func parseWithFragment(_ b: UnsafeRawBufferPointer, linkType: UInt32 = 1)
        -> (key: FlowKey, fragment: Fragment?)? {
        guard let h = PacketHeaders.parse(b, linkType: linkType), h.version != 0 else { return nil }
        var key = FlowKey()
        key.version = h.version
        key.proto = h.proto
        key.vlan = h.vlan
        key.sourceHigh = h.sourceHigh; key.sourceLow = h.sourceLow
        key.destinationHigh = h.destinationHigh; key.destinationLow = h.destinationLow
        key.sourcePort = h.sourcePort; key.destinationPort = h.destinationPort
        return (key, h.fragment)
    }

    public var description: String {
        func v4(_ a: UInt64) -> String { "\(a >> 24 & 255).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)" }
        func v6(_ h: UInt64, _ l: UInt64) -> String {
            var groups: [String] = []
            for i in 0..<8 {
                let word: UInt64 = i < 4 ? h : l
                let shift = UInt64(48 - 16 * (i % 4))
                groups.append(String((word >> shift) & 0xFFFF, radix: 16))
            }
            return groups.joined(separator: ":")
        }
        let s = version == 4 ? v4(sourceLow) : "[\(v6(sourceHigh, sourceLow))]"
        let d = version == 4 ? v4(destinationLow) : "[\(v6(destinationHigh, destinationLow))]"
        let p = switch proto { case 6: "tcp"; case 17: "udp"; case 1: "icmp"; case 58: "icmp6"; default: "ip\(proto)" }
        let tag = vlan == 0 ? "" : " vlan \(vlan)"
        if unattributedFragments != 0 { return "\(p) \(s) > \(d)\(tag) fragments (first fragment not seen: ports unknown)" }
        return "\(p) \(s):\(sourcePort) > \(d):\(destinationPort)\(tag)"
    }
}

/// Which ports the datagrams being fragmented carry, as an IDS's defragmenter
/// knows them: the first fragment (offset 0) records its datagram's ports under
/// (addresses, protocol, IP id), and the later fragments of that datagram take
/// them. Bounded (the oldest entries are forgotten first), per worker, allocated
/// once; only fragments touch it.
public struct FragmentPorts: Sendable {
    struct Datagram: Hashable, Sendable {
        var sourceHigh: UInt64, sourceLow: UInt64, destinationHigh: UInt64, destinationLow: UInt64
        var id: UInt32
        var proto: UInt8
    }
    private var ports: [Datagram: UInt32] = [:]
    private var order: [Datagram?]
    private var next = 0

    /// Remembers at most `capacity` datagrams.
    public init(capacity: Int = 4096) {
        order = Array(repeating: nil, count: max(1, capacity))
        ports.reserveCapacity(max(1, capacity))
    }

    static func datagram(_ k: FlowKey, _ f: FlowKey.Fragment) -> Datagram {
        Datagram(sourceHigh: k.sourceHigh, sourceLow: k.sourceLow, destinationHigh: k.destinationHigh,
                 destinationLow: k.destinationLow, id: f.id, proto: k.proto)
    }

    /// Gives a fragment's key its datagram's ports: records them for a first
    /// fragment, fills them in for a later one whose first was seen, and marks a
    /// later one whose first was not as ``FlowKey/unattributedFragments``.
    public mutating func attribute(_ key: inout FlowKey, _ fragment: FlowKey.Fragment) {
        let d = Self.datagram(key, fragment)
        if fragment.isFirst {
            if ports.updateValue(UInt32(key.sourcePort) << 16 | UInt32(key.destinationPort), forKey: d) == nil {
                if let old = order[next] { ports[old] = nil }
                order[next] = d
                next = next + 1 == order.count ? 0 : next + 1
            }
        } else if let p = ports[d] {
            key.sourcePort = UInt16(truncatingIfNeeded: p >> 16)
            key.destinationPort = UInt16(truncatingIfNeeded: p)
        } else {
            key.unattributedFragments = 1
        }
    }
}

