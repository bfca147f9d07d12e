/// The backend-independent part of one queue's capture thread (paper §3.2.2a,
/// Figure 7): attach free chunks, record received packets, hand full (or timed-out)
/// chunks to the buddy group, and take recycled chunks back.
///
/// A backend (the AF_XDP engine, the simulator) owns the rings the kernel sees and
/// calls, once per loop iteration:
///
/// ```
///   driver.reclaim()                       // recycle queue → pool (validated)
///   for each received descriptor:
///       driver.record(address:length:timestamp:)
///   driver.deliver(now:)                   // full / timed-out chunks → capture queues
///   driver.refill(room:) { addr in post addr to the fill ring }
/// ```
///
/// - warning: One thread (the queue's capture thread) uses a driver.
public struct CaptureDriver: @unchecked Sendable {
    /// The group the queue belongs to.
    public let group: BuddyGroup
    /// The queue's index in the group.
    public let queue: Int
    /// The queue's pool.
    public let pool: ChunkPool
    @usableFromInline let counters: CounterBlock
    @usableFromInline let timeout: UInt64
    @usableFromInline let m: Int

    public init(group: BuddyGroup, queue: Int) {
        self.group = group
        self.queue = queue
        pool = group.pools[queue]
        counters = group.captureCounters(queue)
        timeout = group.configuration.partialTimeoutNanoseconds
        m = group.configuration.geometry.cellsPerChunk
    }

    /// Attaches free chunks while the fill ring has room for a whole chunk, calling
    /// `post` with each of their M frame addresses in cell order.
    /// - Returns: frames posted.
    @inlinable
    public func refill(room: Int, _ post: (UInt64) -> Void) -> Int {
        var room = room
        var posted = 0
        while room >= m, let chunk = pool.attach() {
            for cell in 0..<UInt32(m) { post(pool.frameAddress(chunk: chunk, cell: cell)) }
            room -= m
            posted += m
        }
        return posted
    }

    /// Records one received packet (see ``ChunkPool/record(address:length:timestamp:)``).
    @inlinable @inline(__always)
    public func record(address: UInt64, length: UInt32, timestamp: UInt64) -> Bool {
        pool.record(address: address, length: length, timestamp: timestamp)
    }

    /// Records one received packet with a wall-clock `timestamp` and an `arrival` on
    /// the deadline clock (see ``ChunkPool/record(address:length:timestamp:arrival:)``).
    @inlinable @inline(__always)
    public func record(address: UInt64, length: UInt32, timestamp: UInt64, arrival: UInt64, flags: UInt32 = 0,
                       bucket: UInt16 = 0) -> Bool {
        pool.record(address: address, length: length, timestamp: timestamp, arrival: arrival, flags: flags, bucket: bucket)
    }

    /// Adds a batch's totals to the received counters (once per batch, not per packet).
    @inlinable
    public func countReceived(packets: Int, bytes: Int) {
        counters.add(CaptureCounter.packetsReceived.rawValue, UInt64(packets))
        counters.add(CaptureCounter.bytesReceived.rawValue, UInt64(bytes))
    }

    /// Hands every deliverable chunk or slice to the buddy group (under pressure,
    /// spilling; see ``ChunkPool``), then publishes the pool's counters.
    /// - Returns: packets delivered.
    @inlinable
    @discardableResult
    public func deliver(now: UInt64) -> Int {
        let group = self.group
        let queue = self.queue
        group.schedule(queue: queue, now: now)
        // Asked only when an open spill block is due: would it wait behind other handles?
        let delivered = pool.deliverReady(now: now, timeout: timeout, holdSpill: { !group.wouldBeTakenAtOnce(from: queue, route: $0) }) {
            group.place($0, from: queue)
        }
        group.publish(queue: queue)
        // Held slices a reclaim (or this tick) released count too: their consumer must be woken.
        return delivered &+ group.takeReleased(queue: queue)
    }

    /// Takes every recycled handle back into the pool (each validated).
    /// - Returns: handles accepted.
    @inlinable
    @discardableResult
    public func reclaim() -> Int {
        var accepted = 0
        while let handle = group.nextRecycled(owner: queue) {
            if pool.recycle(handle) == nil {
                accepted += 1
                group.recycled(handle, owner: queue)
            }
        }
        return accepted
    }

    /// The earliest time (deadline clock) at which a partly filled chunk will be
    /// due, if any packets wait: lets a backend sleep exactly until then.
    public func nextPartialDeadline() -> UInt64? {
        // Waiting for a spill block or a handle to come back: no deadline helps, a recycle does.
        if pool.waitsForRecycle { return nil }
        let chunks = pool.oldestPendingArrival().map { $0 &+ timeout }
        guard let block = pool.openBlockDeadline(timeout: timeout) else { return chunks }
        return min(chunks ?? block, block)
    }

    /// Hands every received-but-undelivered packet to the buddy group now, whatever
    /// its age (the shutdown flush). - Returns: packets delivered.
    @discardableResult
    public func flush() -> Int {
        let group = self.group
        let queue = self.queue
        let delivered = pool.deliverReady(now: UInt64.max, timeout: 0) { group.place($0, from: queue) }
        group.releaseIfDrained(queue: queue)
        group.publish(queue: queue)
        return delivered &+ group.takeReleased(queue: queue)
    }

    /// Packets received and not yet in a capture queue: undelivered in the pool, or
    /// waiting for a flow move's drain (the shutdown flush waits for both).
    public var undeliveredPackets: Int { pool.undeliveredPackets + group.heldPackets(queue: queue) }
}

extension ChunkPool {
    /// Arrival time (deadline clock) of the oldest received-but-undelivered packet, if any.
    public func oldestPendingArrival() -> UInt64? {
        var oldest: UInt64?
        for i in 0..<attachedCount {
            let c = Int(attachedList[i])
            if returned[c] > delivered[c] {
                let t = pendingSince[c]
                if oldest == nil || t < oldest! { oldest = t }
            }
        }
        return oldest
    }

    /// Packets received into attached chunks or copied into the open spill block,
    /// and not yet handed out.
    public var undeliveredPackets: Int {
        var k = openBlockPackets
        for i in 0..<attachedCount {
            let c = Int(attachedList[i])
            k &+= Int(returned[c] &- delivered[c])
        }
        return k
    }
}
