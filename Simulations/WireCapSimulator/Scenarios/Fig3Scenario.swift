import WireCapTrace

/// Figure 3 (§2.2, experiment 1): packets per 10 ms bin on each of 6 RSS queues
/// for the border-router trace — short-term bursts everywhere, and a long-term
/// imbalance (queue 0 near 80,000 p/s for long stretches, queue 3 near 20,000 p/s).
public struct Fig3Scenario: Scenario {
    public var name: String { "fig3" }
    public var title: String { "Load imbalance: per-queue packets per 10 ms, 6 RSS queues" }
    public init() {}

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let trace = Scenarios.borderRouterTrace(options)
        let queues = 6
        let binNs: UInt64 = 10_000_000
        let bins = trace.binnedCounts(queues: queues, steering: .rss, binNanoseconds: binNs)
        var table = CSVTable(["time_s"] + (0..<queues).map { "q\($0)_packets" })
        for (b, counts) in bins.enumerated() {
            table.row([Double(b) * 0.01] + counts.map { $0 as CustomStringConvertible })
        }
        // Rates per queue: overall, and in the middle of the elephants' window.
        let model = Scenarios.borderRouterModel(options)
        let windowStart = Int(model.elephantStart * Double(bins.count)) + 10
        let windowEnd = max(windowStart + 1, Int(model.elephantEnd * Double(bins.count)) - 10)
        var perQueue: [JSONValue] = []
        for q in 0..<queues {
            let total = bins.reduce(0) { $0 + $1[q] }
            let inWindow = bins[windowStart..<min(windowEnd, bins.count)].reduce(0) { $0 + $1[q] }
            let maxBin = bins.map { $0[q] }.max() ?? 0
            perQueue.append(.object([
                ("queue", .int(q)),
                ("packets", .int(total)),
                ("mean_pps", .rate(Double(total) / (Double(bins.count) * 0.01))),
                ("mean_pps_while_imbalanced", .rate(Double(inWindow) / (Double(windowEnd - windowStart) * 0.01))),
                ("max_pps_10ms", .int(maxBin * 100)),
            ]))
        }
        let summary: JSONValue = .object([
            ("scenario", "fig3"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("trace", .object([("packets", .int(trace.count)), ("duration_s", .rate(Double(trace.durationNanoseconds) / 1e9)),
                               ("flows", .int(trace.flowHashes.count))])),
            ("imbalanced_window_s", [.rate(Double(windowStart) * 0.01), .rate(Double(windowEnd) * 0.01)]),
            ("queues", .array(perQueue)),
            ("paper", .object([
                ("trace", "Fermilab border router, 5 million packets, about 32 s"),
                ("queue0_pps", 80_000), ("queue0_window_s", [10, 35]),
                ("queue3_pps", 20_000), ("queue3_window_s", [1, 32]),
                ("queue3_burst", "2,724 packets in [3.86 s, 3.97 s]"),
            ])),
        ])
        return ScenarioOutput(name: name, csv: table.text, summary: summary, simulatedPackets: 0)
    }
}
