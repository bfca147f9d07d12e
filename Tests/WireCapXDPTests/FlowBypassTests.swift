import Foundation
import Testing
import WireCapCore
import WireCapEngine
import WireCapSession
import WireCapSystem
import WireCapTestSupport
import WireCapTestbed
import WireCapTrace
import WireCapXDP

/// Flow bypass (issue 17): the XDP program's key against ``BypassKey``'s parser
/// on every corpus frame and hostile ones (`BPF_PROG_TEST_RUN`, root), deadlines,
/// idle times, renewal and ending, the consumers' cutoff, and a live capture whose
/// elephant is cut off, counted as bypassed and comes back when its bypass ends.
@Suite("Flow bypass", .serialized)
struct FlowBypassTests {
    static let bypassed: UInt32 = 1, notBypassed: UInt32 = 3  // XDP_DROP (the table's action), XDP_TX (the test program's)

    static func tuple(_ s: String, _ d: String, _ sp: UInt16, _ dp: UInt16, proto: UInt8 = 17) -> FiveTuple {
        FiveTuple(version: s.contains(":") ? 6 : 4, proto: proto, source: IPAddress(s)!, destination: IPAddress(d)!,
                  sourcePort: sp, destinationPort: dp)
    }

    /// Frames the corpus lacks: two and three VLAN tags, IPv4 options, fragments
    /// (first and later), IPv6 with a hop-by-hop header, SCTP, truncated headers.
    static func edgeFrames() -> [[UInt8]] {
        var out: [[UInt8]] = []
        let base = FrameBuilder.frame(for: tuple("10.9.0.1", "10.9.0.2", 4000, 9), length: 120)
        func tagged(_ f: [UInt8], _ tags: [UInt16]) -> [UInt8] {
            var g = f
            for (i, vid) in tags.enumerated().reversed() {
                g.insert(contentsOf: [i == 0 ? 0x88 : 0x81, i == 0 ? 0xA8 : 0x00, UInt8(vid >> 8), UInt8(vid & 0xFF)], at: 12)
            }
            return g
        }
        out.append(tagged(base, [7, 8]))
        out.append(tagged(base, [7, 8, 9]))
        // IPv4 with 4 bytes of options (IHL 6): the ports move 4 bytes on.
        var options = base
        options[14] = 0x46
        options.insert(contentsOf: [1, 1, 1, 0], at: 34)
        out.append(options)
        var first = base; first[20] = 0x20   // MF
        var later = base; later[21] = 0x10   // offset 16
        out.append(first); out.append(later)
        var v6 = FrameBuilder.frame(for: tuple("2001:db8::1", "2001:db8::2", 5000, 80, proto: 6), length: 120)
        out.append(v6)
        v6[20] = 0   // hop-by-hop first
        v6.insert(contentsOf: [6, 0, 1, 4, 0, 0, 0, 0], at: 54)
        out.append(v6)
        out.append(FrameBuilder.frame(for: tuple("10.9.0.3", "10.9.0.4", 36412, 36412, proto: 132), length: 80))
        // Cut short (BPF_PROG_TEST_RUN takes 14 bytes at least).
        for cut in [14, 15, 20, 33, 34, 35, 37] { out.append(Array(base.prefix(cut))) }
        return out
    }

    static func run(_ fd: Int32, _ frame: [UInt8]) throws -> UInt32 { try XDPLib.testRun(program: fd, packet: frame) }

    /// A TCP segment with FIN or RST (whose flags byte is there): never bypassed.
    static func endsTCP(_ frame: [UInt8]) -> Bool {
        frame.withUnsafeBytes { b in
            guard let h = PacketHeaders.parse(b, linkType: 1), h.proto == 6 else { return false }
            let l4 = h.networkOffset + (h.version == 4 ? Int(b[h.networkOffset] & 0x0F) * 4 : 40)
            return b.count > l4 + 13 && b[l4 + 13] & 0x05 != 0
        }
    }

