import WireCapTrace

/// Table 1 (§2.2, experiment 2): NETMAP, DNA and PF_RING on the border-router
/// trace at recorded speed, 6 RSS queues, rings of 1,024, x = 300 (and x = 0):
/// capture and delivery drop rates per queue.
public struct Table1Scenario: Scenario {
    public var name: String { "table1" }
    public var title: String { "Packet drop rates of NETMAP, DNA and PF_RING, 6 queues, x = 300" }
    public init() {}

    /// The paper's Table 1 (x = 300): queue → engine → (capture, delivery) drop rates.
    public static let paper: [(queue: Int, engine: EngineKind, capture: Double, delivery: Double)] = [
        (0, .netmap, 0.465, 0), (0, .dna, 0.501, 0), (0, .pfring, 0, 0.568),
        (3, .netmap, 0.334, 0), (3, .dna, 0.093, 0), (3, .pfring, 0.008, 0),
    ]

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let trace = Scenarios.borderRouterTrace(options)
        var table = CSVTable(["engine", "x", "queue", "offered", "delivered", "capture_drops", "delivery_drops",
                              "capture_drop_rate", "delivery_drop_rate"])
        var rows: [JSONValue] = []
        // Where the model and the paper disagree on the *cause* of a loss of similar
        // size, it is said (JSON and plot), not left for the reader to find.
        var causeNotes: [JSONValue] = []
        var packets: UInt64 = 0
        for (x, consumer) in [(300, options.heavyConsumer), (0, ConsumerModel.none)] {
            for engine in [EngineKind.netmap, .dna, .pfring] {
                var c = SimulationConfiguration.baseline(engine)
                c.queues = 6
                c.consumer = consumer
                c.apply(options)
                let r = try! Simulation(c).run(trace: trace)
                packets += r.total.offered
                for q in r.queues + [r.total] {
                    let label = q.queue < 0 ? "all" : String(q.queue)
                    table.row([c.engineLabel, x, label, q.offered, q.delivered, q.captureDrops, q.deliveryDrops,
                               q.captureDropRate, q.deliveryDropRate])
                }
                for q in [0, 3] {
                    let s = r.queues[q]
                    let paper = x == 300 ? Self.paper.first { $0.queue == q && $0.engine == engine } : nil
                    if let note = Self.causeMismatch(engine: c.engineLabel, queue: q, capture: s.captureDropRate,
                                                     delivery: s.deliveryDropRate, paper: paper) {
                        causeNotes.append(.string(note))
                    }
                    rows.append(.object([
                        ("engine", .string(c.engineLabel)), ("x", .int(x)), ("queue", .int(q)),
                        ("capture_drop_rate", .rate(s.captureDropRate)), ("delivery_drop_rate", .rate(s.deliveryDropRate)),
                        ("paper_capture_drop_rate", paper.map { .rate($0.capture) } ?? .null),
                        ("paper_delivery_drop_rate", paper.map { .rate($0.delivery) } ?? .null),
                    ]))
                }
            }
        }
        let summary: JSONValue = .object([
            ("cause_mismatches", .array(causeNotes)),
            ("scenario", "table1"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("consumer", .string(options.heavyConsumer.description)),
            ("consumer_pps", .rate(options.heavyConsumer.packetsPerSecond)),
            ("rows", .array(rows)),
            ("paper_note", "x = 0: no drops for DNA or NETMAP; PF_RING small capture drops at queue 3"),
        ])
        return ScenarioOutput(name: name, csv: table.text, summary: summary, simulatedPackets: packets)
    }

    /// A sentence when the simulated loss and the paper's fall in different counters
    /// (capture vs delivery drops), nil when they agree or either is zero. The model's
    /// PF_RING copy (softirq) always preempts the application, so at moderate load it
    /// cannot overflow the NIC ring; in the paper the copy was deferred behind a busy
    /// application (ksoftirqd) and queue 3 lost its packets as capture drops.
    static func causeMismatch(engine: String, queue: Int, capture: Double, delivery: Double,
                              paper: (queue: Int, engine: EngineKind, capture: Double, delivery: Double)?) -> String? {
        guard let paper, capture + delivery > 0, paper.capture + paper.delivery > 0 else { return nil }
        let simulated = capture >= delivery ? "capture" : "delivery"
        let expected = paper.capture >= paper.delivery ? "capture" : "delivery"
        guard simulated != expected else { return nil }
        func percent(_ rate: Double) -> String {   // two decimals, no Foundation
            let hundredths = Int((rate * 10_000).rounded())
            return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
        }
        let simulatedPercent = percent(capture + delivery), paperPercent = percent(paper.capture + paper.delivery)
        var note = "\(engine) queue \(queue): simulated \(simulatedPercent)% as \(simulated) drops, "
        note += "paper \(paperPercent)% as \(expected) drops"
        if paper.engine == .pfring {
            note += " (the model's kernel copy always preempts the application; the real one was deferred behind it)"
        }
        return note
    }
}
