/// Type-II engines, DNA and NETMAP (paper §2.1): the receive ring's buffers are
/// the data capture buffer. A descriptor is ready for the NIC again only after the
/// application has consumed its packet, so at most N packets (N−1 for netmap,
/// which keeps one slot empty) can wait; the next one is a capture drop.
///
/// - DNA releases each slot as soon as its packet is consumed.
/// - NETMAP hands the application a batch at each `NIOCRXSYNC`/`poll()` (every
///   packet in the ring at that moment) and returns the batch's slots to the NIC
///   only at the next sync, after the whole batch was processed.
///
/// The consumer is a FIFO server with a constant service time, so its progress
/// is computed lazily at each arrival in O(1) (DNA) or O(batches) (NETMAP): no
/// events at all. Times inside are picoseconds.
final class TypeIIEngine: SimulatedEngine {
    let n: Int
    let batchRelease: Bool
    let servicePs: UInt64
    let stats: UnsafeMutablePointer<QueueResult>
    let ready: UnsafeMutablePointer<Int>      // descriptors the NIC may fill
    let backlog: UnsafeMutablePointer<Int>    // DNA: packets waiting or in service; NETMAP: packets in the current batch
    let pending: UnsafeMutablePointer<Int>    // NETMAP: packets that arrived after the current batch was taken
    let mark: UnsafeMutablePointer<UInt64>    // DNA: completion of the head packet; NETMAP: end of the current batch (ps)
    let ringSlots: Int
    let nic: NICBuffer                        // frames waiting on the NIC for a descriptor

    init(configuration c: SimulationConfiguration) {
        n = c.queues
        batchRelease = c.engine == .netmap
        servicePs = c.consumer.servicePicoseconds
        stats = .allocate(capacity: n)
        for q in 0..<n { (stats + q).initialize(to: QueueResult(queue: q)) }
        ready = .allocate(capacity: n); ready.initialize(repeating: batchRelease ? c.ringSize - 1 : c.ringSize, count: n)
        backlog = .allocate(capacity: n); backlog.initialize(repeating: 0, count: n)
        pending = .allocate(capacity: n); pending.initialize(repeating: 0, count: n)
        mark = .allocate(capacity: n); mark.initialize(repeating: 0, count: n)
        ringSlots = batchRelease ? c.ringSize - 1 : c.ringSize
        nic = NICBuffer(queues: n, capacityBytes: c.nicBufferBytes)
    }

    deinit {
        stats.deinitialize(count: n); stats.deallocate()
        ready.deallocate(); backlog.deallocate(); pending.deallocate(); mark.deallocate()
    }

    /// Lets queue `q`'s consumer run until `now` (ps).
    @inline(__always)
    func advance(_ q: Int, to now: UInt64) {
        if batchRelease {
            while backlog[q] > 0 && mark[q] <= now {
                let done = backlog[q]
                ready[q] &+= done
                stats[q].delivered &+= UInt64(done)
                stats[q].consumed &+= UInt64(done)
                // The sync returns the slots; frames waiting on the NIC take them at once.
                while nic.count[q] > 0 && ready[q] > 0 {
                    _ = nic.pop(q)
                    ready[q] &-= 1
                    pending[q] &+= 1
                }
                let next = pending[q]
                pending[q] = 0
                backlog[q] = next
                mark[q] &+= UInt64(next) &* servicePs  // the next sync happens as the batch ends
            }
        } else {
            // Frames waiting on the NIC enter the ring as descriptors free up, so while
            // any wait the consumer is never idle: ring and NIC buffer form one FIFO.
            let waiting = nic.count[q]
            let b = backlog[q] &+ waiting
            guard b > 0, mark[q] <= now else { return }
            let done = servicePs == 0 ? b : min(b, Int((now &- mark[q]) / servicePs) &+ 1)
            stats[q].delivered &+= UInt64(done)
            stats[q].consumed &+= UInt64(done)
            mark[q] &+= UInt64(done) &* servicePs
            let moved = min(waiting, done)
            for _ in 0..<moved { _ = nic.pop(q) }
            backlog[q] = b &- done &- (waiting &- moved)
            ready[q] = ringSlots &- backlog[q]
        }
    }

    @inline(__always)
    func arrive(index: Int, queue q: Int, time t: UInt64, length: UInt32, events: inout EventQueue) {
        let now = t &* 1000
        stats[q].offered &+= 1
        advance(q, to: now)
        guard ready[q] > 0 else {
            if nic.enabled && nic.push(q, length: length, index: index) { return }
            stats[q].captureDrops &+= 1
            if stats[q].firstDropPacket < 0 { stats[q].firstDropPacket = index }
            return
        }
        ready[q] &-= 1
        if batchRelease {
            if backlog[q] == 0 {  // an idle application wakes from poll() with this packet
                backlog[q] = 1
                mark[q] = now &+ servicePs
            } else {
                pending[q] &+= 1
            }
        } else {
            if backlog[q] == 0 { mark[q] = now &+ servicePs }
            backlog[q] &+= 1
        }
    }

    func handle(_ event: SimulationEvent, events: inout EventQueue) {}

    func finishArrivals(at time: UInt64) {
        for q in 0..<n { advance(q, to: .max) }
    }

    func results() -> (queues: [QueueResult], invariantViolations: [String]) {
        var problems: [String] = []
        for q in 0..<n where backlog[q] != 0 || pending[q] != 0 || nic.count[q] != 0 {
            problems.append("queue \(q): \(backlog[q] + pending[q] + nic.count[q]) packets never consumed")
        }
        return ((0..<n).map { stats[$0] }, problems)
    }
}