    @Test("the program bypasses exactly the frames whose BypassKey is in the table: corpus, edge cases, random bytes",
          .enabled(if: Live.isRoot, Live.skipReason))
    func programMatchesTheParser() throws {
        let frames = FilterCorpus.frames() + Self.edgeFrames() + KernelFilterTests.randomFrames(600)
        let keys = frames.map { f in f.withUnsafeBytes { BypassKey(parsing: $0) } }
        let ends = frames.map(Self.endsTCP)
        #expect(ends.filter { $0 }.count > 20, "the corpus has FIN and RST segments")
        #expect(keys.compactMap { $0 }.count > 300, "most corpus frames have a key")
        #expect(keys[400] != nil && keys[401] == nil, "two tags are followed, three are not")
        #expect(keys[402]?.sourcePort == 4000, "ports after IPv4 options")
        #expect(keys[403] == nil && keys[404] == nil, "fragments are never bypassed")
        #expect(keys[405] != nil && keys[406] == nil, "IPv6 with an extension header is not bypassed")
        #expect(keys[407]?.proto == 132 && keys[407]?.destinationPort == 36412)
        let map = try FlowBypassMap(settings: FlowBypassSettings(capacity: 8192))
        let fd = try XDPLib.loadXDPProgram(name: "wirecap_btest", instructions: XSKRedirectProgram.bypassTestInstructions(map))
        defer { close(fd) }
        // An empty table bypasses nothing.
        for f in frames.prefix(50) { #expect(try Self.run(fd, f) == Self.notBypassed) }
        // Byte for byte: a table holding only the frame's key, one direction, as Swift
        // parses it: the program finds it (a hash map matches all 40 bytes).
        for (i, f) in frames.enumerated() {
            guard var key = keys[i] else { continue }
            var entry = FlowBypassMap.Entry()
            entry.lastSeen = Sys.monotonicNanoseconds()
            entry.idle = UInt64(Int64.max)
            _ = try XDPLib.updateElement(map.fd, key: &key, value: &entry)
            #expect(try Self.run(fd, f) == (ends[i] ? Self.notBypassed : Self.bypassed), "frame \(i): the program's key is not \(key)")
            XDPLib.deleteElement(map.fd, key: &key)
        }
        for key in Set(keys.compactMap { $0 }) { try map.bypass(key, for: nil, idle: .seconds(3600)) }
        var expectedPackets: UInt64 = 0, expectedBytes: UInt64 = 0
        for (i, f) in frames.enumerated() {
            let action = try Self.run(fd, f)
            let bypassable = keys[i] != nil && !ends[i]
            #expect(action == (bypassable ? Self.bypassed : Self.notBypassed), "frame \(i) (\(f.count) B): action \(action), key \(keys[i].map(String.init(describing:)) ?? "none")")
            if bypassable { expectedPackets += 1; expectedBytes += UInt64(f.count) }
        }
        let flows = map.flows()
        #expect(flows.reduce(0) { $0 + $1.packets } == expectedPackets)
        #expect(flows.reduce(0) { $0 + $1.bytes } == expectedBytes)
        #expect(flows.allSatisfy { $0.isActive })
        #expect(map.requests == Set(keys.compactMap { $0 }).count)
    }

    @Test("a bypass covers both directions, ends at its deadline, after its idle time or when ended, and a renewal keeps its counts",
          .enabled(if: Live.isRoot, Live.skipReason))
    func deadlinesIdleRenewalAndEnd() throws {
        let forward = FrameBuilder.frame(for: Self.tuple("10.7.0.1", "10.7.0.2", 1234, 80, proto: 6), length: 100)
        let backward = FrameBuilder.frame(for: Self.tuple("10.7.0.2", "10.7.0.1", 80, 1234, proto: 6), length: 300)
        let other = FrameBuilder.frame(for: Self.tuple("10.7.0.1", "10.7.0.2", 1235, 80, proto: 6), length: 100)
        let key = try #require(forward.withUnsafeBytes { BypassKey(parsing: $0) })
        #expect(key.reversed.reversed == key && key.canonical == key.reversed.canonical)
        let map = try FlowBypassMap(settings: FlowBypassSettings(capacity: 1024))
        let fd = try XDPLib.loadXDPProgram(name: "wirecap_btest", instructions: XSKRedirectProgram.bypassTestInstructions(map))
        defer { close(fd) }
        #expect(throws: XDPError.self) { try map.bypass(key, for: .milliseconds(-500), idle: nil) }
        #expect(throws: XDPError.self) { try map.bypass(key, for: nil, idle: .zero) }
        #expect(map.flows().isEmpty && map.requests == 0, "a refused request leaves nothing")

        try map.bypass(key, for: .seconds(3600), idle: .seconds(3600))
        #expect(try Self.run(fd, forward) == Self.bypassed)
        #expect(try Self.run(fd, backward) == Self.bypassed)
        #expect(try Self.run(fd, other) == Self.notBypassed)
        // TCP FIN or RST of a bypassed flow: captured, so the application sees the end.
        for flags: UInt8 in [0x11, 0x04, 0x14] {
            var end = forward
            end[47] = flags
            #expect(try Self.run(fd, end) == Self.notBypassed, "TCP flags 0x\(String(flags, radix: 16))")
        }
        try map.bypass(key, for: .seconds(3600), idle: .seconds(3600))   // renewed: counts kept
        #expect(try Self.run(fd, forward) == Self.bypassed)
        let flows = map.flows()
        #expect(flows.count == 1 && flows[0].packets == 3 && flows[0].bytes == 500 && flows[0].isActive)
        #expect(flows[0].key == key.canonical)

        map.end(key)
        #expect(try Self.run(fd, forward) == Self.notBypassed && map.flows().isEmpty)

        // A deadline 1 µs away: once the clock is past it (the kernel's clock is the same
        // CLOCK_MONOTONIC), the flow is captured again.
        try map.bypass(key, for: .microseconds(1), idle: .seconds(3600))
        let deadline = Sys.monotonicNanoseconds() + 1_000
        while Sys.monotonicNanoseconds() <= deadline {}
        #expect(try Self.run(fd, forward) == Self.notBypassed)
        #expect(map.flows().first?.isActive == false)

        // Idle 1 µs: the entry's last packet (its making) is older than that by the time a packet runs.
        try map.bypass(key, for: nil, idle: .microseconds(1))
        let idle = Sys.monotonicNanoseconds() + 1_000
        while Sys.monotonicNanoseconds() <= idle {}
        #expect(try Self.run(fd, backward) == Self.notBypassed)

        let passing = try FlowBypassMap(settings: FlowBypassSettings(capacity: 1024, action: .pass))
        let passFD = try XDPLib.loadXDPProgram(name: "wirecap_btest", instructions: XSKRedirectProgram.bypassTestInstructions(passing))
        defer { close(passFD) }
        try passing.bypass(key, for: nil, idle: nil)
        #expect(try Self.run(passFD, forward) == 2, "action pass: XDP_PASS")
    }

    @Test("the engine's whole program with the bypass section passes the verifier, with and without a kernel filter",
          .enabled(if: Live.isRoot, Live.skipReason))
    func wholeProgramLoads() throws {
        let filter = try KernelFilter(expression: "udp", classic: [ClassicInstruction(code: 0x06, k: 262_144)])
        for action in [FlowBypassSettings.Action.drop, .pass] {
            let map = try FlowBypassMap(settings: FlowBypassSettings(capacity: 1024, action: action))
            _ = try XSKRedirectProgram(interface: "lo", ifindex: 1, entries: 2, filter: nil, bypass: map)
            _ = try XSKRedirectProgram(interface: "lo", ifindex: 1, entries: 2, filter: filter, bypass: map)
        }
    }

    /// One capture with `--bypass-after CUTOFF` of 2 queues × `flows` flows, an
    /// elephant carrying 60% of queue 0, 200,000 packets at 60 kpps (gentle enough
    /// for the writer on a busy 2-core machine), written to a file: the report, the
    /// final ledger, the packets the file holds per (generator queue, flow), and those sent.
    struct LiveRun {
        var report: CaptureReport
        var delivered: [Int: [Int: Int]] = [:]
        var expected: [Int: [Int: Int]] = [:]
        /// Sequence numbers of the elephant's packets in the file.
        var elephantSequences: [UInt64] = []
    }
    static let elephant = 60, count = 200_000

    /// - Parameter cutoff: bytes; only the elephant (60,000 packets of 64 B) may reach it.
    static func liveRun(_ binary: String, _ bed: Testbed, flows: Int, cutoff: Int, extra: [String]) throws -> LiveRun {
        let dir = try Live.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bypass.pcap"
        let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "--buffer", "64MiB",
                                          "--json", "--stats-interval", "0", "--idle-exit", "1",
                                          "--bypass-after", "\(cutoff)", "-w", file] + extra)
        #expect(capture.waitReady())
        var g = Live.generator(bed, count: count, rate: 60_000)
        g.flows = flows
        g.elephantPercent = elephant
        let sent = try Generator.run(g, inNamespace: bed.name)
        let (status, stdout, stderr) = capture.finish()
        #expect(status == 0, "\(stderr)")
        var run = LiveRun(report: try Live.report(stdout))
        #expect(run.report.ledger.total.offered == UInt64(sent.sent))
        for q in sent.queues {
            for seq in 0..<q.sent {
                let f = Sender.flow(of: seq, flows: flows, elephant: q.queue == g.queues.first ? elephant : 0)
                run.expected[q.queue, default: [:]][f, default: 0] += 1
            }
        }
        var stream = try TraceStream(path: file)
        while let p = try stream.next() {
            guard let id = TestPacket.identity(p.data) else { continue }
            run.delivered[id.queue, default: [:]][id.flow, default: 0] += 1
            if id.queue == 0 && id.flow == 0 { run.elephantSequences.append(id.sequence) }
        }
        return run
    }

    /// What both live runs check: an exact, lossless ledger; every flow but the
    /// elephant whole in the file; the elephant's missing packets exactly the
    /// ledger's bypassed ones and the table's one flow.
    static func expectElephantOnlyBypassed(_ run: LiveRun, cutoff: Int) -> (delivered: Int, sent: Int) {
        let ledger = run.report.ledger
        LifecycleLedgerTests.expectExact(ledger, "bypass")
        #expect(ledger.isLossless, "\(ledger.verdict)")
        for (q, flows) in run.expected {
            for (f, n) in flows where !(q == 0 && f == 0) {
                #expect(run.delivered[q]?[f] ?? 0 == n, "queue \(q) flow \(f): \(run.delivered[q]?[f] ?? 0) of \(n) in the file")
            }
        }
        let sent = run.expected[0]?[0] ?? 0, delivered = run.delivered[0]?[0] ?? 0
        #expect(ledger.total.bypassed > 0)
        #expect(UInt64(delivered) + ledger.total.bypassed == UInt64(sent), "elephant: \(delivered) delivered + \(ledger.total.bypassed) bypassed of \(sent)")
        #expect(ledger.queues.first { $0.queue == 1 }?.bypassed == 0, "queue 1 has no flow past the cutoff")
        #expect(ledger.total.bypassedBytes == 64 * ledger.total.bypassed)
        let table = run.report.bypassedFlows ?? []
        #expect(table.count == 1 && table.first?.packets == ledger.total.bypassed, "the table holds the elephant alone: \(table)")
        #expect(table.first?.flow.contains(":10000 >") == true, "flow 0 of queue 0 (sport 10000): \(table)")
        #expect(delivered >= cutoff / 64, "the elephant delivers its first \(cutoff) bytes")
        return (delivered, sent)
    }

    @Test("live: an elephant past --bypass-after is bypassed in the XDP program and counted; every other flow arrives whole",
          .enabled(if: Live.isRoot, Live.skipReason))
    func liveCutoff() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            // 16 flows a queue: the others have at most 6,250 packets (400,000 B), under 1 MiB.
            let run = try Self.liveRun(binary, bed, flows: 16, cutoff: 1 << 20, extra: [])
            let (delivered, sent) = Self.expectElephantOnlyBypassed(run, cutoff: 1 << 20)
            #expect(run.report.flowsBypassed == 1)
            #expect(delivered * 2 < sent, "most of the elephant bypassed: \(delivered) of \(sent) delivered")
        }
    }

    @Test("live: with --bypass-timeout the elephant comes back into capture when its bypass ends, and is cut off again",
          .enabled(if: Live.isRoot, Live.skipReason))
    func liveBypassEnds() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            // 3.3 s of traffic; the elephant (18 kpps) reaches 256 KiB in about 0.23 s, and each
            // bypass lasts 0.25 s. 64 flows a queue: the others stay under 1,600 packets (100 KB).
            let cutoff = 256 << 10
            let run = try Self.liveRun(binary, bed, flows: 64, cutoff: cutoff, extra: ["--bypass-timeout", "0.25"])
            let (delivered, _) = Self.expectElephantOnlyBypassed(run, cutoff: cutoff)
            #expect(run.report.flowsBypassed >= 2, "cut off again after it came back: \(run.report.flowsBypassed) requests")
            #expect(delivered >= 2 * cutoff / 64)
            // A gap in the elephant's sequence, then its packets again.
            let seqs = run.elephantSequences.sorted()
            let gap = zip(seqs, seqs.dropFirst()).first { $1 - $0 > 1_000 }
            #expect(gap != nil && seqs.last! > gap!.1, "the elephant's packets resume after a bypass")
        }
    }

    @Test func settingsAreChecked() {
        #expect(throws: XDPError.self) { try FlowBypassSettings(capacity: 1023).validate() }
        #expect(throws: XDPError.self) { try FlowBypassSettings(capacity: 1 << 24 + 1).validate() }
        #expect(throws: XDPError.self) { try FlowBypassSettings(idleTimeout: .zero).validate() }
        #expect(throws: Never.self) { try FlowBypassSettings().validate() }
    }
}

