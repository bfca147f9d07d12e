import Foundation
import Testing
import WireCapCore
import WireCapTestSupport
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapTestbed
import WireCapSession

/// `wirecap capture --offload flow` on a veth testbed (root, issue 15): buckets
/// move from the overloaded consumer, the ledger balances exactly, and no flow is
/// reordered (nor, without moves, split).
@Suite("Flow offload (live)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct FlowOffloadLiveTests {
    @Test("2 queues, 90/10 share, consumers of 50 kpps: buckets move off queue 0; ledger exact; flows in order; the report shows the flow table",
          arguments: ["off", "on"])
    func movesKeepFlowsInOrder(spill: String) throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            // Each consumer sleeps 20 µs per packet after each slice (at most 50 kpps):
            // queue 0's 54 kpps overload its own, queue 1's 6 kpps leave the other idle.
            // Spill off: slices of frame chunks only; on: spill blocks are split by flow too.
            let (report, flows, verify) = try Self.capture(bed, binary, ["--spill", spill], label: "spill \(spill)",
                                                           Live.generator(bed, count: 120_000, rate: 60_000, share: [0.9, 0.1]))
            let q = report.queues.map(\.statistics)
            #expect(report.offload == "flow")
            // The scenario overloads consumer 0 and leaves consumer 1 idle: buckets must move.
            #expect(q[0].bucketMoves > 0, "queue 0's buckets move to the idle consumer")
            #expect(q[1].offloadedIn > 0 && q[0].packetsHeld > 0, "moved buckets' packets waited for the drain, then reached consumer 1")
            if report.packetsSpread == 0 {
                // Moves drain first: no packet of any flow is processed after a later one.
                #expect(flows.outOfOrder == 0, "no flow reordered across a move")
                #expect(verify.outOfOrder == 0, "each consumer saw each flow in order")
            }
            if report.bucketMoves == 0 && report.packetsSpread == 0 { #expect(flows.flowsSplit == 0) }
            #expect(flows.flowsSplit <= flows.flowsTotal && flows.flowsTotal == 32, "16 flows per generator queue")
            // The text report of the same run shows the flow table and what --flows means.
            let text = report.humanDescription
            #expect(text.contains("advanced mode (flow offload)"), "\(text)")
            #expect(text.contains(" flow  bucket-moves  buckets-spread  packets-spread  packets-held  consumer-load-pps"), "\(text)")
            #expect(text.contains("flow offload: a flow reaches a second consumer only when its bucket moved"), "\(text)")
            #expect(try Live.attachedProgram(bed.captureInterface) == 0)
        }
    }
}

extension FlowOffloadLiveTests {
    /// An elephant: one flow carries 75% of queue 0's packets (60% of all) among 16
    /// small flows per queue, at 1.2 consumers' load, the elephant alone 0.72 of one.
    /// Strict affinity may never reorder a flow; by default only a spread bucket may.
    @Test("2 queues, an elephant at 60% of the load: strict affinity moves the small flows and keeps every flow in order; spread counts what it reorders",
          arguments: [false, true])
    func elephantStaysWholeUnderStrictAffinity(strict: Bool) throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            var g = Live.generator(bed, count: 120_000, rate: 60_000, share: [0.8, 0.2])
            g.elephantPercent = 75
            let (report, flows, verify) = try Self.capture(bed, binary, strict ? ["--strict-affinity"] : [],
                                                           label: "elephant, strict \(strict)", g)
            if strict { #expect(report.packetsSpread == 0, "strict affinity spreads nothing") }
            if report.packetsSpread == 0 {
                #expect(flows.outOfOrder == 0 && flows.flowsReordered == 0 && verify.outOfOrder == 0)
            } else {
                // Only the spread buckets' flows may be reordered: the elephant's, and what shares its bucket.
                #expect((flows.flowsReordered ?? 0) <= Int(report.bucketsSpread) * 2)
            }
            #expect(try Live.attachedProgram(bed.captureInterface) == 0)
        }
    }

    /// Captures `generator`'s traffic on both queues of `bed` with flow offload
    /// (M = 64, R = 64, consumers of at most 50 kpps: 20 µs per packet), `--flows` and
    /// `--verify`, plus `options`; prints what happened and checks what every run
    /// must show: every packet sent and offered, the ledger exact queue by queue,
    /// the exit status saying whether any was lost, no duplicate or damaged packet.
    static func capture(_ bed: Testbed, _ binary: String, _ options: [String], label: String,
                        _ generator: GeneratorConfiguration) throws -> (CaptureReport, FlowSplitReport, SequenceVerifier.Report) {
        let p = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "-M", "64", "-R", "64",
                                    "--offload", "flow", "--consumer-delay", "20000", "--flows", "--verify",
                                    "--idle-exit", "1", "--duration", "60", "--stats-interval", "0", "--json"] + options)
        #expect(p.waitReady(), "ready: \(p.stderr)")
        let sent = try Generator.run(generator, inNamespace: bed.name)
        let (status, stdout, stderr) = p.finish()
        let report = try Live.report(stdout)
        let q = report.queues.map(\.statistics)
        let flows = try #require(report.flows, "--flows was given")
        let verify = try #require(report.verification, "--verify was given")
        print("flow offload live (\(label)): sent \(sent.sent), lost \(report.ledger.total.lost); bucket moves \(q.map(\.bucketMoves)), "
              + "spread \(q.map(\.bucketsSpread)) (\(report.packetsSpread) packets), held \(q.map(\.packetsHeld)) packets; "
              + "slices offloaded \(report.offloads), consumed \(q.map(\.packetsConsumed)); flows \(flows.flowsTotal), on two consumers \(flows.flowsSplit), "
              + "reordered \(flows.flowsReordered ?? -1), out of order \(flows.outOfOrder ?? -1); verify out of order \(verify.outOfOrder)\n\(stderr)")
        #expect(sent.sent == generator.count && report.ledger.total.offered == UInt64(sent.sent))
        #expect(report.ledger.queues.allSatisfy { $0.unexplained == 0 } && report.ledger.total.unexplained == 0,
                "\(report.ledger.tableLines.joined(separator: "\n"))")
        #expect(status == (report.ledger.total.lost == 0 ? 0 : 1), "exit \(status): \(stderr)")
        #expect(verify.duplicates == 0 && verify.checksumErrors == 0 && verify.wrongQueue == 0)
        return (report, flows, verify)
    }
}

