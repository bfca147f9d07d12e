import WireCapCore
import WireCapSystem

/// One received packet, seen in place in UMEM (zero-copy).
///
/// Only valid inside ``CaptureConsumer/withPackets(of:_:)``: the frame belongs
/// to the chunk, and the chunk goes back to the kernel after ``CaptureConsumer/recycle(_:)``.
/// Never store `bytes` or the view itself.
@frozen
public struct PacketView {
    /// The packet's bytes, starting at the Ethernet header (frame headroom is 0).
    public let bytes: UnsafeRawBufferPointer
    /// Capture time: CLOCK_REALTIME nanoseconds, read once per received batch.
    public let timestamp: UInt64
    /// The device rx queue whose consumer is processing this packet (where it was delivered).
    public let rxQueue: Int
    /// The device rx queue the packet arrived on (its pool's queue). Differs from
    /// ``rxQueue`` when the chunk was offloaded to a buddy (advanced mode).
    public let originQueue: Int

    /// Captured length in bytes.
    @inlinable public var length: Int { bytes.count }

    @inlinable
    package init(bytes: UnsafeRawBufferPointer, timestamp: UInt64, rxQueue: Int, originQueue: Int) {
        self.bytes = bytes
        self.timestamp = timestamp
        self.rxQueue = rxQueue
        self.originQueue = originQueue
    }
}

/// The consumer endpoint of one queue of a ``CaptureEngine``: takes captured
/// chunks from the queue's capture queue (its own and offloaded ones), shows
/// their packets in place, and recycles them to their owner.
///
/// Nothing on this path allocates, locks or makes a syscall, except the futex
/// sleep of ``waitChunk(timeoutNanoseconds:)`` when the capture queue is empty.
///
/// - warning: One thread per consumer. The engine must not be closed while a
///   consumer holds chunks or runs.
public struct CaptureConsumer: @unchecked Sendable {
    /// Index of the queue in the engine's buddy group.
    public let index: Int
    /// The device rx queue this consumer serves.
    public let deviceQueue: Int
    @usableFromInline package let group: BuddyGroup
    /// UMEM base address per group index.
    @usableFromInline package let bases: UnsafePointer<UnsafeMutableRawPointer>
    /// Device queue per group index.
    @usableFromInline package let deviceQueues: UnsafePointer<Int>
    package let wakeups: ConsumerWakeups

    package init(index: Int, group: BuddyGroup, bases: UnsafePointer<UnsafeMutableRawPointer>, deviceQueues: UnsafePointer<Int>,
         wakeups: ConsumerWakeups) {
        self.index = index
        self.group = group
        self.bases = bases
        self.deviceQueues = deviceQueues
        self.wakeups = wakeups
        deviceQueue = deviceQueues[index]
    }

    /// The next captured chunk or slice, or `nil` at once when none waits.
    @inlinable
    public func nextChunk() -> ChunkHandle? {
        group.nextChunk(consumer: index)
    }

    /// The next chunk, waiting up to `timeoutNanoseconds`.
    ///
    /// Sleeps on a futex until a capture thread places a chunk on this consumer's
    /// capture queue (see ``ConsumerWakeups``): one wake-up per chunk at most, and
    /// none while chunks keep coming. Returns `nil` after the timeout.
    public func waitChunk(timeoutNanoseconds: UInt64) -> ChunkHandle? {
        waitChunk(timeoutNanoseconds: timeoutNanoseconds, unless: { false })
    }

    /// Like ``waitChunk(timeoutNanoseconds:)``, but also returns `nil` as soon as
    /// `stop()` is true: checked before sleeping and after every wake-up. Whoever
    /// makes `stop()` true must then call ``interruptWait()`` so a sleeping wait
    /// sees it at once.
    public func waitChunk(timeoutNanoseconds: UInt64, unless stop: () -> Bool) -> ChunkHandle? {
        if let handle = group.nextChunk(consumer: index) { return handle }
        let deadline = Sys.monotonicNanoseconds() &+ timeoutNanoseconds
        let group = self.group
        let index = self.index
        while true {
            if stop() { return nil }
            let now = Sys.monotonicNanoseconds()
            if now >= deadline { return nil }
            wakeups.sleep(consumer: index, timeoutNanoseconds: deadline &- now) {
                group.captureQueueLength(index) > 0 || stop()
            }
            if let handle = group.nextChunk(consumer: index) { return handle }
        }
    }

    /// Wakes this consumer if it sleeps in ``waitChunk(timeoutNanoseconds:unless:)``,
    /// so it re-checks its stop condition. Any thread; call it after making the
    /// condition true (the wake-up's fences order that store before the check).
    public func interruptWait() {
        wakeups.interrupt(consumer: index)
    }

    /// Calls `body` with each packet of `handle`, in receive order, as a view
    /// into UMEM. The views must not escape `body`.
    @inlinable
    public func withPackets(of handle: ChunkHandle, _ body: (PacketView) throws -> Void) rethrows {
        let origin = Int(handle.queue)
        let base = UnsafeRawPointer(bases[origin])
        let originDevice = deviceQueues[origin]
        let own = deviceQueue
        for d in group.descriptors(of: handle) {
            try body(PacketView(
                bytes: UnsafeRawBufferPointer(start: base + Int(d.address), count: Int(d.length)),
                timestamp: d.timestamp, rxQueue: own, originQueue: originDevice))
        }
    }

    /// Gives the chunk back to its owner queue's capture thread.
    @inlinable
    public func recycle(_ handle: ChunkHandle) {
        group.recycle(handle, consumer: index)
    }

    /// Records what became of `packets` packets of `handle` (delivered, filtered,
    /// sampled, dropped after delivery), accounted to the queue they arrived on.
    /// Once per chunk.
    @inlinable
    public func count(_ counter: OriginCounter, _ packets: Int, of handle: ChunkHandle) {
        group.count(counter, packets, origin: Int(handle.queue), consumer: index)
    }
}
