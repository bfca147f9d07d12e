import Foundation
import Testing
import WireCap
import WireCapAnalyzer
import WireCapEngine
import WireCapTestSupport
import WireCapTestbed

/// An analyzer that counts every packet per flow and bypasses a flow once it has
/// processed `after` of its packets: what an IDS does with a flow it is done with.
struct FlowCutter: Analyzer {
    let after: Int
    var name: String { "cutter" }
    func makeState(worker: Int) -> State { State(after: after, bypass: nil) }
    func makeState(worker: Int, bypass: FlowBypass?) -> State { State(after: after, bypass: bypass) }
    func report(_ merged: State) -> AnalysisReport { AnalysisReport(name: name, lines: []) }

    struct State: AnalyzerState {
        let after: Int
        let bypass: FlowBypass?
        var packets: [FlowKey: Int] = [:]
        var requested: Set<FlowKey> = []
        var failures = 0

        mutating func process(packet: Packet) {
            guard let key = FlowKey.parse(packet) else { return }
            packets[key, default: 0] += 1
            if packets[key] == after, let bypass, !requested.contains(key) {
                do { try bypass.bypass(flow: key) } catch { failures += 1 }
                requested.insert(key)
            }
        }

        mutating func merge(_ o: State) {
            packets.merge(o.packets, uniquingKeysWith: +)
            requested.formUnion(o.requested)
            failures += o.failures
        }
    }
}

@Suite("Flow bypass through the API (veth)", .serialized, .enabled(if: LiveAPI.isRoot, "needs root (XDP, network namespaces)"))
struct FlowBypassAPITests {
    @Test("an analyzer bypasses the elephant through the API: the workers stop seeing it, the ledger counts the rest as bypassed, every other flow arrives whole")
    func analyzerBypassesTheElephant() throws {
        try LiveAPI.withTestbed(queues: 2) { bed in
            var settings = CaptureSettings()
            settings.flowBypass = FlowBypassSettings(capacity: 1024)
            let capture = try Capture.open([InterfaceSelection(bed.captureInterface)], configuration: settings)
            let bypass = try #require(capture.flowBypass)
            let runner = AnalyzerRunner(analyzer: FlowCutter(after: 5_000), handles: capture.handles, bypass: bypass)
            try runner.start()
            try capture.start()
            // 16 flows per queue; the elephant has 60% of queue 0 (30,000 packets), every
            // other flow at most 3,125: only the elephant reaches 5,000.
            var g = GeneratorConfiguration(interface: bed.generatorInterface, queues: [0, 1], count: 100_000, rate: 50_000)
            g.flows = 16
            g.elephantPercent = 60
            let sent = try Generator.run(g, inNamespace: bed.name)
            capture.stop()
            let merged = runner.wait()
            let table = bypass.flows()
            capture.close()
            let ledger = capture.ledger()[0]
            for row in ledger.queues { #expect(row.unexplained == 0 && row.abandoned == 0, "queue \(row.queue)") }
            #expect(ledger.isLossless, "\(ledger.verdict)")
            #expect(ledger.total.offered == UInt64(sent.sent))

            var expected: [FlowKey: Int] = [:]
            var elephant = FlowKey()
            for q in sent.queues {
                let keys = (0..<16).map { k in
                    TestPacket.header(flow: q.queue * 16 + k, size: 64).withUnsafeBytes { FlowKey.parse($0)! }
                }
                if q.queue == 0 { elephant = keys[0] }
                for seq in 0..<q.sent { expected[keys[Sender.flow(of: seq, flows: 16, elephant: q.queue == 0 ? 60 : 0)], default: 0] += 1 }
            }
            #expect(merged.failures == 0)
            #expect(merged.requested == [elephant], "only the elephant reached 5,000 packets")
            for (key, n) in expected where key != elephant {
                #expect(merged.packets[key] == n, "\(key): \(merged.packets[key] ?? 0) of \(n)")
            }
            let seen = merged.packets[elephant] ?? 0
            #expect(ledger.total.bypassed > 0 && UInt64(seen) + ledger.total.bypassed == UInt64(expected[elephant]!),
                    "elephant: \(seen) seen + \(ledger.total.bypassed) bypassed of \(expected[elephant]!)")
            #expect(seen >= 5_000)
            #expect(table.count == 1 && table.first?.packets == ledger.total.bypassed && table.first?.key == BypassKey(elephant).canonical)
        }
    }
}