/// The flow-offload options' usage errors: one line each, exit 2, before any
/// interface or privilege is looked at (so no root needed).
@Suite("Flow offload options")
struct FlowOffloadOptionTests {
    @Test("bad values and combinations: one line naming the option and the rule, exit 2")
    func usageErrors() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let cases: [(args: [String], expect: String)] = [
            (["capture", "--offload", "bytes"], "--offload must be flow or chunk, got 'bytes'"),
            (["capture", "--flow-buckets", "100"], "--flow-buckets must be a power of two in 64...65536, got 100"),
            (["capture", "--flow-buckets", "131072"], "--flow-buckets must be a power of two in 64...65536, got 131072"),
            (["capture", "--mode", "basic", "--offload", "flow"], "--offload needs --mode advanced"),
            (["capture", "--mode", "basic", "--strict-affinity"], "--strict-affinity needs flow offload, which needs --mode advanced"),
            (["capture", "--offload", "chunk", "--flow-buckets", "256"], "--flow-buckets needs --offload flow"),
            (["capture", "--offload", "chunk", "--strict-affinity", "--flow-buckets", "256"], "--flow-buckets and --strict-affinity need --offload flow"),
            (["capture", "--offload", "flow", "--backend", "afpacket", "-q", "2"], "--offload flow on nosuch0: flow offload needs the AF_XDP backend"),
            (["capture", "--offload", "flow", "-q", "0-16"], "--offload flow on nosuch0: flow offload supports at most 16 queues per buddy group, got 17"),
            (["analyze", "--offload", "chunk", "--strict-affinity"], "--strict-affinity needs --offload flow"),
            (["analyze", "--offload", "flow", "--backend", "afpacket", "-q", "2"], "flow offload needs the AF_XDP backend"),
        ]
        for c in cases {
            let r = try Live.run([binary] + c.args + ["-i", "nosuch0", "--duration", "1"])
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 2, "\(c.args): exit \(r.status): \(r.stderr)")
            #expect(lines.count == 1 && r.stderr.contains(c.expect), "\(c.args): \(r.stderr)")
        }
        // Without --offload, more than 16 queues offload chunks: one note, then the run goes on
        // (here to the unknown interface's error).
        let r = try Live.run([binary, "capture", "-q", "0-16", "-i", "nosuch0", "--duration", "1"])
        let notes = r.stderr.split(separator: "\n").filter { $0.contains("note: chunk offload on nosuch0 (17 queues): flow offload supports at most 16 queues") }
        #expect(notes.count == 1 && r.stderr.contains("unknown interface nosuch0"), "\(r.stderr)")
        // AF_PACKET by default offloads blocks without a word.
        let a = try Live.run([binary, "capture", "--backend", "afpacket", "-q", "2", "-i", "nosuch0", "--duration", "1"])
        #expect(!a.stderr.contains("offload"), "\(a.stderr)")
    }
}
