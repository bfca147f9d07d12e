import WireCapCore

/// The consumer endpoint of one socket of an ``AFPacketEngine``: takes retired
/// TPACKET_V3 blocks from its capture queue (its own socket's and, in advanced
/// mode, offloaded ones), shows their packets in place, recycles the blocks to
/// their socket's capture thread.
///
/// Packets are read exactly as ``CaptureConsumer`` reads AF_XDP chunks: through
/// the descriptors the capture thread wrote for the block
/// (``BuddyGroup/descriptors(of:)``, see ``AFPacketEngine``) plus the ring base of
/// the block's socket. Nothing here allocates, locks or makes a syscall, except
/// the futex sleep of ``waitChunk(timeoutNanoseconds:)`` when the capture queue is empty.
///
/// - warning: One thread per consumer; the engine must outlive it.
public struct AFPacketConsumer: ChunkConsumer, @unchecked Sendable {
    public let index: Int
    @usableFromInline let group: BuddyGroup
    /// Ring base address per socket (descriptor addresses are offsets from it).
    @usableFromInline let rings: UnsafePointer<UnsafeMutableRawPointer>
    /// Label per socket (``PacketView/originQueue``).
    @usableFromInline let labels: UnsafePointer<Int>
    let wakeups: ConsumerWakeups

    init(index: Int, group: BuddyGroup, rings: UnsafeMutablePointer<UnsafeMutableRawPointer>,
         labels: UnsafeMutablePointer<Int>, wakeups: ConsumerWakeups) {
        self.index = index
        self.group = group
        self.rings = UnsafePointer(rings)
        self.labels = UnsafePointer(labels)
        self.wakeups = wakeups
    }

    @inlinable
    public func nextChunk() -> ChunkHandle? { group.nextChunk(consumer: index) }

    /// The next block, sleeping on the consumer's futex word up to
    /// `timeoutNanoseconds` (see ``ConsumerWakeups``). - Returns: nil after the timeout.
    public func waitChunk(timeoutNanoseconds: UInt64) -> ChunkHandle? {
        waitChunk(timeoutNanoseconds: timeoutNanoseconds, unless: { false })
    }

    /// Like ``waitChunk(timeoutNanoseconds:)``, but also returns `nil` as soon as
    /// `stop()` is true: checked before sleeping and after every wake-up. Whoever
    /// makes `stop()` true must then call ``interruptWait()``.
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

    /// Wakes this consumer if it sleeps in ``waitChunk(timeoutNanoseconds:unless:)``.
    /// Any thread; call it after making the stop condition true.
    public func interruptWait() {
        wakeups.interrupt(consumer: index)
    }

    /// Calls `body` with each packet of the block `handle` names, in receive order:
    /// the frame (from `tp_mac`, `tp_snaplen` bytes) and the kernel's timestamp
    /// (CLOCK_REALTIME), from the block's descriptors. The block is ours until
    /// recycled (plain loads: the lane's acquire ordered the capture thread's
    /// descriptor stores and, before them, the kernel's writes; see
    /// ``AFPacketRing/pass()``). The views must not escape `body`.
    @inlinable
    public func withPackets(of handle: ChunkHandle, _ body: (PacketView) throws -> Void) rethrows {
        let origin = Int(handle.queue)
        let base = UnsafeRawPointer(rings[origin])
        let originLabel = labels[origin]
        let own = index
        for d in group.descriptors(of: handle) {
            try body(PacketView(bytes: UnsafeRawBufferPointer(start: base + Int(d.address), count: Int(d.length)),
                                timestamp: d.timestamp, rxQueue: own, originQueue: originLabel))
        }
    }

    @inlinable
    public func recycle(_ handle: ChunkHandle) { group.recycle(handle, consumer: index) }

    public func countDeliveryDrops(_ packets: Int) { group.countDeliveryDrops(packets, consumer: index) }
}
