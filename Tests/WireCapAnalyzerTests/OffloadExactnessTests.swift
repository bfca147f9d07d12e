import Testing
import WireCap
import WireCapAnalyzer

func udpFrame(flow: Int, vlan: UInt16? = nil, size: Int = 80) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: size)
    var o = 12
    if let vlan { f[12] = 0x81; f[13] = 0; f[14] = UInt8(vlan >> 8); f[15] = UInt8(vlan & 0xFF); o = 16 }
    f[o] = 0x08; f[o + 1] = 0
    let ip = o + 2
    f[ip] = 0x45; f[ip + 9] = 17
    f[ip + 12] = 10; f[ip + 15] = 1; f[ip + 16] = 10; f[ip + 19] = 2
    f[ip + 20] = UInt8((1000 + flow) >> 8); f[ip + 21] = UInt8((1000 + flow) & 0xFF); f[ip + 23] = 9
    return f
}

@Suite("Analyzer exactness")
struct OffloadExactnessTests {
    @Test("advanced mode, 90/10 share, nothing consumed until the end: flows are split by offload, merged counts are exact")
    func exactUnderOffload() throws {
        let config = CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: 8, chunksPerPool: 64, fillRingSize: 32), mode: .advanced,
            offloadThresholdPercent: 5, partialTimeoutNanoseconds: 1_000_000)
        let capture = try SyntheticCapture(queues: 2, configuration: config, readTimeoutNanoseconds: 1_000_000)
        var expected: [FlowKey: FlowCounts] = [:]
        var sent = 0
        for i in 0..<400 {
            let q = i % 10 == 0 ? 1 : 0                       // 90 % on queue 0
            let flow = i % 7
            let frame = udpFrame(flow: flow, vlan: flow == 3 ? 42 : nil, size: 64 + flow)
            #expect(capture.receive(queue: q, packet: frame, timestamp: UInt64(i) * 1000))
            let key = frame.withUnsafeBytes { FlowKey.parse($0)! }
            expected[key, default: FlowCounts()].packets += 1
            expected[key, default: FlowCounts()].bytes += UInt64(frame.count)
            sent += 1
        }
        capture.finish()
        let offloaded = capture.group.statistics(queue: 0).offloadedOut
        #expect(offloaded > 0, "the scenario must offload")
        let analyzer = BuiltinAnalyzers(counters: TrafficCounters(), ipv4: IPv4Counter(), topFlows: TopFlows(limit: 3), load: PacketHandlerLoad(runs: 2))
        let runner = AnalyzerRunner(analyzer: analyzer, handles: capture.handles)
        try runner.start()
        let merged = runner.wait()
        #expect(merged.counters!.packets == UInt64(sent))
        #expect(merged.counters!.offloaded > 0, "some packets were processed by the other worker")
        // VLAN-tagged frames carry 0x8100 at bytes 12-13: the byte-12/13 counter and
        // `udp and dst port 9` do not see them as IPv4.
        let tagged = UInt64(expected.filter { $0.key.vlan != 0 }.reduce(0) { $0 + $1.value.packets })
        #expect(merged.ipv4!.ipv4 == UInt64(sent) - tagged)
        #expect(merged.topFlows!.table.dictionary == expected)
        #expect(merged.load!.matches == 2 * (UInt64(sent) - tagged))
        #expect(expected.keys.contains { $0.vlan == 42 })
    }

    @Test("flow table merge is exact, including overflow")
    func tableMerge() {
        let a = FlowTable(capacity: 4), b = FlowTable(capacity: 4)
        var k = FlowKey(); k.version = 4; k.proto = 17
        for i in 0..<10 {
            k.sourcePort = UInt16(i)
            (i % 2 == 0 ? a : b).add(k, bytes: 100)
            a.add(k, bytes: 1)
        }
        a.merge(b)
        #expect(a.total == FlowCounts(packets: 20, bytes: 1010))
    }

    @Test("IPv6 and VLAN keys parse; non-IP is nil")
    func parse() {
        var f = [UInt8](repeating: 0, count: 80)
        f[12] = 0x86; f[13] = 0xDD; f[14] = 0x60; f[20] = 6; f[22 + 15] = 1; f[38 + 15] = 2
        f[54] = 0x01; f[55] = 0xBB; f[56] = 0x30; f[57] = 0x39
        let k = f.withUnsafeBytes { FlowKey.parse($0) }
        #expect(k?.version == 6 && k?.proto == 6 && k?.sourcePort == 443 && k?.destinationPort == 12345 && k?.sourceLow == 1)
        var arp = [UInt8](repeating: 0, count: 60); arp[12] = 8; arp[13] = 6
        #expect(arp.withUnsafeBytes { FlowKey.parse($0) } == nil)
    }
}
