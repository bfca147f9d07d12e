/// An engine model the run loop drives: packets arrive one by one in time order,
/// scheduled events are handed back, and at the end the engine drains and reports.
///
/// The run loop is generic over this protocol so each engine's arrival path is
/// specialised and inlined into the packet loop.
protocol SimulatedEngine: AnyObject {
    /// Packet `index` (trace order) arrives at queue `queue` at `time` ns.
    func arrive(index: Int, queue: Int, time: UInt64, length: UInt32, events: inout EventQueue)
    /// A scheduled event is due (the clock is at `event.time`).
    func handle(_ event: SimulationEvent, events: inout EventQueue)
    /// No more arrivals: let every consumer finish (lazy engines advance to the end
    /// here; event-driven ones finish through their events).
    func finishArrivals(at time: UInt64)
    /// Per-queue counts and invariant problems after the run.
    func results() -> (queues: [QueueResult], invariantViolations: [String])
}
