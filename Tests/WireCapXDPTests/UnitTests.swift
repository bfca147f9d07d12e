import Testing
import WireCapXDP
#if canImport(Glibc)
import Glibc
#endif
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession
import WireCapFilter

/// Pure tests (no root): packet format, BPF cost program, list parsing.
@Suite("WireCapXDP pure helpers")
struct UnitTests {
    @Test("test packets round-trip and detect corruption of any byte", arguments: [64, 65, 71, 128, 1514])
    func packetRoundTrip(size: Int) throws {
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 2048)
        defer { frame.deallocate() }
        let header = TestPacket.header(flow: 3, size: size)
        header.withUnsafeBytes { h in
            TestPacket.write(into: frame, size: size, header: h.baseAddress!, queue: 1, flow: 3, sequence: 123_456_789)
        }
        let bytes = UnsafeRawBufferPointer(start: frame, count: size)
        let f = try #require(TestPacket.parse(bytes))
        #expect(f.queue == 1 && f.flow == 3 && f.sequence == 123_456_789 && f.checksumValid)
        for i in stride(from: 0, to: size, by: 7) where !(58..<62).contains(i) {
            frame.storeBytes(of: frame.load(fromByteOffset: i, as: UInt8.self) ^ 0x10, toByteOffset: i, as: UInt8.self)
            if let g = TestPacket.parse(bytes) { #expect(!g.checksumValid || i >= 42 && i < 46 , "flip at \(i) undetected") }
            frame.storeBytes(of: frame.load(fromByteOffset: i, as: UInt8.self) ^ 0x10, toByteOffset: i, as: UInt8.self)
        }
    }

    @Test("the cost filter matches generator packets and rejects others")
    func costFilter() {
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 2048)
        defer { frame.deallocate() }
        TestPacket.header(flow: 0, size: 64).withUnsafeBytes { h in
            TestPacket.write(into: frame, size: 64, header: h.baseAddress!, queue: 0, flow: 0, sequence: 1)
        }
        let cost = ConsumerCost(runs: 5)
        #expect(cost.apply(UnsafeRawBufferPointer(start: frame, count: 64)) == 5)
        frame.storeBytes(of: UInt8(6), toByteOffset: 23, as: UInt8.self)   // TCP, not UDP
        #expect(cost.apply(UnsafeRawBufferPointer(start: frame, count: 64)) == 0)
        #expect(ConsumerCost(runs: 3).apply(UnsafeRawBufferPointer(start: frame, count: 10)) == 0)  // truncated
    }

    @Test("the cost filter is libpcap's program for `udp and dst port 9`, as the C baselines compile it")
    func costFilterIsLibpcaps() throws {
        let cost = ConsumerCost(runs: 1)
        let reference = try PacketFilter(expression: "udp and dst port 9", snapLength: 65_535)
        #expect(cost.filter.listing == reference.listing)
        #expect(cost.filter.listing.count > 4)
    }

    @Test("testbed interface names fit IFNAMSIZ")
    func interfaceNames() {
        let (c, g) = Testbed.interfaceNames(for: "a-very-long-testbed-name-indeed")
        #expect(c.count <= 15 && g.count <= 15 && c != g)
    }

    @Test("generator shares split the count exactly")
    func shares() {
        var g = GeneratorConfiguration(interface: "x", queues: [0, 1, 2], count: 1001)
        g.share = [0.9, 0.05, 0.05]
        let parts = (0..<3).map { g.packets(forQueueAt: $0) }
        #expect(parts.reduce(0, +) == 1001)
        #expect(parts[0] == 900)
    }

    @Test("an elephant takes its percentage of the queue's packets; the other flows share the rest evenly")
    func elephantFlows() throws {
        var perFlow = [Int](repeating: 0, count: 16)
        for seq in 0..<10_000 { perFlow[Sender.flow(of: seq, flows: 16, elephant: 75)] += 1 }
        #expect(perFlow[0] == 7_500)
        #expect(perFlow.dropFirst().allSatisfy { (166...167).contains($0) }, "\(perFlow)")
        #expect((0..<32).map { Sender.flow(of: $0, flows: 16, elephant: 0) } == (0..<32).map { $0 % 16 })
        #expect((0..<100).allSatisfy { Sender.flow(of: $0, flows: 16, elephant: 100) == 0 })
        var g = GeneratorConfiguration(interface: "x", queues: [0, 1], count: 10)
        g.elephantPercent = 101
        #expect(throws: XDPError.self) { try g.validate() }
        g.elephantPercent = 60
        g.flows = 1
        #expect(throws: XDPError.self) { try g.validate() }
        g.flows = 2
        try g.validate()
    }

    @Test("frame-size mixes: IMIX is 7:4:1 spread over its cycle, parsed forms, bytes, validation")
    func frameSizes() throws {
        let imix = FrameSizes.imix
        #expect(imix.pattern.count == 12)
        #expect(imix.pattern.filter { $0 == 64 }.count == 7)
        #expect(imix.pattern.filter { $0 == 576 }.count == 4)
        #expect(imix.pattern.filter { $0 == 1500 }.count == 1)
        #expect(imix.pattern.prefix(4) != [64, 64, 64, 64], "spread, not grouped: \(imix.pattern)")
        #expect(imix.size(of: 12) == imix.size(of: 0) && imix.size(of: 23) == imix.size(of: 11))
        #expect(FrameSizes.parse("IMIX") == imix)
        #expect(FrameSizes.parse("64:7,576:4,1500:1") == imix)
        #expect(FrameSizes.parse("128")?.pattern == [128])
        for bad in ["", "abc", "64:0", "64:", ":3", "64:7,,1500:1", "64:2000"] {
            #expect(FrameSizes.parse(bad) == nil, "\(bad)")
        }
        #expect(imix.bytes(packets: 12) == 7 * 64 + 4 * 576 + 1500)
        #expect(imix.bytes(packets: 25) == 2 * (7 * 64 + 4 * 576 + 1500) + imix.pattern[0])
        #expect(FrameSizes(fixed: 64).bytes(packets: 1000) == 64_000)
        var g = GeneratorConfiguration(interface: "x", queues: [0], count: 10)
        g.sizes = imix
        try g.validate()
        g.sizes = FrameSizes.parse("64:1,1515:1")!
        #expect(throws: XDPError.self) { try g.validate() }
    }
}
