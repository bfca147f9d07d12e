import WireCapCore
import WireCapTrace

/// One simulation: a configuration that replays traces in virtual time.
///
/// ```swift
/// var c = SimulationConfiguration()
/// c.engine = .wirecapBasic; c.chunksPerPool = 500; c.consumer = .paperHeavy
/// let result = try Simulation(c).run(trace: SyntheticTrace.burst(packets: 100_000))
/// print(result.dropRate)
/// ```
///
/// The packet loop is a stream: per packet it reads three arrays, runs every event
/// due before the packet (capture ticks, chunk completions, ordered by time then
/// insertion), and hands the packet to the engine. Nothing is allocated per packet.
public struct Simulation: Sendable {
    /// The validated configuration.
    public let configuration: SimulationConfiguration

    /// Validates `configuration` (one-line ``ConfigurationError`` when invalid).
    public init(_ configuration: SimulationConfiguration) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
    }

    /// Replays `trace` (or its first `packets` packets) and returns per-queue counts.
    public func run(trace: PacketTrace, packets: Int? = nil) -> SimulationResult {
        let limit = min(packets ?? trace.count, trace.count)
        let clock = ContinuousClock()
        let started = clock.now
        let assignment = trace.queueAssignment(queues: configuration.queues, steering: configuration.steering)
        var result: SimulationResult
        switch configuration.engine {
        case .wirecapBasic, .wirecapAdvanced:
            // The configuration was validated, so the core accepts it.
            let engine: WireCapEngine
            do {
                engine = try WireCapEngine(configuration: configuration, flows: trace.flows, flowCount: trace.flowHashes.count)
            } catch { preconditionFailure("\(error)") }
            result = drive(engine, trace: trace, assignment: assignment, limit: limit)
            result.flowOrder = engine.flowOrder
        case .dna, .netmap:
            result = drive(TypeIIEngine(configuration: configuration), trace: trace, assignment: assignment, limit: limit)
        case .pfring:
            result = drive(TypeIEngine(configuration: configuration), trace: trace, assignment: assignment, limit: limit)
        }
        let elapsed = clock.now - started
        result.wallSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return result
    }

    /// Arrival times (ns) for the configured replay speed.
    func arrivalTimes(_ trace: PacketTrace) -> [UInt64] {
        switch configuration.replay {
        case .recorded:
            return trace.timestamps
        case .factor(let f):
            return trace.timestamps.map { UInt64((Double($0) / f).rounded(.down)) }
        case .lineRate(let bps):
            var ps: UInt64 = 0
            var out = [UInt64](repeating: 0, count: trace.count)
            for k in 0..<trace.count {
                out[k] = ps / 1000
                ps &+= SyntheticTrace.wirePicoseconds(length: trace.lengths[k], bitsPerSecond: bps)
            }
            return out
        }
    }

    func drive<E: SimulatedEngine>(_ engine: E, trace: PacketTrace, assignment: [UInt16], limit: Int) -> SimulationResult {
        var events = EventQueue()
        var processed: UInt64 = 0
        let times = arrivalTimes(trace)
        var last: UInt64 = 0
        times.withUnsafeBufferPointer { ts in
            trace.lengths.withUnsafeBufferPointer { lengths in
                assignment.withUnsafeBufferPointer { queue in
                    var next = events.nextTime
                    for k in 0..<limit {
                        let t = ts[k]
                        while next <= t {
                            let e = events.pop().unsafelyUnwrapped
                            engine.handle(e, events: &events)
                            processed &+= 1
                            next = events.nextTime
                        }
                        engine.arrive(index: k, queue: Int(queue[k]), time: t, length: lengths[k], events: &events)
                        next = events.nextTime
                    }
                    last = limit > 0 ? ts[limit - 1] : 0
                }
            }
        }
        engine.finishArrivals(at: last)
        var end = last
        while let e = events.pop() {
            engine.handle(e, events: &events)
            processed &+= 1
            end = max(end, e.time)
        }
        let (queues, problems) = engine.results()
        var result = SimulationResult(
            configuration: configuration, traceName: limit == trace.count ? trace.name : "\(trace.name)[0..<\(limit)]", queues: queues)
        result.events = processed
        result.endTimeNanoseconds = end
        result.lastArrivalNanoseconds = last
        result.invariantViolations = problems
        return result
    }
}
