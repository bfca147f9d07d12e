import CXDP
import WireCapCore

/// The consumer endpoint of one socket of an ``AFPacketEngine``: takes retired
/// TPACKET_V3 blocks from its capture queue (its own socket's and, in advanced
/// mode, offloaded ones), walks their packets in place, recycles the blocks to
/// their socket's capture thread.
///
/// Nothing here allocates, locks or makes a syscall, except the futex sleep of
/// ``waitChunk(timeoutNanoseconds:)`` when the capture queue is empty.
///
/// - warning: One thread per consumer; the engine must outlive it.
public struct AFPacketConsumer: ChunkConsumer, @unchecked Sendable {
    public let index: Int
    @usableFromInline let group: BuddyGroup
    /// Ring base address per socket.
    @usableFromInline let rings: UnsafePointer<UnsafeMutableRawPointer>
    /// Label per socket (``PacketView/originQueue``).
    @usableFromInline let labels: UnsafePointer<Int>
    @usableFromInline let blockSize: Int
    let wakeups: ConsumerWakeups

    init(index: Int, group: BuddyGroup, rings: UnsafeMutablePointer<UnsafeMutableRawPointer>,
         labels: UnsafeMutablePointer<Int>, blockSize: Int, wakeups: ConsumerWakeups) {
        self.index = index
        self.group = group
        self.rings = UnsafePointer(rings)
        self.labels = UnsafePointer(labels)
        self.blockSize = blockSize
        self.wakeups = wakeups
    }

    @inlinable
    public func nextChunk() -> ChunkHandle? { group.nextChunk(consumer: index) }

    /// The next block, sleeping on the consumer's futex word up to
    /// `timeoutNanoseconds` (see ``ConsumerWakeups``). - Returns: nil after the timeout.
    public func waitChunk(timeoutNanoseconds: UInt64) -> ChunkHandle? {
        if let handle = group.nextChunk(consumer: index) { return handle }
        let deadline = Sys.monotonicNanoseconds() &+ timeoutNanoseconds
        let group = self.group
        let index = self.index
        while true {
            let now = Sys.monotonicNanoseconds()
            if now >= deadline { return nil }
            wakeups.sleep(consumer: index, timeoutNanoseconds: deadline &- now) { group.captureQueueLength(index) > 0 }
            if let handle = group.nextChunk(consumer: index) { return handle }
        }
    }

    /// Calls `body` with each packet of the block `handle` names, following
    /// `tp_next_offset` from the block's first packet. The frame starts at
    /// `tp_mac`; its captured length is `tp_snaplen`; the timestamp is the
    /// kernel's (`tp_sec`, `tp_nsec`, CLOCK_REALTIME). The block is ours until
    /// recycled (plain loads: the lane's acquire ordered the kernel's writes,
    /// see ``AFPacketRing/pass()``).
    @inlinable
    public func withPackets(of handle: ChunkHandle, _ body: (PacketView) throws -> Void) rethrows {
        let origin = Int(handle.queue)
        let block = UnsafeRawPointer(rings[origin]) + Int(handle.chunk) &* blockSize
        let originLabel = labels[origin]
        var offset = Int(block.load(fromByteOffset: 16, as: UInt32.self))   // hdr.bh1.offset_to_first_pkt
        for _ in 0..<handle.count {
            let packet = block + offset
            let h = packet.assumingMemoryBound(to: tpacket3_hdr.self)
            let timestamp = UInt64(h.pointee.tp_sec) &* 1_000_000_000 &+ UInt64(h.pointee.tp_nsec)
            try body(PacketView(bytes: UnsafeRawBufferPointer(start: packet + Int(h.pointee.tp_mac), count: Int(h.pointee.tp_snaplen)),
                                timestamp: timestamp, rxQueue: index, originQueue: originLabel))
            offset &+= Int(h.pointee.tp_next_offset)
        }
    }

    @inlinable
    public func recycle(_ handle: ChunkHandle) { group.recycle(handle, consumer: index) }

    public func countDeliveryDrops(_ packets: Int) { group.countDeliveryDrops(packets, consumer: index) }
}
