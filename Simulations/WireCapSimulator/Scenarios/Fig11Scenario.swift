/// Figure 11 (§4): the border-router trace over 1…6 queues, x = 300. The paper:
/// basic mode beats PF_RING, DNA and NETMAP but still loses packets to long-term
/// imbalance; advanced mode (offload) loses far fewer.
public struct Fig11Scenario: Scenario {
    public var name: String { "fig11" }
    public var title: String { "Advanced mode vs basic mode and existing engines, 1–6 queues, x = 300" }
    public init() {}

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let configurations: [SimulationConfiguration] = [
            .baseline(.netmap), .baseline(.dna), .baseline(.pfring),
            .wirecapBasic(m: 256, r: 100), .wirecapBasic(m: 256, r: 500),
            .wirecapAdvanced(m: 256, r: 100, t: 60), .wirecapAdvanced(m: 256, r: 500, t: 60),
        ]
        let points = ImbalanceSweep.run(configurations, options: options)
        let summary: JSONValue = .object([
            ("scenario", "fig11"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("consumer", .string(options.heavyConsumer.description)),
            ("engines", ImbalanceSweep.summary(points)),
            ("paper", "WireCAP-B performs better than PF_RING, DNA and NETMAP but still suffers significant losses from long-term imbalance; WireCAP-A's offload achieves significantly improved performance"),
        ])
        return ScenarioOutput(name: name, csv: ImbalanceSweep.csv(points), summary: summary, simulatedPackets: ImbalanceSweep.packets(points))
    }
}
