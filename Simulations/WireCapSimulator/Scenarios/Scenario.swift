import WireCapTrace

/// Options every scenario takes.
public struct ScenarioOptions: Sendable, Hashable {
    /// Seed of every random choice (synthetic traces).
    public var seed: UInt64 = 1
    /// Small variant: fewer points and shorter traces, seconds in a debug build.
    public var fast: Bool = false
    /// The consumers' work for the paper's "x = 300" runs.
    public var heavyConsumer: ConsumerModel = .paperHeavy
    /// WireCAP capture-thread poll interval, ns.
    public var pollIntervalNanoseconds: UInt64 = 2_000
    /// Length of the border-router trace in seconds, overriding 32 s (4 s when fast).
    public var traceSeconds: Double?
    /// The NIC's receive packet buffer per queue: the paper's Intel 82599 (512 KiB).
    public var nicBufferBytes: Int = SimulationConfiguration.intel82599ReceiveBuffer

    public init(seed: UInt64 = 1, fast: Bool = false) {
        self.seed = seed
        self.fast = fast
    }
}

/// What a scenario produces: a CSV table and a JSON summary (with the paper's
/// numbers beside the simulated ones where the paper gives them).
public struct ScenarioOutput: Sendable {
    /// Scenario name (`fig9`, `table1`, …): the files are `<name>.csv` and `<name>.json`.
    public var name: String
    /// The CSV text, header first. Deterministic for a given seed.
    public var csv: String
    /// The JSON summary.
    public var summary: JSONValue
    /// Packets simulated (for speed reports; not written to the files).
    public var simulatedPackets: UInt64 = 0
}

/// A reproduction of one of the paper's figures or tables.
public protocol Scenario: Sendable {
    /// Short name used on the command line and for file names.
    var name: String { get }
    /// One line: what it reproduces.
    var title: String { get }
    /// Runs it.
    func run(_ options: ScenarioOptions) -> ScenarioOutput
}

/// Every scenario, in the paper's order.
public enum Scenarios {
    /// All scenarios by name.
    public static let all: [any Scenario] = [
        Fig3Scenario(), Table1Scenario(), Fig8Scenario(), Fig9Scenario(), Fig10Scenario(), Fig11Scenario(), Fig12Scenario(),
        FlowOffloadScenario(),
    ]

    /// The scenario called `name`, if any.
    public static func named(_ name: String) -> (any Scenario)? { all.first { $0.name == name } }

    /// The border-router model a scenario replays (32 s, or 4 s when fast, or `traceSeconds`).
    public static func borderRouterModel(_ options: ScenarioOptions) -> BorderRouterModel {
        BorderRouterModel.shortened(to: options.traceSeconds ?? (options.fast ? 4 : 32))
    }

    /// The border-router trace a scenario replays.
    public static func borderRouterTrace(_ options: ScenarioOptions) -> PacketTrace {
        borderRouterModel(options).generate(seed: options.seed)
    }
}

/// Builds CSV text with fixed formatting.
struct CSVTable {
    var lines: [String]
    init(_ header: [String]) { lines = [header.map(CSVTable.quote).joined(separator: ",")] }
    /// RFC 4180 quoting for fields with commas, quotes or newlines.
    static func quote(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
    mutating func row(_ fields: [CustomStringConvertible]) {
        lines.append(fields.map { field -> String in
            if let d = field as? Double { return CSVTable.format(d) }
            return CSVTable.quote(field.description)
        }.joined(separator: ","))
    }
    static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String((d * 1e6).rounded() / 1e6)
    }
    var text: String { lines.joined(separator: "\n") + "\n" }
}

extension SimulationConfiguration {
    /// Applies the options every scenario shares (poll interval, NIC buffer).
    mutating func apply(_ options: ScenarioOptions) {
        pollIntervalNanoseconds = options.pollIntervalNanoseconds
        nicBufferBytes = options.nicBufferBytes
    }

    /// A WireCAP-B(M, R) configuration.
    static func wirecapBasic(m: Int, r: Int) -> SimulationConfiguration {
        var c = SimulationConfiguration()
        c.engine = .wirecapBasic
        c.cellsPerChunk = m
        c.chunksPerPool = r
        return c
    }
    /// A WireCAP-A(M, R, T) configuration.
    static func wirecapAdvanced(m: Int, r: Int, t: Int) -> SimulationConfiguration {
        var c = wirecapBasic(m: m, r: r)
        c.engine = .wirecapAdvanced
        c.offloadThresholdPercent = t
        return c
    }
    /// A Type-I or Type-II engine with the paper's ring of 1,024.
    static func baseline(_ engine: EngineKind) -> SimulationConfiguration {
        var c = SimulationConfiguration()
        c.engine = engine
        return c
    }
}