/// A table that records requests (the cutoff's tests need no kernel).
final class RecordingBypassTable: FlowBypassTable, @unchecked Sendable {
    let settings = FlowBypassSettings()
    private(set) var made: [BypassKey] = []
    func bypass(_ flow: BypassKey, for duration: Duration?, idle: Duration?) throws(XDPError) { made.append(flow) }
    func end(_ flow: BypassKey) {}
    func flows() -> [BypassedFlow] { [] }
    var requests: Int { made.count }
}

@Suite("Flow cutoff")
struct FlowCutoffTests {
    static func packet(_ frame: [UInt8], at stamp: UInt64, _ body: (Packet) -> Void) {
        frame.withUnsafeBytes { body(Packet(bytes: $0, wireLength: frame.count, timestamp: stamp, queue: 0, originQueue: 0)) }
    }

    @Test("a flow is cut off once when both directions reach the limit; in-flight packets do not restart it, later ones do")
    func cutoffOncePerBypass() {
        let table = RecordingBypassTable()
        let cutoff = FlowCutoff(limit: 5_000, table: table, capacity: 64)
        let a = FrameBuilder.frame(for: FlowBypassTests.tuple("10.1.0.1", "10.1.0.2", 1000, 9), length: 1000)
        let aBack = FrameBuilder.frame(for: FlowBypassTests.tuple("10.1.0.2", "10.1.0.1", 9, 1000), length: 1000)
        let small = FrameBuilder.frame(for: FlowBypassTests.tuple("10.1.0.1", "10.1.0.2", 1001, 9), length: 100)
        for i in 0..<4 { Self.packet(i % 2 == 0 ? a : aBack, at: 1) { cutoff.record($0) } }
        for _ in 0..<40 { Self.packet(small, at: 1) { cutoff.record($0) } }
        #expect(table.made.isEmpty, "4,000 and 4,000 bytes: under the limit")
        Self.packet(aBack, at: 1) { cutoff.record($0) }
        #expect(table.made.count == 1 && cutoff.cut == 1)
        let key = a.withUnsafeBytes { BypassKey(parsing: $0)! }
        #expect(table.made.first == key.canonical)
        // Stamped before the request: in flight, not a new flow...
        for _ in 0..<4 { Self.packet(a, at: 2) { cutoff.record($0) } }
        #expect(table.made.count == 1)
        // ...unless a whole limit's worth comes, whatever the stamps say (a clock step):
        // the fifth resets the count, and four more reach the limit again.
        for _ in 0..<5 { Self.packet(a, at: 2) { cutoff.record($0) } }
        #expect(table.made.count == 2)
        // Stamped well after the request: the bypass ended; counted from zero, cut off again at the limit.
        let later = Sys.realtimeNanoseconds() + 10 * FlowCutoff.grace
        for _ in 0..<4 { Self.packet(a, at: later) { cutoff.record($0) } }
        #expect(table.made.count == 2)
        Self.packet(a, at: later) { cutoff.record($0) }
        #expect(table.made.count == 3)
        // Frames without a key are not counted.
        let arp = [UInt8](repeating: 0, count: 12) + [0x08, 0x06] + [UInt8](repeating: 0, count: 46)
        for _ in 0..<100 { Self.packet(arp, at: 1) { cutoff.record($0) } }
        #expect(table.made.count == 3)
    }

    @Test("a full table forgets its smallest flows, never a request")
    func fullTable() {
        let table = RecordingBypassTable()
        let cutoff = FlowCutoff(limit: 10_000, table: table, capacity: 8)
        for round in 0..<10 {
            for f in 0..<64 {
                let frame = FrameBuilder.frame(for: FlowBypassTests.tuple("10.2.0.1", "10.2.0.2", UInt16(2000 + f), 9),
                                               length: f == 0 ? 1500 : 64)
                Self.packet(frame, at: UInt64(round)) { cutoff.record($0) }
            }
        }
        #expect(table.made.count == 1, "the one large flow reaches 10,000 bytes (it is never the smallest); no other can")
    }
}
