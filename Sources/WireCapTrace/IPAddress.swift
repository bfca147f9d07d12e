/// An IPv4 or IPv6 address as 128 bits (IPv4 in the low 32 bits of `low`).
@frozen
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// Bits 127...64 (zero for IPv4).
    public var high: UInt64
    /// Bits 63...0; an IPv4 address is `UInt64(v4)`.
    public var low: UInt64

    /// An IPv4 address from its octets as a big-endian number (`0x83E10201` is 131.225.2.1).
    public init(v4: UInt32) { high = 0; low = UInt64(v4) }
    /// An IPv6 address from its two big-endian halves.
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    /// The IPv4 value (the low 32 bits).
    public var v4: UInt32 { UInt32(truncatingIfNeeded: low) }

    /// Parses dotted-quad IPv4 (`131.225.2.1`) or IPv6 (`3ffe:2501:200:3::1`) text.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let g = IPAddress.parseV6(text) else { return nil }
            var h: UInt64 = 0, l: UInt64 = 0
            for i in 0..<4 { h = h << 16 | UInt64(g[i]) }
            for i in 4..<8 { l = l << 16 | UInt64(g[i]) }
            self.init(high: h, low: l)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var v: UInt32 = 0
            for p in parts {
                guard let octet = UInt8(p) else { return nil }
                v = v << 8 | UInt32(octet)
            }
            self.init(v4: v)
        }
    }

    private static func parseV6(_ text: String) -> [UInt16]? {
        var halves: [Substring] = []
        var rest = text[...]
        while let r = rest.firstRange(of: "::") {
            halves.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        halves.append(rest)
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard halves.count <= 2, let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 8 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
        return head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
    }

    /// Eight hex groups (no `::` compression); use ``FiveTuple`` to know the family.
    public var description: String {
        let groups = (0..<4).map { String(high >> (48 - 16 * UInt64($0)) & 0xFFFF, radix: 16) }
            + (0..<4).map { String(low >> (48 - 16 * UInt64($0)) & 0xFFFF, radix: 16) }
        return groups.joined(separator: ":")
    }

    /// Dotted-quad text of the low 32 bits.
    public var v4Description: String {
        "\(low >> 24 & 255).\(low >> 16 & 255).\(low >> 8 & 255).\(low & 255)"
    }
}
