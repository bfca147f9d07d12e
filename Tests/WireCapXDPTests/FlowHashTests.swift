#if canImport(Glibc)
import Glibc
#endif
import Testing
import WireCapEngine

/// The capture thread's symmetric flow hash (issue 15): both directions agree,
/// flows differ, and every rule for VLANs, IPv6, fragments, non-IP and frames
/// cut short holds, with no read beyond the frame (a guard page proves it).
@Suite("Flow hash")
struct FlowHashTests {
    // MARK: Frames

    /// An Ethernet frame with `tags` VLAN tags (outer 0x88a8 when two) carrying `type`.
    static func ethernet(type: UInt16, tags: [UInt16] = [], outer: UInt16 = 0x8100) -> [UInt8] {
        var f = [UInt8](repeating: 0xAA, count: 12)
        for (k, id) in tags.enumerated() {
            let tpid = k == 0 ? outer : 0x8100
            f += [UInt8(tpid >> 8), UInt8(tpid & 0xFF), UInt8(id >> 8), UInt8(id & 0xFF)]
        }
        f += [UInt8(type >> 8), UInt8(type & 0xFF)]
        return f
    }

    /// IPv4 from `src`:`sp` to `dst`:`dp` (`proto`), `fragment` the flags/offset field, `payload` bytes after the ports.
    static func ipv4(_ src: UInt32, _ dst: UInt32, proto: UInt8 = 17, sp: UInt16 = 0, dp: UInt16 = 0,
                     fragment: UInt16 = 0x4000, tags: [UInt16] = [], outer: UInt16 = 0x8100, payload: Int = 20,
                     id: UInt16 = 7) -> [UInt8] {
        var f = ethernet(type: 0x0800, tags: tags, outer: outer)
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45
        ip[4] = UInt8(id >> 8); ip[5] = UInt8(id & 0xFF)
        ip[6] = UInt8(fragment >> 8); ip[7] = UInt8(fragment & 0xFF)
        ip[8] = 64; ip[9] = proto
        for k in 0..<4 { ip[12 + k] = UInt8(truncatingIfNeeded: src >> (24 - 8 * k)); ip[16 + k] = UInt8(truncatingIfNeeded: dst >> (24 - 8 * k)) }
        f += ip
        f += [UInt8(sp >> 8), UInt8(sp & 0xFF), UInt8(dp >> 8), UInt8(dp & 0xFF)]
        f += (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        return f
    }

    /// IPv6 from `src` to `dst` (16 bytes each), next header `next`, ports after the fixed header.
    static func ipv6(_ src: [UInt8], _ dst: [UInt8], next: UInt8 = 6, sp: UInt16 = 0, dp: UInt16 = 0,
                     tags: [UInt16] = [], payload: Int = 20) -> [UInt8] {
        var f = ethernet(type: 0x86DD, tags: tags)
        var ip = [UInt8](repeating: 0, count: 8)
        ip[0] = 0x60; ip[6] = next; ip[7] = 64
        f += ip + src + dst
        f += [UInt8(sp >> 8), UInt8(sp & 0xFF), UInt8(dp >> 8), UInt8(dp & 0xFF)]
        f += (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 17) }
        return f
    }

