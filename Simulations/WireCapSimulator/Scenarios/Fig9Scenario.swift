/// Figure 9 (§4): the burst test under heavy load (x = 300, 38,844 p/s). The
/// paper: DNA drops 15% at P = 6,000; WireCAP-B(256, 500) drops nothing at
/// P = 100,000 where WireCAP-B(256, 100) drops 71%.
public struct Fig9Scenario: Scenario {
    public var name: String { "fig9" }
    public var title: String { "Basic mode, bursts of P 64-byte packets at 14.88 Mpps, x = 300" }
    public init() {}

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let configurations: [SimulationConfiguration] = [
            .baseline(.netmap), .baseline(.dna), .baseline(.pfring),
            .wirecapBasic(m: 256, r: 100), .wirecapBasic(m: 256, r: 500),
        ]
        let points = BurstSweep.run(configurations, consumer: options.heavyConsumer, options: options)
        func rate(_ engine: String, _ p: Int) -> JSONValue {
            points.first { $0.engine == engine && $0.p == p }.map { .rate($0.result.dropRate) } ?? .null
        }
        let summary: JSONValue = .object([
            ("scenario", "fig9"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("consumer", .string(options.heavyConsumer.description)),
            ("engines", BurstSweep.summary(points)),
            ("formula_largest_lossless_burst", .object([
                ("WireCAP-B(256,100)", .rate(BurstSweep.formula(m: 256, r: 100, consumer: options.heavyConsumer))),
                ("WireCAP-B(256,500)", .rate(BurstSweep.formula(m: 256, r: 500, consumer: options.heavyConsumer))),
            ])),
            ("comparison", .array([
                .object([("engine", "DNA"), ("P", 6_000), ("paper_drop_rate", 0.15), ("simulated_drop_rate", rate("DNA", 6_000))]),
                .object([("engine", "WireCAP-B(256,500)"), ("P", 100_000), ("paper_drop_rate", 0),
                         ("simulated_drop_rate", rate("WireCAP-B(256,500)", 100_000))]),
                .object([("engine", "WireCAP-B(256,100)"), ("P", 100_000), ("paper_drop_rate", 0.71),
                         ("simulated_drop_rate", rate("WireCAP-B(256,100)", 100_000))]),
            ])),
        ])
        return ScenarioOutput(name: name, csv: BurstSweep.csv(points), summary: summary, simulatedPackets: BurstSweep.packets(points))
    }
}
