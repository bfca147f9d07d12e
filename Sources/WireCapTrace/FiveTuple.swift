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
    /// LINKTYPE value; unknown types give `nil`). Never reads out of bounds: a
    /// truncated header gives `nil` (no tuple) or a tuple without ports.
    public static func extract(linkType: UInt32, frame: UnsafeRawBufferPointer) -> FiveTuple? {
        guard let type = LinkType(rawValue: linkType) else { return nil }
        var offset = 0
        var etherType: UInt16
        switch type {
        case .ethernet:
            guard frame.count >= 14 else { return nil }
            etherType = frame.be16(12)
            offset = 14
            var tags = 0
            while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100, tags < 4 {
                guard frame.count >= offset + 4 else { return nil }
                etherType = frame.be16(offset + 2)
                offset += 4
                tags += 1
            }
        case .linuxSLL:
            guard frame.count >= 16 else { return nil }
            etherType = frame.be16(14)
            offset = 16
        case .linuxSLL2:
            guard frame.count >= 20 else { return nil }
            etherType = frame.be16(0)
            offset = 20
        case .raw, .rawBSD12, .rawBSD14, .ipv4, .ipv6:
            guard frame.count >= 1 else { return nil }
            etherType = frame[0] >> 4 == 6 ? 0x86DD : 0x0800
        }
        switch etherType {
        case 0x0800: return ipv4(frame, offset)
        case 0x86DD: return ipv6(frame, offset)
        default: return nil
        }
    }

    private static func hasPorts(_ proto: UInt8) -> Bool { proto == 6 || proto == 17 || proto == 132 }

    private static func ipv4(_ f: UnsafeRawBufferPointer, _ o: Int) -> FiveTuple? {
        guard f.count >= o + 20, f[o] >> 4 == 4 else { return nil }
        let ihl = Int(f[o] & 0x0F) * 4
        guard ihl >= 20 else { return nil }
        let proto = f[o + 9]
        let src = IPAddress(v4: f.be32(o + 12))
        let dst = IPAddress(v4: f.be32(o + 16))
        let fragment = f.be16(o + 6) & 0x3FFF != 0  // MF set or offset non-zero
        let l4 = o + ihl
        if !fragment, hasPorts(proto), f.count >= l4 + 4 {
            return FiveTuple(version: 4, proto: proto, source: src, destination: dst,
                             sourcePort: f.be16(l4), destinationPort: f.be16(l4 + 2))
        }
        return FiveTuple(version: 4, proto: proto, source: src, destination: dst, hasPorts: false)
    }

    private static func ipv6(_ f: UnsafeRawBufferPointer, _ o: Int) -> FiveTuple? {
        guard f.count >= o + 40, f[o] >> 4 == 6 else { return nil }
        let src = IPAddress(high: f.be64(o + 8), low: f.be64(o + 16))
        let dst = IPAddress(high: f.be64(o + 24), low: f.be64(o + 32))
        var next = f[o + 6]
        var p = o + 40
        var fragmentTail = false
        // Walk at most 8 extension headers.
        for _ in 0..<8 {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options
                guard f.count >= p + 2 else { return FiveTuple(version: 6, proto: next, source: src, destination: dst, hasPorts: false) }
                let length = (Int(f[p + 1]) + 1) * 8
                next = f[p]
                p += length
                continue
            case 44:  // fragment
                guard f.count >= p + 8 else { return FiveTuple(version: 6, proto: next, source: src, destination: dst, hasPorts: false) }
                if f.be16(p + 2) & 0xFFF8 != 0 { fragmentTail = true }
                next = f[p]
                p += 8
                continue
            case 51:  // authentication header
                guard f.count >= p + 2 else { return FiveTuple(version: 6, proto: next, source: src, destination: dst, hasPorts: false) }
                let length = (Int(f[p + 1]) + 2) * 4
                next = f[p]
                p += length
                continue
            default:
                break
            }
            break
        }
        if !fragmentTail, hasPorts(next), f.count >= p + 4 {
            return FiveTuple(version: 6, proto: next, source: src, destination: dst,
                             sourcePort: f.be16(p), destinationPort: f.be16(p + 2))
        }
        return FiveTuple(version: 6, proto: next, source: src, destination: dst, hasPorts: false)
    }
}

extension UnsafeRawBufferPointer {
    @inlinable func be16(_ o: Int) -> UInt16 { UInt16(self[o]) << 8 | UInt16(self[o + 1]) }
    @inlinable func be32(_ o: Int) -> UInt32 { UInt32(be16(o)) << 16 | UInt32(be16(o + 2)) }
    @inlinable func be64(_ o: Int) -> UInt64 { UInt64(be32(o)) << 32 | UInt64(be32(o + 4)) }
}
