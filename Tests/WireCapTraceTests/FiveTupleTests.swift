import Testing
import WireCapTrace

@Suite struct FiveTupleTests {
    let v4 = FiveTuple(version: 4, proto: 6, source: IPAddress("131.225.2.1")!, destination: IPAddress("8.8.8.8")!,
                       sourcePort: 40000, destinationPort: 443)
    let v6 = FiveTuple(version: 6, proto: 17, source: IPAddress("2001:db8::1")!, destination: IPAddress("2001:db8::2")!,
                       sourcePort: 1000, destinationPort: 2000)

    @Test func ethernetVLANAndRawAndCooked() {
        for tuple in [v4, v6] {
            let eth = FrameBuilder.frame(for: tuple, length: 100)
            #expect(eth.withUnsafeBytes { FiveTuple.extract(linkType: 1, frame: $0) } == tuple)
            var tagged = eth
            tagged.insert(contentsOf: [0x88, 0xA8, 0, 1, 0x81, 0x00, 0, 2], at: 12)
            #expect(tagged.withUnsafeBytes { FiveTuple.extract(linkType: 1, frame: $0) } == tuple)
            let ip = Array(eth[14...])
            #expect(ip.withUnsafeBytes { FiveTuple.extract(linkType: 101, frame: $0) } == tuple)
            var sll = [UInt8](repeating: 0, count: 16) + ip
            sll[14] = eth[12]; sll[15] = eth[13]
            #expect(sll.withUnsafeBytes { FiveTuple.extract(linkType: 113, frame: $0) } == tuple)
            var sll2 = [UInt8](repeating: 0, count: 20) + ip
            sll2[0] = eth[12]; sll2[1] = eth[13]
            #expect(sll2.withUnsafeBytes { FiveTuple.extract(linkType: 276, frame: $0) } == tuple)
        }
    }

    @Test func truncatedHeadersNeverCrash() {
        let eth = FrameBuilder.frame(for: v6, length: 100)
        for cut in 0..<eth.count {
            _ = Array(eth[0..<cut]).withUnsafeBytes { FiveTuple.extract(linkType: 1, frame: $0) }
        }
    }

    @Test func fragmentsHaveNoPorts() {
        var eth = FrameBuilder.frame(for: v4, length: 100)
        eth[20] = 0x00; eth[21] = 0x10  // fragment offset 16
        let t = eth.withUnsafeBytes { FiveTuple.extract(linkType: 1, frame: $0) }
        #expect(t?.hasPorts == false)
        #expect(t?.source == v4.source)
    }
}