    static func v6(_ high: UInt64, _ low: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    /// The hash of the first `length` bytes of `frame`, read from memory that ends
    /// exactly there: the next page is PROT_NONE, so a read beyond `length` faults.
    static func guarded(_ frame: [UInt8], length: Int? = nil) -> UInt32 {
        let n = length ?? frame.count
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let map = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        precondition(map != MAP_FAILED)
        defer { munmap(map, 2 * page) }
        precondition(mprotect(map + page, page, PROT_NONE) == 0)
        let start = map + page - n
        frame.withUnsafeBytes { if n > 0 { start.copyMemory(from: $0.baseAddress!, byteCount: n) } }
        return FlowHash.hash(UnsafeRawPointer(start), length: n)
    }

    static func hash(_ frame: [UInt8]) -> UInt32 { frame.withUnsafeBytes { FlowHash.hash($0) } }

    // MARK: Symmetry

    @Test("both directions of a flow hash alike: IPv4 TCP/UDP/SCTP/ICMP, IPv6, VLAN-tagged, fragments")
    func symmetric() {
        let a: UInt32 = 0x0A02_0001, b: UInt32 = 0x0A01_0001
        for proto: UInt8 in [6, 17, 132, 1, 47] {
            #expect(Self.hash(Self.ipv4(a, b, proto: proto, sp: 10000, dp: 9)) == Self.hash(Self.ipv4(b, a, proto: proto, sp: 9, dp: 10000)),
                    "proto \(proto)")
        }
        // Same address both ways (a host talking to itself): ports decide, still symmetric.
        #expect(Self.hash(Self.ipv4(a, a, sp: 1, dp: 2)) == Self.hash(Self.ipv4(a, a, sp: 2, dp: 1)))
        #expect(Self.hash(Self.ipv4(a, b, sp: 5, dp: 6, tags: [42])) == Self.hash(Self.ipv4(b, a, sp: 6, dp: 5, tags: [42])))
        #expect(Self.hash(Self.ipv4(a, b, sp: 5, dp: 6, tags: [1, 2], outer: 0x88A8))
                == Self.hash(Self.ipv4(b, a, sp: 6, dp: 5, tags: [1, 2], outer: 0x88A8)))
        #expect(Self.hash(Self.ipv4(a, b, sp: 5, dp: 6, fragment: 0x2000)) == Self.hash(Self.ipv4(b, a, sp: 7, dp: 8, fragment: 0x0010)))
        let x = Self.v6(0x2001_0DB8_0000_0001, 0x1), y = Self.v6(0x2001_0DB8_0000_0002, 0xFFFF_0000_0000_0002)
        for next: UInt8 in [6, 17, 132, 58, 0, 44] {
            #expect(Self.hash(Self.ipv6(x, y, next: next, sp: 443, dp: 50000)) == Self.hash(Self.ipv6(y, x, next: next, sp: 50000, dp: 443)),
                    "next header \(next)")
        }
        #expect(Self.hash(Self.ipv6(x, y, sp: 1, dp: 2, tags: [9])) == Self.hash(Self.ipv6(y, x, sp: 2, dp: 1, tags: [9])))
    }

    @Test("a flow's packets agree whatever their payload, size, IP id, TTL or VLAN tags")
    func flowInvariant() {
        let a: UInt32 = 0xC0A8_0001, b: UInt32 = 0x0808_0808
        let base = Self.hash(Self.ipv4(a, b, proto: 6, sp: 40000, dp: 443))
        #expect(Self.hash(Self.ipv4(a, b, proto: 6, sp: 40000, dp: 443, payload: 1400, id: 999)) == base)
        var ttl = Self.ipv4(a, b, proto: 6, sp: 40000, dp: 443)
        ttl[22] = 3
        #expect(Self.hash(ttl) == base)
        // Tags are skipped and their ids not hashed: a flow seen tagged and untagged is one flow.
        #expect(Self.hash(Self.ipv4(a, b, proto: 6, sp: 40000, dp: 443, tags: [100])) == base)
        #expect(Self.hash(Self.ipv4(a, b, proto: 6, sp: 40000, dp: 443, tags: [100, 200], outer: 0x88A8)) == base)
        #expect(Self.hash(Self.ipv4(a, b, proto: 6, sp: 40000, dp: 443, tags: [100, 200])) == base)
    }

    // MARK: Separation

    @Test("different flows differ: each field counts, and the generator's 65,536 flows spread evenly over 1,024 buckets")
    func separates() {
        let a: UInt32 = 0x0A02_0001, b: UInt32 = 0x0A01_0001
        let base = Self.hash(Self.ipv4(a, b, proto: 17, sp: 10000, dp: 9))
        #expect(Self.hash(Self.ipv4(a + 1, b, proto: 17, sp: 10000, dp: 9)) != base)
        #expect(Self.hash(Self.ipv4(a, b + 1, proto: 17, sp: 10000, dp: 9)) != base)
        #expect(Self.hash(Self.ipv4(a, b, proto: 17, sp: 10001, dp: 9)) != base)
        #expect(Self.hash(Self.ipv4(a, b, proto: 17, sp: 10000, dp: 10)) != base)
        #expect(Self.hash(Self.ipv4(a, b, proto: 6, sp: 10000, dp: 9)) != base)
        // Swapping one port only is another flow (a:10000 → b:9 vs a:9 → b:10000).
        #expect(Self.hash(Self.ipv4(a, b, proto: 17, sp: 9, dp: 10000)) != base)
        // The generator's flows (source 10.2.x.y:10000+k → 10.1.0.1:9), every one distinct.
        var seen = Set<UInt32>()
        var buckets = [Int](repeating: 0, count: 1024)
        for k in 0..<65_536 {
            let h = Self.hash(Self.ipv4(0x0A02_0000 + UInt32(k), 0x0A01_0001, sp: UInt16(10000 + k % 50000), dp: 9))
            seen.insert(h)
            buckets[Int(h & 1023)] += 1
        }
        #expect(seen.count >= 65_536 - 2, "at most a couple of 32-bit collisions among 65,536 flows, got \(65_536 - seen.count)")
        // 64 flows per bucket on average; a uniform hash keeps every bucket within ±50 %.
        #expect(buckets.min()! >= 32 && buckets.max()! <= 96, "bucket loads \(buckets.min()!)...\(buckets.max()!)")
        // IPv6: hosts of one prefix differing in the low half, and in the high half.
        var v6 = Set<UInt32>()
        for k in 0..<4096 {
            v6.insert(Self.hash(Self.ipv6(Self.v6(0x2001_0DB8_0000_0000, UInt64(k)), Self.v6(0x2001_0DB8_0000_0000, 0xFFFF), sp: 1, dp: 2)))
            v6.insert(Self.hash(Self.ipv6(Self.v6(0x2001_0DB8_0000_0000 + UInt64(k) << 16, 1), Self.v6(0x2001_0DB8_0000_0000, 0xFFFF), sp: 1, dp: 2)))
        }
        #expect(v6.count >= 8192 - 1)
        // (host 1, port 2) and (host 2, port 1) toward one peer are two flows.
        let peer = Self.v6(0x2001_0DB8_0000_0000, 0xFFFF)
        #expect(Self.hash(Self.ipv6(Self.v6(0x2001_0DB8_0000_0000, 1), peer, sp: 2, dp: 80))
                != Self.hash(Self.ipv6(Self.v6(0x2001_0DB8_0000_0000, 2), peer, sp: 1, dp: 80)))
        // IPv4 and IPv6, and IP and non-IP, never meet by construction of the tags.
        #expect(Self.hash(Self.ipv4(a, b, proto: 17, sp: 1, dp: 2)) != Self.hash(Self.ipv6(Self.v6(0, UInt64(a)), Self.v6(0, UInt64(b)), next: 17, sp: 1, dp: 2)))
    }

    // MARK: Rules

    @Test("IPv4 fragments: every fragment of a datagram (the first included) hashes without ports; DF alone is no fragment")
    func fragments() {
        let a: UInt32 = 0x0A00_0001, b: UInt32 = 0x0A00_0002
        let portless = Self.hash(Self.ipv4(a, b, sp: 0, dp: 0))
        let first = Self.hash(Self.ipv4(a, b, sp: 53, dp: 40000, fragment: 0x2000))          // MF, offset 0
        let middle = Self.hash(Self.ipv4(a, b, sp: 0x1234, dp: 0x5678, fragment: 0x20B9))    // MF, offset 185
        let last = Self.hash(Self.ipv4(a, b, sp: 0xDEAD, dp: 0xBEEF, fragment: 0x0172))      // offset only
        #expect(first == portless && middle == portless && last == portless)
        #expect(Self.hash(Self.ipv4(a, b, sp: 53, dp: 40000, fragment: 0x4000)) != portless, "DF: a whole datagram, ports count")
        #expect(Self.hash(Self.ipv4(a, b, sp: 53, dp: 40000, fragment: 0x0000)) == Self.hash(Self.ipv4(a, b, sp: 53, dp: 40000, fragment: 0x4000)))
    }

    @Test("IPv6: ports only for TCP/UDP/SCTP right after the fixed header; extension headers and fragments hash without them")
    func ipv6Rules() {
        let x = Self.v6(0xFD00_0000_0000_0000, 1), y = Self.v6(0xFD00_0000_0000_0000, 2)
        #expect(Self.hash(Self.ipv6(x, y, next: 17, sp: 1, dp: 2)) != Self.hash(Self.ipv6(x, y, next: 17, sp: 1, dp: 3)))
        for next: UInt8 in [0, 43, 44, 60, 58] {
            #expect(Self.hash(Self.ipv6(x, y, next: next, sp: 1, dp: 2)) == Self.hash(Self.ipv6(x, y, next: next, sp: 7, dp: 9)),
                    "next header \(next): no ports")
        }
        #expect(Self.hash(Self.ipv6(x, y, next: 44)) != Self.hash(Self.ipv6(x, y, next: 0)), "the next header is hashed")
        // A wrong version under 0x86DD is not IPv6: the EtherType alone.
        var bad = Self.ipv6(x, y, sp: 1, dp: 2)
        bad[14] = 0x40
        #expect(Self.hash(bad) == Self.hash(Self.ethernet(type: 0x86DD)))
    }

    @Test("non-IP frames hash by their EtherType: all ARP alike, other types apart; a third VLAN tag is its type")
    func nonIP() {
        var arp1 = Self.ethernet(type: 0x0806) + [UInt8](repeating: 1, count: 28)
        let arp2 = Self.ethernet(type: 0x0806) + (0..<46).map { UInt8($0) }
        arp1[0] = 0xFF
        #expect(Self.hash(arp1) == Self.hash(arp2))
        #expect(Self.hash(Self.ethernet(type: 0x0806, tags: [5]) + [UInt8](repeating: 2, count: 28)) == Self.hash(arp2), "tagged ARP too")
        #expect(Self.hash(arp1) != Self.hash(Self.ethernet(type: 0x88CC) + [UInt8](repeating: 1, count: 28)))
        #expect(Self.hash(Self.ethernet(type: 0x88CC)) != Self.hash(Self.ethernet(type: 0x8847)))
        // Three tags: the third tag's TPID is the type.
        let triple = Self.ethernet(type: 0x8100, tags: [1, 2], outer: 0x88A8) + [0, 3, 0x08, 0x00] + [UInt8](repeating: 0x45, count: 40)
        #expect(Self.hash(triple) == Self.hash(Self.ethernet(type: 0x8100)))
        // A bad IHL or version under 0x0800: the EtherType alone.
        var ihl = Self.ipv4(1, 2, sp: 3, dp: 4)
        ihl[14] = 0x44
        var version = Self.ipv4(1, 2, sp: 3, dp: 4)
        version[14] = 0x65
        #expect(Self.hash(ihl) == Self.hash(Self.ethernet(type: 0x0800)) && Self.hash(version) == Self.hash(Self.ethernet(type: 0x0800)))
    }

    @Test("cut short at every length: no read beyond the frame, and each cut hashes by the rule for what is left")
    func truncated() {
        let frames = [
            Self.ipv4(0x0A00_0001, 0x0A00_0002, proto: 6, sp: 1000, dp: 80, tags: [7, 8], outer: 0x88A8, payload: 0),
            Self.ipv6(Self.v6(1, 2), Self.v6(3, 4), next: 17, sp: 5, dp: 6, tags: [3], payload: 0),
            Self.ethernet(type: 0x0806) + [UInt8](repeating: 9, count: 28),
        ]
        for frame in frames {
            for n in 0...frame.count {
                _ = Self.guarded(frame, length: n)   // faults on a read beyond n
            }
            #expect(Self.guarded(frame) == Self.hash(frame))
        }
        let empty = Self.guarded([], length: 0)
        #expect((1..<14).allSatisfy { Self.guarded(frames[0], length: $0) == empty }, "shorter than Ethernet: EtherType 0")
        // IPv4 (two tags, L3 at 22, L4 at 42): cut in the tags, in the IP header, in the ports, then whole.
        let v4 = frames[0]
        #expect(Self.guarded(v4, length: 17) == Self.hash(Self.ethernet(type: 0x88A8)), "cut in the outer tag: its type")
        #expect(Self.guarded(v4, length: 21) == Self.hash(Self.ethernet(type: 0x8100)), "cut in the inner tag: its type")
        #expect((22..<42).allSatisfy { Self.guarded(v4, length: $0) == Self.hash(Self.ethernet(type: 0x0800)) }, "cut in the IP header")
        let noPorts = Self.hash(Self.ipv4(0x0A00_0001, 0x0A00_0002, proto: 6, sp: 0, dp: 0))
        #expect((42..<46).allSatisfy { Self.guarded(v4, length: $0) == noPorts }, "cut in the ports: addresses and protocol")
        #expect(Self.guarded(v4, length: 46) == Self.hash(Self.ipv4(0x0A00_0001, 0x0A00_0002, proto: 6, sp: 1000, dp: 80)))
        // IPv6 (one tag, L3 at 18, L4 at 58).
        let v6 = frames[1]
        #expect((18..<58).allSatisfy { Self.guarded(v6, length: $0) == Self.hash(Self.ethernet(type: 0x86DD)) })
        #expect((58..<62).allSatisfy { Self.guarded(v6, length: $0) == Self.hash(Self.ipv6(Self.v6(1, 2), Self.v6(3, 4), next: 17)) })
        #expect(Self.guarded(v6, length: 62) == Self.hash(Self.ipv6(Self.v6(1, 2), Self.v6(3, 4), next: 17, sp: 5, dp: 6)))
    }
}
