/// Figure 12 (§4): advanced mode with M and R fixed and T from 50% to 90%, over
/// 1…6 queues, x = 300. The paper: in general, lower T performs better.
public struct Fig12Scenario: Scenario {
    public var name: String { "fig12" }
    public var title: String { "Advanced mode, M and R fixed, T from 50% to 90%, x = 300" }
    public init() {}

    public func run(_ options: ScenarioOptions) -> ScenarioOutput {
        let configurations = [50, 60, 70, 80, 90].map { SimulationConfiguration.wirecapAdvanced(m: 256, r: 100, t: $0) }
        let points = ImbalanceSweep.run(configurations, options: options)
        let summary: JSONValue = .object([
            ("scenario", "fig12"), ("title", .string(title)), ("seed", .int(options.seed)), ("fast", .bool(options.fast)),
            ("consumer", .string(options.heavyConsumer.description)),
            ("engines", ImbalanceSweep.summary(points)),
            ("paper", "In general, WireCAP performs better when T is set to a relatively lower value"),
        ])
        return ScenarioOutput(name: name, csv: ImbalanceSweep.csv(points), summary: summary, simulatedPackets: ImbalanceSweep.packets(points))
    }
}
