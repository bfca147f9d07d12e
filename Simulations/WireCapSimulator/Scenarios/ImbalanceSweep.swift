import WireCapTrace

/// The advanced-mode experiments of §4 shared by Figures 11 and 12: the
/// border-router trace at recorded speed over 1…6 RSS queues, x = 300.
struct ImbalanceSweep {
    struct Point { var engine: String; var queues: Int; var result: SimulationResult }

    static func run(_ configurations: [SimulationConfiguration], options: ScenarioOptions) -> [Point] {
        let trace = Scenarios.borderRouterTrace(options)
        var points: [Point] = []
        for var c in configurations {
            c.consumer = options.heavyConsumer
            c.apply(options)
            for n in 1...6 {
                c.queues = n
                points.append(Point(engine: c.engineLabel, queues: n, result: try! Simulation(c).run(trace: trace)))
            }
        }
        return points
    }

    static func csv(_ points: [Point]) -> String {
        var t = CSVTable(["engine", "queues", "offered", "delivered", "capture_drops", "delivery_drops", "drop_rate",
                          "offloaded_chunks", "max_queue_drop_rate", "flows", "flows_split", "flows_moved", "packets_out_of_order"])
        for pt in points {
            let s = pt.result.total
            let worst = pt.result.queues.map(\.dropRate).max() ?? 0
            let f = pt.result.flowOrder
            t.row([pt.engine, pt.queues, s.offered, s.delivered, s.captureDrops, s.deliveryDrops, s.dropRate,
                   s.offloadedOutChunks, worst, f?.flows ?? 0, f?.flowsSplit ?? 0, f?.flowsMoved ?? 0, f?.packetsOutOfOrder ?? 0])
        }
        return t.text
    }

    static func summary(_ points: [Point]) -> JSONValue {
        var engines: [String] = []
        for p in points where !engines.contains(p.engine) { engines.append(p.engine) }
        return .array(engines.map { e in
            .object([
                ("engine", .string(e)),
                ("drop_rate_by_queues", .object(points.filter { $0.engine == e }.map { (String($0.queues), .rate($0.result.dropRate)) })),
            ])
        })
    }

    static func packets(_ points: [Point]) -> UInt64 { points.reduce(0) { $0 + $1.result.total.offered } }
}
