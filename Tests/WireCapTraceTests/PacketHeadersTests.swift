import Testing
import WireCapTrace

/// The one header parser: every link layer, VLAN stacks, IPv6 extension headers
/// and fragments; every truncation of every frame is safe and never claims more
/// than the bytes hold.
@Suite struct PacketHeadersTests {
    static let v4 = FiveTuple(version: 4, proto: 17, source: IPAddress("10.1.2.3")!, destination: IPAddress("131.225.2.9")!,
                              sourcePort: 4000, destinationPort: 53)
    static let v6 = FiveTuple(version: 6, proto: 6, source: IPAddress("2001:db8::1")!, destination: IPAddress("2001:db8::2")!,
                              sourcePort: 443, destinationPort: 51000)

    static func ip(_ tuple: FiveTuple) -> [UInt8] { Array(FrameBuilder.frame(for: tuple, length: 100)[14...]) }

    /// The same IP packet behind every link layer the readers accept.
    static func framings(_ tuple: FiveTuple) -> [(UInt32, [UInt8], Int)] {
        let eth = FrameBuilder.frame(for: tuple, length: 100)
        let ip = ip(tuple)
        let type: [UInt8] = tuple.version == 4 ? [0x08, 0x00] : [0x86, 0xDD]
        var qinq = Array(eth[0..<12]) + [0x88, 0xA8, 0x00, 0x07, 0x81, 0x00, 0x00, 0x64] + Array(eth[12...])
        qinq[14] = 0x00
        return [
            (1, eth, 14),
            (1, qinq, 22),
            (113, [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + type + ip, 16),
            (276, type + [0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip, 20),
            (101, ip, 0), (228 + UInt32(tuple.version == 6 ? 1 : 0), ip, 0),
        ]
    }

    @Test(arguments: [v4, v6])
    func everyLinkLayerGivesTheSameHeaders(_ tuple: FiveTuple) throws {
        for (linkType, frame, offset) in Self.framings(tuple) {
            let h = try #require(frame.withUnsafeBytes { PacketHeaders.parse($0, linkType: linkType) }, "link type \(linkType)")
            #expect(h.networkOffset == offset, "link type \(linkType)")
            #expect(h.version == tuple.version && h.proto == tuple.proto && h.hasPorts)
            #expect(h.sourcePort == tuple.sourcePort && h.destinationPort == tuple.destinationPort)
            #expect(h.sourceLow == tuple.source.low && h.destinationLow == tuple.destination.low)
            #expect(frame.withUnsafeBytes { FiveTuple.extract(linkType: linkType, frame: $0) } == tuple, "link type \(linkType)")
            if offset == 22 { #expect(h.vlan == 7, "the outer tag's id") }
        }
    }

    @Test("IPv6 extension headers are walked to the transport header; a later fragment has no ports")
    func ipv6ExtensionsAndFragments() throws {
        var ip = Self.ip(Self.v6)
        let transport = Array(ip[40...])
        // hop-by-hop (8 bytes) → fragment (8 bytes, offset 0, id 0xABCD1234) → TCP
        let hop: [UInt8] = [44, 0, 0, 0, 0, 0, 0, 0]
        let first: [UInt8] = [6, 0, 0x00, 0x01, 0xAB, 0xCD, 0x12, 0x34]
        ip[6] = 0
        let firstFragment = Array(ip[0..<40]) + hop + first + transport
        let h = try #require(firstFragment.withUnsafeBytes { PacketHeaders.parse($0, linkType: 101) })
        #expect(h.proto == 6 && h.hasPorts && h.sourcePort == 443)
        #expect(h.fragment == PacketHeaders.Fragment(id: 0xABCD_1234, isFirst: true))
        var later = firstFragment
        later[48 + 2] = 0x05; later[48 + 3] = 0xA8   // offset 181·8, M=0
        let t = try #require(later.withUnsafeBytes { PacketHeaders.parse($0, linkType: 101) })
        #expect(t.proto == 6 && !t.hasPorts && t.sourcePort == 0)
        #expect(t.fragment == PacketHeaders.Fragment(id: 0xABCD_1234, isFirst: false))
    }

    @Test("IPv4 fragments: the first keeps its ports (flows), RSS's 5-tuple drops them for every fragment")
    func ipv4Fragments() throws {
        var eth = FrameBuilder.frame(for: Self.v4, length: 100)
        eth[20] = 0x20   // MF, offset 0
        eth[18] = 0x12; eth[19] = 0x34
        let h = try #require(eth.withUnsafeBytes { PacketHeaders.parse($0, linkType: 1) })
        #expect(h.hasPorts && h.fragment == PacketHeaders.Fragment(id: 0x1234, isFirst: true))
        #expect(eth.withUnsafeBytes { FiveTuple.extract(linkType: 1, frame: $0) }?.hasPorts == false)
        eth[20] = 0x00; eth[21] = 0x10   // offset 16·8, last fragment
        let later = try #require(eth.withUnsafeBytes { PacketHeaders.parse($0, linkType: 1) })
        #expect(!later.hasPorts && later.fragment == PacketHeaders.Fragment(id: 0x1234, isFirst: false))
    }

    @Test("every truncation of every framing is safe and claims no header it does not hold")
    func everyTruncation() {
        for tuple in [Self.v4, Self.v6] {
            for (linkType, frame, offset) in Self.framings(tuple) {
                let ipHeader = tuple.version == 4 ? 20 : 40
                for n in 0...frame.count {
                    let h = Array(frame[0..<n]).withUnsafeBytes { PacketHeaders.parse($0, linkType: linkType) }
                    if n < offset || (linkType != 1 && linkType != 113 && linkType != 276 && n == 0) {
                        #expect(h == nil, "link type \(linkType), \(n) bytes")
                        continue
                    }
                    guard let h else { Issue.record("link type \(linkType), \(n) bytes: nil"); continue }
                    #expect(h.version == (n >= offset + ipHeader ? tuple.version : 0), "link type \(linkType), \(n) bytes")
                    #expect(h.hasPorts == (n >= offset + ipHeader + 4), "link type \(linkType), \(n) bytes")
                }
            }
        }
    }

    @Test func unknownLinkTypesAndNonIPAreNotGuessed() {
        let arp = [UInt8](repeating: 0, count: 12) + [0x08, 0x06] + [UInt8](repeating: 0, count: 28)
        let h = arp.withUnsafeBytes { PacketHeaders.parse($0, linkType: 1) }
        #expect(h?.etherType == 0x0806 && h?.version == 0)
        #expect(arp.withUnsafeBytes { PacketHeaders.parse($0, linkType: 147) } == nil)
        #expect([0x50, 1, 2].withUnsafeBytes { PacketHeaders.parse($0, linkType: 101) }?.etherType == 0)
    }
}
