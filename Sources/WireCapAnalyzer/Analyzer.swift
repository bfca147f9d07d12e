import WireCap

/// A packet analysis that runs on several workers at once.
///
/// Each worker owns one ``State`` made by ``makeState(worker:)`` once, before
/// any packet; ``AnalyzerState/process(packet:)`` is the hot path (no locks, no
/// sharing: the state is the worker's alone). At the end the runner merges the
/// states in worker order with ``AnalyzerState/merge(_:)`` and asks for a
/// ``report(_:)``.
///
/// After an offload (advanced mode) packets of one flow may be processed by two
/// workers, so per-flow results must be *mergeable*: sums, not "last seen"
/// (see ``FlowTable``). With flow offload (the default of advanced mode) a flow
/// is processed by one worker at a time and in order: it reaches a second worker
/// only when its bucket moved (after the first worker finished all its packets) or
/// was spread (a flow heavier than one worker, counted in
/// ``QueueStatistics/packetsSpread``); ``flowAffinity`` `.strict` forbids the latter.
public protocol Analyzer: Sendable {
    /// The per-worker state.
    associatedtype State: AnalyzerState
    /// A short name for reports (`counters`, `top-flows`, …).
    var name: String { get }
    /// Creates the state of worker `worker` (called once per worker, off the hot path).
    func makeState(worker: Int) -> State
    /// Creates the state of worker `worker`, which may bypass flows through `bypass`
    /// (``FlowBypass/bypass(flow:for:idle:)``): the ``AnalyzerRunner``'s `bypass`, nil
    /// unless it was given one (`capture.flowBypass`). Default: ``makeState(worker:)``,
    /// for analyzers that never bypass.
    func makeState(worker: Int, bypass: FlowBypass?) -> State
    /// Describes the merged state.
    func report(_ merged: State) -> AnalysisReport
    /// What the analysis needs of flow offload (``CaptureSettings/prepare(for:)``
    /// passes it into the capture's configuration). Default: ``FlowAffinity/preferred``.
    var flowAffinity: FlowAffinity { get }
}

extension Analyzer {
    public func makeState(worker: Int, bypass: FlowBypass?) -> State { makeState(worker: worker) }
    public var flowAffinity: FlowAffinity { .preferred }
}

/// How strictly an analysis needs each flow on one worker (issue 15).
public enum FlowAffinity: String, Sendable, Hashable, Codable {
    /// Flow offload keeps a flow on one worker at a time and in order; a flow
    /// heavier than one worker can take is spread over workers (its packets are
    /// counted as spread) rather than dropped. The default.
    case preferred
    /// Never split a flow: one heavier than its worker stays there, and what the
    /// worker cannot take is dropped when the pool fills up, counted in the ledger.
    /// What an IDS wants: its per-flow state never has to be merged across workers.
    case strict
}

extension CaptureSettings {
    /// Passes what `analyzer` needs of flow offload into these settings before the
    /// capture is opened for an ``AnalyzerRunner``: with ``FlowAffinity/strict``,
    /// strict flow affinity, and in advanced mode flow offload (chunk offload would
    /// split every flow of an overloaded queue). ``FlowAffinity/preferred`` changes
    /// nothing. Basic mode never splits a flow anyway (nothing is offloaded).
    public mutating func prepare<A: Analyzer>(for analyzer: A) {
        guard analyzer.flowAffinity == .strict else { return }
        engine.core.strictFlowAffinity = true
        if engine.core.mode == .advanced { engine.core.offload = .flow }
    }
}

/// The state of one worker of an ``Analyzer``.
public protocol AnalyzerState {
    /// Processes one packet. The view is valid only during the call.
    mutating func process(packet: Packet)
    /// Adds another worker's state into this one (exactly: the result must not
    /// depend on how packets were split between workers).
    mutating func merge(_ other: Self)
}

/// What an analyzer reports: human lines and machine values.
public struct AnalysisReport: Sendable, Codable, Hashable {
    /// The analyzer's name.
    public var name: String
    /// Lines for people.
    public var lines: [String]
    /// Named numbers for programs (`--json`).
    public var values: [String: UInt64]
    /// Ranked rows (top-N tables), each a list of columns.
    public var rows: [[String]]

    public init(name: String, lines: [String], values: [String: UInt64] = [:], rows: [[String]] = []) {
        self.name = name
        self.lines = lines
        self.values = values
        self.rows = rows
    }
}
