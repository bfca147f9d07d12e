import WireCap

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

    public init() {}

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

    /// Parses an Ethernet frame (up to 4 VLAN tags) or, for raw link types, a bare
    /// IP packet. Never reads out of bounds. - Returns: nil for non-IP packets.
    @inlinable
    public static func parse(_ packet: Packet) -> FlowKey? {
        parse(packet.bytes, linkType: packet.linkType)
    }

    /// See ``parse(_:)``.
    @inlinable
    public static func parse(_ b: UnsafeRawBufferPointer, linkType: UInt32 = 1) -> FlowKey? {
        var key = FlowKey()
        var offset = 0
        var etherType: UInt16
        switch linkType {
        case 1:
            guard b.count >= 14 else { return nil }
            etherType = be16(b, 12)
            offset = 14
            var tags = 0
            while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100, tags < 4 {
                guard b.count >= offset + 4 else { return nil }
                if tags == 0 { key.vlan = be16(b, offset) & 0x0FFF }
                etherType = be16(b, offset + 2)
                offset += 4
                tags += 1
            }
        case 101, 12, 14, 228, 229:
            guard b.count >= 1 else { return nil }
            etherType = b[0] >> 4 == 6 ? 0x86DD : 0x0800
        default:
            return nil
        }
        let l4: Int
        if etherType == 0x0800 {
            guard b.count >= offset + 20 else { return nil }
            let ihl = Int(b[offset] & 0x0F) * 4
            key.version = 4
            key.proto = b[offset + 9]
            key.sourceLow = UInt64(be32(b, offset + 12))
            key.destinationLow = UInt64(be32(b, offset + 16))
            // Later fragments carry no ports.
            if be16(b, offset + 6) & 0x1FFF != 0 { return key }
            l4 = offset + ihl
        } else if etherType == 0x86DD {
            guard b.count >= offset + 40 else { return nil }
            key.version = 6
            key.proto = b[offset + 6]
            key.sourceHigh = be64(b, offset + 8)
            key.sourceLow = be64(b, offset + 16)
            key.destinationHigh = be64(b, offset + 24)
            key.destinationLow = be64(b, offset + 32)
            l4 = offset + 40
        } else {
            return nil
        }
        if key.proto == 6 || key.proto == 17 || key.proto == 132, b.count >= l4 + 4 {
            key.sourcePort = be16(b, l4)
            key.destinationPort = be16(b, l4 + 2)
        }
        return key
    }

    @inlinable static func be16(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt16 { UInt16(b[o]) << 8 | UInt16(b[o + 1]) }
    @inlinable static func be32(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(be16(b, o)) << 16 | UInt32(be16(b, o + 2))
    }
    @inlinable static func be64(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
        UInt64(be32(b, o)) << 32 | UInt64(be32(b, o + 4))
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
        return "\(p) \(s):\(sourcePort) > \(d):\(destinationPort)\(tag)"
    }
}
