import WireCapCore
import WireCapTrace
#if canImport(Glibc)
import Glibc
#endif

/// Issue 15: chunk offload (the paper's WireCAP-A) against flow offload, with
/// basic mode beside them, x = 300, on three traces:
///
/// - **elephant**: 2 queues, 80% of the packets on queue 0, one flow carrying 60%
///   of all packets (1.08 consumers' worth) among 1,000 small flows per queue, at
///   1.8 consumers' load (the end-to-end harness's second elephant case);
/// - **elephant-saturated**: the same at 2.4 consumers' load, more than the two
///   consumers can take together (the live 2-core machine at 1.8, where the
///   generator and the capture threads share the cores): the overload is the
///   group's, and a scheduler that keeps moving buckets only pauses them;
/// - **90/10**: 2 queues, 90% of 1,000 flows' packets on queue 0, at 1.6 consumers'
///   load: one consumer cannot take queue 0, two can;
/// - **border-router**: the paper's trace on 4 queues, R = 100.
///
/// For each: loss, flows split (two consumers at once), flows moved whole, packets
/// out of order, bucket moves, and for flow offload also with strict affinity.
public struct FlowOffloadScenario: Scenario {
    public var name: String { "flowoffload" }
    public var title: String { "Chunk offload vs flow offload (issue 15): elephant, 90/10, border router; x = 300" }
    public init() {}

    /// A two-queue trace of 60-byte packets: `flowsPerQueue` small flows on each
    /// queue (uniform), queue 0 taking `share0` of the packets, and one elephant on
    /// queue 0 taking `elephant` of all packets (0: none). Flow hashes are chosen
    /// so RSS puts each flow on its queue.
    public static func twoQueueTrace(seconds: Double, packetsPerSecond: Double, share0: Double, elephant: Double,
                                     flowsPerQueue: Int = 1000, seed: UInt64) -> PacketTrace {
        var rng = SplitMix64(seed: seed)
        func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        var trace = PacketTrace(name: "two-queue(\(share0), elephant \(elephant), \(Int(packetsPerSecond)) p/s)")
        for q in 0..<2 {
            for _ in 0..<flowsPerQueue { trace.addFlow(nil, hash: UInt32(truncatingIfNeeded: rng.next()) & ~127 | UInt32(q)) }
        }
        let big = trace.addFlow(nil, hash: UInt32(truncatingIfNeeded: rng.next()) & ~127)
        let packets = Int(seconds * packetsPerSecond)
        trace.reserve(packets: packets)
        var t = 0.0
        for k in 0..<packets {
            if k > 0 { t += -log(1 - unit()) / packetsPerSecond }
            let u = unit()
            let flow: UInt32
            if u < elephant {
                flow = big
            } else {
                // The rest: queue 0 gets share0 of all packets in total.
                let q = unit() < (share0 - elephant) / (1 - elephant) ? 0 : 1
                flow = UInt32(q * flowsPerQueue + Int(rng.next() % UInt64(flowsPerQueue)))
            }
            trace.append(timestamp: UInt64(t * 1e9), length: 60, flow: flow)
        }
        return trace
    }

    struct Case { var name: String; var queues: Int; var r: Int; var trace: PacketTrace }

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let capacity = 1e12 / Double(options.heavyConsumer.servicePicoseconds)
        let seconds = options.fast ? 1.0 : 4.0
        let cases = [
            Case(name: "elephant", queues: 2, r: 100,
                 trace: Self.twoQueueTrace(seconds: seconds, packetsPerSecond: 1.8 * capacity, share0: 0.8, elephant: 0.6, seed: options.seed)),
            Case(name: "elephant-saturated", queues: 2, r: 100,
                 trace: Self.twoQueueTrace(seconds: seconds, packetsPerSecond: 2.4 * capacity, share0: 0.8, elephant: 0.6, seed: options.seed)),
            Case(name: "90/10", queues: 2, r: 100,
                 trace: Self.twoQueueTrace(seconds: seconds, packetsPerSecond: 1.6 * capacity, share0: 0.9, elephant: 0, seed: options.seed)),
            Case(name: "border-router", queues: 4, r: 100, trace: Scenarios.borderRouterTrace(options)),
        ]
        var engines: [(SimulationConfiguration)] = []
        var basic = SimulationConfiguration.wirecapBasic(m: 256, r: 100)
        basic.engine = .wirecapBasic
        engines.append(basic)
        var chunk = SimulationConfiguration.wirecapAdvanced(m: 256, r: 100, t: 60)
        chunk.offload = .chunk
        engines.append(chunk)
        var flow = chunk
        flow.offload = .flow
        engines.append(flow)
        var strict = flow
        strict.strictFlowAffinity = true
        engines.append(strict)
        var table = CSVTable(["case", "engine", "queues", "offered", "delivered", "drop_rate", "flows", "flows_split",
                              "flows_moved", "packets_out_of_order", "bucket_moves"])
        var rows: [JSONValue] = []
        var packets: UInt64 = 0
        for c in cases {
            for var e in engines {
                e.consumer = options.heavyConsumer
                e.apply(options)
                e.queues = c.queues
                e.chunksPerPool = c.r
                let result = try! Simulation(e).run(trace: c.trace)
                let f = result.flowOrder ?? FlowOrderResult()
                packets += result.total.offered
                table.row([c.name, e.engineLabel, c.queues, result.total.offered, result.total.delivered, result.dropRate,
                           f.flows, f.flowsSplit, f.flowsMoved, f.packetsOutOfOrder,
                           result.queues.reduce(0) { $0 + $1.bucketMoves }])
                rows.append(.object([("case", .string(c.name)), ("engine", .string(e.engineLabel)),
                                     ("drop_rate", .rate(result.dropRate)), ("flows_split", .int(f.flowsSplit)),
                                     ("flows", .int(f.flows)), ("packets_out_of_order", .int(f.packetsOutOfOrder)),
                                     ("bucket_moves", .int(Int(result.queues.reduce(0) { $0 + $1.bucketMoves })))]))
            }
        }
        let summary: JSONValue = .object([
            ("scenario", "flowoffload"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("consumer", .string(options.heavyConsumer.description)), ("runs", .array(rows)),
        ])
        return ScenarioOutput(name: name, csv: table.text, summary: summary, simulatedPackets: packets)
    }
}
