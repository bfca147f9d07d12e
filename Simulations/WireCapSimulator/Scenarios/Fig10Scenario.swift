/// Figure 10 (§4): R·M fixed (64×400, 128×200, 256×100), x = 300: the buffering
/// depends on R·M only, so the three drop curves coincide.
public struct Fig10Scenario: Scenario {
    public var name: String { "fig10" }
    public var title: String { "Basic mode, R·M fixed at 25,600, x = 300" }
    public init() {}

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let configurations: [SimulationConfiguration] = [
            .wirecapBasic(m: 64, r: 400), .wirecapBasic(m: 128, r: 200), .wirecapBasic(m: 256, r: 100),
        ]
        let points = BurstSweep.run(configurations, consumer: options.heavyConsumer, options: options)
        var spread = 0.0
        for p in Set(points.map(\.p)) {
            let rates = points.filter { $0.p == p }.map(\.result.dropRate)
            spread = max(spread, rates.max()! - rates.min()!)
        }
        let summary: JSONValue = .object([
            ("scenario", "fig10"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("engines", BurstSweep.summary(points)),
            ("largest_drop_rate_spread_between_geometries", .rate(spread)),
            ("paper", "WireCAP-B(64,400), (128,200) and (256,100) have approximately the same drop rates at every P"),
        ])
        return ScenarioOutput(name: name, csv: BurstSweep.csv(points), summary: summary, simulatedPackets: BurstSweep.packets(points))
    }
}
