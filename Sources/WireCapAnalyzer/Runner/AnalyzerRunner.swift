import Atomics
import WireCap
import WireCapSystem
import WireCapEngine

/// Runs an ``Analyzer`` with one worker thread per ``CaptureHandle``.
///
/// Each worker is pinned (to `cpus[w % cpus.count]` when CPUs are given), makes
/// its state once, then runs to completion: it takes a chunk, processes every
/// packet of it through `process(packet:)`, recycles it, and repeats — no queue
/// between capture and analysis beyond the engine's own capture queues, no locks,
/// no allocation per packet. ``stop()`` asks every handle to break; workers
/// finish the packet in hand, recycle, and return their state; the states are
/// merged in worker order.
///
/// Before the capture is opened, ``CaptureSettings/prepare(for:)`` passes what the
/// analyzer needs of flow offload into its settings (``Analyzer/flowAffinity``:
/// strict, an IDS's choice, never splits a flow).
///
/// ```swift
/// let analyzer = TopFlows(limit: 5)
/// settings.prepare(for: analyzer)
/// let capture = try Capture.open(interfaces, configuration: settings)
/// let runner = AnalyzerRunner(analyzer: analyzer, handles: capture.handles)
/// try runner.start()
/// … later …
/// let report = runner.stop()
/// ```
public final class AnalyzerRunner<A: Analyzer>: @unchecked Sendable {
    /// The analyzer.
    public let analyzer: A
    /// The handles, one worker each.
    public let handles: [CaptureHandle]
    /// CPUs for the workers (empty: unpinned).
    public let cpus: [Int]
    /// What workers bypass flows through (``Analyzer/makeState(worker:bypass:)``), if anything.
    public let bypass: FlowBypass?
    @usableFromInline let stopping = ManagedAtomic<Bool>(false)
    @usableFromInline var threads: [SystemThread] = []
    // One slot per worker, written by the worker before it returns; read after join.
    @usableFromInline var slots: [Slot]

    @usableFromInline final class Slot: @unchecked Sendable {
        @usableFromInline var state: A.State?
        @usableFromInline var packets: UInt64 = 0
        @usableFromInline init() {}
    }

    /// - Parameter bypass: the capture's ``Capture/flowBypass``, for analyzers that bypass flows.
    public init(analyzer: A, handles: [CaptureHandle], cpus: [Int] = [], bypass: FlowBypass? = nil) {
        self.analyzer = analyzer
        self.handles = handles
        self.cpus = cpus
        self.bypass = bypass
        slots = handles.map { _ in Slot() }
    }

    /// Starts the workers.
    ///
    /// Inlinable, so the worker loop is specialised for the caller's analyzer:
    /// `process(packet:)` is a direct (inlinable) call per packet, not a witness call.
    /// - Throws: ``CaptureError`` when a thread cannot be created.
    @inlinable
    public func start() throws(CaptureError) {
        precondition(threads.isEmpty, "AnalyzerRunner.start() called twice")
        for (w, handle) in handles.enumerated() {
            let slot = slots[w]
            let analyzer = self.analyzer, bypass = self.bypass
            let pin = cpus.isEmpty ? [] : [cpus[w % cpus.count]]
            do {
                threads.append(try SystemThread(name: "wc-analyze-\(w)", cpus: pin) { [self] in
                    var state = analyzer.makeState(worker: w, bypass: bypass)
                    // Relaxed: the flag carries no data; the join publishes the state.
                    while !stopping.load(ordering: .relaxed) {
                        if Self.step(handle, &state) == .finished { break }
                    }
                    slot.state = state
                    slot.packets = handle.stats().processed
                })
            } catch { throw CaptureError(error) }
        }
    }

    /// One step of a worker: the packets of at most one chunk of `handle` through
    /// `state` (a `dispatch`). Inlinable, so it is specialised for the analyzer at
    /// the caller; the benchmarks measure the worker's per-packet cost through it.
    @inlinable
    public static func step(_ handle: CaptureHandle, _ state: inout A.State) -> DispatchResult {
        handle.dispatch { state.process(packet: $0) }
    }

    /// Packets processed so far by all workers (approximate while running).
    public var packetsProcessed: UInt64 { handles.reduce(0) { $0 &+ $1.stats().queue.packetsConsumed } }

    /// Stops the workers (they finish the packet in hand), merges their states in
    /// worker order and returns the analyzer's report. Idempotent in effect.
    public func stop() -> AnalysisReport {
        analyzer.report(stopAndMerge())
    }

    /// Like ``stop()``, returning the merged state itself.
    public func stopAndMerge() -> A.State {
        // Relaxed: the flag carries no data; the join publishes the states.
        stopping.store(true, ordering: .relaxed)
        handles.forEach { $0.breakLoop() }
        threads.forEach { $0.join() }
        threads = []
        return Self.merge(slots.map { $0.state ?? analyzer.makeState(worker: 0) })
    }

    /// Waits for workers that end on their own (the source finished), then merges.
    public func wait() -> A.State {
        threads.forEach { $0.join() }
        threads = []
        return Self.merge(slots.map { $0.state ?? analyzer.makeState(worker: 0) })
    }

    static func merge(_ states: [A.State]) -> A.State {
        var merged = states[0]
        for s in states.dropFirst() { merged.merge(s) }
        return merged
    }
}
