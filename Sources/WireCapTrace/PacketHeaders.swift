/// The one Ethernet/VLAN/cooked/IPv4/IPv6/L4 header parser of the project: what
/// RSS hashes (``FiveTuple/extract(linkType:frame:)``), what the analyzer's flows,
/// traffic counters and replay read. Never reads out of bounds; allocates nothing.
///
/// ```
///  link layer   Ethernet (≤ 4 VLAN tags: 0x8100, 0x88A8, 0x9100) · Linux SLL · SLL2 · raw IP
///               → etherType, networkOffset, the outer VLAN id
///  network      IPv4 (IHL, MF/offset) · IPv6 (hop-by-hop, routing, destination
///               options, AH, fragment: at most 8 extension headers)
///               → version, proto, addresses, fragment (id, first or not)
///  transport    TCP/UDP/SCTP ports, when present and not a later fragment
/// ```
@frozen
public struct PacketHeaders: Sendable, Hashable {
    /// The EtherType of the network header (for raw IP link types the one the
    /// version nibble implies; 0 when the nibble is neither 4 nor 6).
    public var etherType: UInt16 = 0
    /// Offset of the network header in the frame.
    public var networkOffset = 0
    /// The outermost 802.1Q/802.1ad VLAN id, 0 when untagged.
    public var vlan: UInt16 = 0
    /// VLAN tags (802.1Q, 802.1ad, 0x9100) in front of the network header, at most 4.
    public var vlanTags = 0
    /// 4 or 6 when the IP header was complete; 0 otherwise (no fields below are set).
    public var version: UInt8 = 0
    /// The IP protocol (after IPv6 extension headers).
    public var proto: UInt8 = 0
    /// Source and destination addresses (IPv4 in the low 32 bits of `…Low`).
    public var sourceHigh: UInt64 = 0, sourceLow: UInt64 = 0
    public var destinationHigh: UInt64 = 0, destinationLow: UInt64 = 0
    /// `true` when the transport ports were read (TCP/UDP/SCTP, header present,
    /// not a later fragment); the ports are 0 otherwise.
    public var hasPorts = false
    public var sourcePort: UInt16 = 0, destinationPort: UInt16 = 0
    /// Set for a fragment of an IP datagram (IPv4 MF or offset; an IPv6 fragment header).
    public var fragment: Fragment?

    /// Where a packet sits in a fragmented datagram.
    @frozen
    public struct Fragment: Sendable, Hashable {
        /// The identification (IPv4: 16 bits; IPv6 fragment header: 32 bits).
        public var id: UInt32
        /// `true` for the first fragment (offset 0: it carries the ports).
        public var isFirst: Bool

        @inlinable public init(id: UInt32, isFirst: Bool) {
            self.id = id
            self.isFirst = isFirst
        }
    }

    @inlinable public init() {}

    /// Parses `frame` of link type `linkType` (LINKTYPE_*).
    /// - Returns: nil when the link type is unknown or its header is cut short;
    ///   otherwise the headers as far as they are present (``version`` 0: not IP,
    ///   or an IP header cut short).
    @inlinable
    public static func parse(_ frame: UnsafeRawBufferPointer, linkType: UInt32) -> PacketHeaders? {
        var h = PacketHeaders()
        switch linkType {
        case 1:  // Ethernet
            guard frame.count >= 14 else { return nil }
            var type = frame.be16(12)
            var offset = 14
            var tags = 0
            while type == 0x8100 || type == 0x88A8 || type == 0x9100, tags < 4 {
                guard frame.count >= offset + 4 else { return nil }
                if tags == 0 { h.vlan = frame.be16(offset) & 0x0FFF }
                type = frame.be16(offset + 2)
                offset += 4
                tags += 1
            }
            h.etherType = type
            h.networkOffset = offset
            h.vlanTags = tags
        case 113:  // Linux SLL: protocol at 14, 16-byte header
            guard frame.count >= 16 else { return nil }
            h.etherType = frame.be16(14)
            h.networkOffset = 16
        case 276:  // Linux SLL2: protocol at 0, 20-byte header
            guard frame.count >= 20 else { return nil }
            h.etherType = frame.be16(0)
            h.networkOffset = 20
        case 101, 12, 14, 228, 229:  // raw IP
            guard frame.count >= 1 else { return nil }
            switch frame[0] >> 4 {
            case 4: h.etherType = 0x0800
            case 6: h.etherType = 0x86DD
            default: h.etherType = 0
            }
        default:
            return nil
        }
        switch h.etherType {
        case 0x0800: h.parseIPv4(frame)
        case 0x86DD: h.parseIPv6(frame)
        default: break
        }
        return h
    }

    @inlinable
    mutating func parseIPv4(_ f: UnsafeRawBufferPointer) {
        let o = networkOffset
        guard f.count >= o + 20, f[o] >> 4 == 4 else { return }
        let ihl = Int(f[o] & 0x0F) * 4
        guard ihl >= 20 else { return }
        version = 4
        proto = f[o + 9]
        sourceLow = UInt64(f.be32(o + 12))
        destinationLow = UInt64(f.be32(o + 16))
        let flags = f.be16(o + 6)
        if flags & 0x3FFF != 0 {  // MF set or offset non-zero
            fragment = Fragment(id: UInt32(f.be16(o + 4)), isFirst: flags & 0x1FFF == 0)
            if flags & 0x1FFF != 0 { return }  // a later fragment carries no ports
        }
        readPorts(f, at: o + ihl)
    }

    @inlinable
    mutating func parseIPv6(_ f: UnsafeRawBufferPointer) {
        let o = networkOffset
        guard f.count >= o + 40, f[o] >> 4 == 6 else { return }
        version = 6
        sourceHigh = f.be64(o + 8); sourceLow = f.be64(o + 16)
        destinationHigh = f.be64(o + 24); destinationLow = f.be64(o + 32)
        var next = f[o + 6]
        var p = o + 40
        for _ in 0..<8 {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options
                guard f.count >= p + 2 else { proto = next; return }
                let length = (Int(f[p + 1]) + 1) * 8
                next = f[p]
                p += length
                continue
            case 44:  // fragment: next header, offset|M, id
                guard f.count >= p + 8 else { proto = next; return }
                let offsetField = f.be16(p + 2) & 0xFFF8
                fragment = Fragment(id: f.be32(p + 4), isFirst: offsetField == 0)
                next = f[p]
                p += 8
                if offsetField != 0 { proto = next; return }
                continue
            case 51:  // authentication header
                guard f.count >= p + 2 else { proto = next; return }
                let length = (Int(f[p + 1]) + 2) * 4
                next = f[p]
                p += length
                continue
            default:
                break
            }
            break
        }
        proto = next
        readPorts(f, at: p)
    }

    @inlinable
    mutating func readPorts(_ f: UnsafeRawBufferPointer, at l4: Int) {
        guard proto == 6 || proto == 17 || proto == 132, l4 >= 0, f.count >= l4 + 4 else { return }
        hasPorts = true
        sourcePort = f.be16(l4)
        destinationPort = f.be16(l4 + 2)
    }
}

extension UnsafeRawBufferPointer {
    @inlinable func be16(_ o: Int) -> UInt16 { UInt16(self[o]) << 8 | UInt16(self[o + 1]) }
    @inlinable func be32(_ o: Int) -> UInt32 { UInt32(be16(o)) << 16 | UInt32(be16(o + 2)) }
    @inlinable func be64(_ o: Int) -> UInt64 { UInt64(be32(o)) << 32 | UInt64(be32(o + 4)) }
}
