import WireCapTrace

/// A flow as WireCap's XDP program names it when it looks a packet up in the
/// flow-bypass table (issue 17, ``FlowBypassTable``): forty bytes, every field
/// in network byte order, exactly as the program copies them out of the packet.
///
/// ```
///   0        16       32   34   36    37       38   40
///   ┌────────┬────────┬────┬────┬─────┬───────┬────┐
///   │ source │ dest.  │ sp │ dp │proto│version│vlan│
///   └────────┴────────┴────┴────┴─────┴───────┴────┘
///   addresses: IPv4 in the first 4 bytes (the other 12 zero), IPv6 all 16
///   ports: TCP, UDP and SCTP only (0 otherwise); vlan: the outer tag's 12-bit id, 0 untagged
/// ```
///
/// One direction only: the table holds a flow under both of its keys
/// (``reversed``), so either direction's packets find it with one lookup.
///
/// **What the program can bypass** (and ``init(parsing:linkType:)`` agrees): IPv4
/// and IPv6 over Ethernet with at most two VLAN tags. Never bypassed, so always
/// captured: IP fragments (a later fragment has no ports), IPv6 packets with
/// extension headers, non-IP frames, frames with three or more tags.
@frozen
public struct BypassKey: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The forty bytes, as the kernel stores them (little-endian words of wire bytes).
    public var words: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)

    /// The key's size in bytes (the BPF map's `key_size`).
    public static let size = 40
    /// Byte offsets of the fields (the XDP program writes them there).
    package static let sourceOffset = 0, destinationOffset = 16, portsOffset = 32
    package static let protoOffset = 36, versionOffset = 37, vlanOffset = 38

    public init() {}

    /// A key from its fields, addresses as two big-endian 64-bit halves (IPv4: the
    /// address in the low 32 bits of `sourceLow`/`destinationLow`, like ``FiveTuple``'s
    /// parser gives them).
    public init(version: UInt8, proto: UInt8, sourceHigh: UInt64 = 0, sourceLow: UInt64,
                destinationHigh: UInt64 = 0, destinationLow: UInt64,
                sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, vlan: UInt16 = 0) {
        // Each word is 8 wire bytes read little-endian: a big-endian field byte-swapped.
        if version == 4 {
            words.0 = UInt64(UInt32(truncatingIfNeeded: sourceLow).byteSwapped)
            words.2 = UInt64(UInt32(truncatingIfNeeded: destinationLow).byteSwapped)
        } else {
            words = (sourceHigh.byteSwapped, sourceLow.byteSwapped, destinationHigh.byteSwapped, destinationLow.byteSwapped, 0)
        }
        let ports = proto == 6 || proto == 17 || proto == 132
        let sp = ports ? sourcePort : 0, dp = ports ? destinationPort : 0
        words.4 = UInt64(sp.byteSwapped) | UInt64(dp.byteSwapped) << 16 | UInt64(proto) << 32
            | UInt64(version) << 40 | UInt64((vlan & 0x0FFF).byteSwapped) << 48
    }

    /// The key of the flow `frame` belongs to, or nil when the XDP program would not
    /// bypass it (see the type's documentation). Never reads out of bounds.
    public init?(parsing frame: UnsafeRawBufferPointer, linkType: UInt32 = 1) {
        guard linkType == 1, let h = PacketHeaders.parse(frame, linkType: 1), h.version != 0, h.fragment == nil,
              h.vlanTags <= 2 else { return nil }
        // IPv6 with extension headers (even cut short): the parser walks them; the program does not.
        if h.version == 6 {
            let next = frame[h.networkOffset + 6]
            if next == 0 || next == 43 || next == 44 || next == 51 || next == 60 { return nil }
        }
        self.init(version: h.version, proto: h.proto, sourceHigh: h.sourceHigh, sourceLow: h.sourceLow,
                  destinationHigh: h.destinationHigh, destinationLow: h.destinationLow,
                  sourcePort: h.sourcePort, destinationPort: h.destinationPort, vlan: h.vlan)
    }

    /// The other direction's key: addresses and ports swapped (word operations).
    @inlinable public var reversed: BypassKey {
        var r = BypassKey()
        let w4 = words.4
        r.words = (words.2, words.3, words.0, words.1,
                   w4 & 0xFFFF_FFFF_0000_0000 | (w4 & 0xFFFF) << 16 | (w4 >> 16) & 0xFFFF)
        return r
    }

    /// One name for both directions: the smaller of the key and its reverse (in the
    /// order of their words; no allocation, so a per-packet table can use it).
    @inlinable public var canonical: BypassKey {
        let r = reversed
        let a = words, b = r.words
        return (b.0, b.1, b.2, b.3, b.4) < (a.0, a.1, a.2, a.3, a.4) ? r : self
    }

    /// 4 or 6.
    public var version: UInt8 { UInt8(truncatingIfNeeded: words.4 >> 40) }
    /// The IP protocol number.
    public var proto: UInt8 { UInt8(truncatingIfNeeded: words.4 >> 32) }
    /// Ports (0 for protocols without them) and the outer VLAN id, host order.
    public var sourcePort: UInt16 { UInt16(truncatingIfNeeded: words.4).byteSwapped }
    public var destinationPort: UInt16 { UInt16(truncatingIfNeeded: words.4 >> 16).byteSwapped }
    public var vlan: UInt16 { UInt16(truncatingIfNeeded: words.4 >> 48).byteSwapped }

    public static func == (a: BypassKey, b: BypassKey) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2
            && a.words.3 == b.words.3 && a.words.4 == b.words.4
    }

    public func hash(into h: inout Hasher) {
        h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3); h.combine(words.4)
    }

    /// A mixing hash for fixed tables on the hot path (not Swift's seeded `Hasher`).
    @inlinable public var hash64: UInt64 {
        var h = words.0 &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ words.1) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ words.2) &* 0x94D0_49BB_1331_11EB
        h = (h ^ words.3) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ words.4) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }

    public var description: String {
        let b = withUnsafeBytes(of: words) { Array($0) }
        func address(_ o: Int) -> String {
            if version == 4 { return "\(b[o]).\(b[o + 1]).\(b[o + 2]).\(b[o + 3])" }
            let groups = stride(from: o, to: o + 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
            return "[" + groups.joined(separator: ":") + "]"
        }
        let p = switch proto { case 6: "tcp"; case 17: "udp"; case 132: "sctp"; case 1: "icmp"; case 58: "icmp6"; default: "ip\(proto)" }
        let tag = vlan == 0 ? "" : " vlan \(vlan)"
        return "\(p) \(address(0)):\(sourcePort) > \(address(16)):\(destinationPort)\(tag)"
    }
}
