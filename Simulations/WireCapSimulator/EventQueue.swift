/// What a scheduled event does.
public enum EventKind: UInt8, Sendable {
    /// A queue's capture thread runs (reclaim, deliver, refill).
    case captureTick
    /// A consumer finishes the chunk it was processing.
    case consumerDone
}

/// One scheduled event: at `time` (virtual ns), `kind` for queue or consumer `target`.
@frozen
public struct SimulationEvent: Sendable {
    public var time: UInt64
    public var sequence: UInt64
    public var kind: EventKind
    public var target: UInt32

    @inlinable
    public init(time: UInt64, sequence: UInt64, kind: EventKind, target: UInt32) {
        self.time = time
        self.sequence = sequence
        self.kind = kind
        self.target = target
    }
}

/// The virtual clock's agenda, like NIOEmbedded's `EmbeddedEventLoop`: events run
/// in order of (time, insertion sequence), so two events at the same instant run
/// in the order they were scheduled and every run is deterministic.
///
/// A binary min-heap in one contiguous array: scheduling allocates nothing once
/// the array has grown to the number of pending events (about two per queue).
/// Packets are never events; only capture-thread ticks and chunk completions are.
public struct EventQueue: Sendable {
    @usableFromInline var heap: ContiguousArray<SimulationEvent> = []
    @usableFromInline var nextSequence: UInt64 = 0

    /// An empty agenda.
    public init() { heap.reserveCapacity(64) }

    /// Pending events.
    @inlinable public var count: Int { heap.count }
    /// Time of the earliest event, or `UInt64.max` when there is none.
    @inlinable public var nextTime: UInt64 { heap.isEmpty ? .max : heap[0].time }

    @inlinable
    static func before(_ a: SimulationEvent, _ b: SimulationEvent) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }

    /// Schedules an event.
    @inlinable
    public mutating func schedule(at time: UInt64, _ kind: EventKind, target: Int) {
        let e = SimulationEvent(time: time, sequence: nextSequence, kind: kind, target: UInt32(target))
        nextSequence &+= 1
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !Self.before(e, heap[parent]) { break }
            heap[i] = heap[parent]
            i = parent
        }
        heap[i] = e
    }

    /// Removes and returns the earliest event.
    @inlinable
    public mutating func pop() -> SimulationEvent? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = r < n && Self.before(heap[r], heap[l]) ? r : l
            if !Self.before(heap[c], last) { break }
            heap[i] = heap[c]
            i = c
        }
        heap[i] = last
        return top
    }
}
