import WireCapCore
import WireCapSystem

/// The packets of one chunk (or slice) as a consumer sees them: its descriptors
/// read against its pool's memory, each shown as a ``Packet``. What
/// ``CaptureConsumer/packets(of:)`` returns; valid while the chunk is held.
@frozen
public struct ChunkPackets {
    /// Where each packet is (address relative to `base`), its length and time.
    public let descriptors: UnsafeBufferPointer<CellDescriptor>
    /// The memory of the pool the chunk belongs to.
    @usableFromInline let base: UnsafeRawPointer
    /// The device rx queue of the consumer processing the chunk.
    public let queue: Int
    /// The device rx queue the chunk arrived on.
    public let originQueue: Int

    @inlinable
    init(descriptors: UnsafeBufferPointer<CellDescriptor>, base: UnsafeRawPointer, queue: Int, originQueue: Int) {
        self.descriptors = descriptors
        self.base = base
        self.queue = queue
        self.originQueue = originQueue
    }

    /// Packets in the chunk.
    @inlinable public var count: Int { descriptors.count }

    /// Packet `i`, its bytes cut to `snapLength` (the wire length is kept).
    @inlinable @inline(__always)
    public func packet(_ i: Int, snapLength: Int = .max) -> Packet {
        let d = descriptors[i]
        let length = Int(d.length)
        return Packet(bytes: UnsafeRawBufferPointer(start: base + Int(d.address), count: min(length, snapLength)),
                      wireLength: length, timestamp: d.timestamp, queue: queue, originQueue: originQueue)
    }

    /// The same chunk from packet `start` on.
    @inlinable
    public func dropFirst(_ start: Int) -> ChunkPackets {
        ChunkPackets(descriptors: UnsafeBufferPointer(rebasing: descriptors[min(start, descriptors.count)...]),
                     base: base, queue: queue, originQueue: originQueue)
    }
}

/// The consumer endpoint of one queue of a capture engine (either backend):
/// takes captured chunks from the queue's capture queue (its own and offloaded
/// ones), shows their packets in place, and recycles them to their owner.
///
/// Noncopyable, and handed out once per queue by the engine
/// (``CaptureBackend/consumer(_:)``): a capture queue is a single-consumer ring,
/// so there is exactly one endpoint that can take from it.
///
/// Nothing on this path allocates, locks or makes a syscall, except the futex
/// sleep of ``waitChunk(timeoutNanoseconds:)`` when the capture queue is empty.
///
/// - warning: One thread per consumer. The engine must not be closed while a
///   consumer holds chunks or runs.
public struct CaptureConsumer: ~Copyable, @unchecked Sendable {
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

    /// The packets of `handle`, in receive order, as views into its pool's memory.
    /// Valid until the handle is recycled.
    @inlinable
    public func packets(of handle: ChunkHandle) -> ChunkPackets {
        let origin = Int(handle.queue)
        return ChunkPackets(descriptors: group.descriptors(of: handle), base: UnsafeRawPointer(bases[origin]),
                            queue: deviceQueue, originQueue: deviceQueues[origin])
    }

    /// Calls `body` with each packet of `handle`, in receive order, as a view
    /// into its pool's memory. The views must not escape `body`.
    @inlinable
    public func withPackets<E: Error>(of handle: ChunkHandle, _ body: (Packet) throws(E) -> Void) throws(E) {
        let packets = self.packets(of: handle)
        for i in 0..<packets.count { try body(packets.packet(i)) }
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
