import WireCapTrace

/// The burst test of §4 shared by Figures 8, 9 and 10: P minimum-size packets at
/// 10 GbE line rate (14.88 Mpps) into one queue, drop rate per engine and P.
struct BurstSweep {
    /// The paper's range, 1,000 … 10,000,000.
    static let fullSizes = [1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 20_000, 40_000, 60_000, 80_000,
                            100_000, 200_000, 400_000, 600_000, 800_000, 1_000_000, 2_000_000, 4_000_000,
                            6_000_000, 8_000_000, 10_000_000]
    static let fastSizes = [1_000, 4_000, 6_000, 10_000, 20_000, 40_000, 60_000, 100_000]

    struct Point { var engine: String; var p: Int; var result: SimulationResult }

    /// Runs every configuration at every P (one shared trace; each run replays a prefix).
    static func run(_ configurations: [SimulationConfiguration], consumer: ConsumerModel,
                    options: ScenarioOptions) -> [Point] {
        let sizes = options.fast ? fastSizes : fullSizes
        let trace = SyntheticTrace.burst(packets: sizes.max()!)
        var points: [Point] = []
        for var c in configurations {
            c.consumer = consumer
            c.apply(options)
            let sim = try! Simulation(c)
            for p in sizes {
                points.append(Point(engine: c.engineLabel, p: p, result: sim.run(trace: trace, packets: p)))
            }
        }
        return points
    }

    static func csv(_ points: [Point]) -> String {
        var t = CSVTable(["engine", "P", "offered", "delivered", "capture_drops", "delivery_drops", "drop_rate"])
        for pt in points {
            let s = pt.result.total
            t.row([pt.engine, pt.p, s.offered, s.delivered, s.captureDrops, s.deliveryDrops, s.dropRate])
        }
        return t.text
    }

    /// Per engine: the largest lossless P among the points, and the drop rates.
    static func summary(_ points: [Point]) -> JSONValue {
        var engines: [String] = []
        for p in points where !engines.contains(p.engine) { engines.append(p.engine) }
        return .array(engines.map { e in
            let mine = points.filter { $0.engine == e }
            let lossless = mine.filter { $0.result.total.drops == 0 }.map(\.p).max()
            return .object([
                ("engine", .string(e)),
                ("largest_lossless_P_tested", lossless.map { .int($0) } ?? .null),
                ("drop_rate_by_P", .object(mine.map { (String($0.p), .rate($0.result.dropRate)) })),
            ])
        })
    }

    static func packets(_ points: [Point]) -> UInt64 { points.reduce(0) { $0 + $1.result.total.offered } }

    /// The paper's formula for WireCAP-B: P_m·R·M/(P_m − P_p).
    static func formula(m: Int, r: Int, consumer: ConsumerModel) -> Double {
        let pm = 1e12 / Double(SyntheticTrace.wirePicoseconds(length: 60))
        let pp = consumer.packetsPerSecond
        return pp.isInfinite ? .infinity : pm * Double(r * m) / (pm - pp)
    }
}
