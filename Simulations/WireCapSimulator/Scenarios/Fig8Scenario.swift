/// Figure 8 (§4): the burst test with no processing load (x = 0). The paper: no
/// drops for WireCAP, NETMAP or DNA; PF_RING drops (capture and delivery).
public struct Fig8Scenario: Scenario {
    public var name: String { "fig8" }
    public var title: String { "Basic mode, bursts of P 64-byte packets at 14.88 Mpps, x = 0" }
    public init() {}

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let configurations: [SimulationConfiguration] = [
            .baseline(.netmap), .baseline(.dna), .baseline(.pfring),
            .wirecapBasic(m: 256, r: 100), .wirecapBasic(m: 256, r: 500), .wirecapBasic(m: 64, r: 400),
        ]
        let points = BurstSweep.run(configurations, consumer: .none, options: options)
        let summary: JSONValue = .object([
            ("scenario", "fig8"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("engines", BurstSweep.summary(points)),
            ("paper", .object([
                ("no_drops", ["NETMAP", "DNA", "WireCAP-B (various M, R)"]),
                ("drops", ["PF_RING (capture and delivery)"]),
            ])),
        ])
        return ScenarioOutput(name: name, csv: BurstSweep.csv(points), summary: summary, simulatedPackets: BurstSweep.packets(points))
    }
}
