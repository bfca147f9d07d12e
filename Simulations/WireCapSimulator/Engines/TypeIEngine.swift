/// The Type-I engine, PF_RING in mode 2 (paper §2.1).
///
/// Each descriptor keeps its own buffer; the kernel (NAPI polling) copies every
/// packet from the ring into the queue's pf_ring buffer and re-arms the descriptor
/// at once. Two servers share the queue's core:
///
/// - the **copy**: `copyNanoseconds` per packet, back to back, with priority (softirq);
///   a packet that finds all N descriptors still waiting for their copy is a
///   capture drop;
/// - the **application**: `receiveNanoseconds` + the consumer's service time per
///   packet, FIFO from pf_ring; every copy that happens while it is busy delays
///   it by the copy time (the core was taken from it: receive livelock at high
///   rates). A packet whose copy completes while pf_ring holds `bufferSlots`
///   packets is a delivery drop.
///
/// With a NIC buffer, frames that find every descriptor waiting for its copy wait
/// on the NIC and enter the ring as descriptors are re-armed.
///
/// Both are evaluated lazily at each arrival (the copy completion time of a packet
/// is known when it arrives, and the application's state at that future instant
/// depends only on packets already accepted), so there are no events. Times are ps.
final class TypeIEngine: SimulatedEngine {
    let n: Int
    let ringSize: UInt64
    let copyPs: UInt64
    let servicePs: UInt64
    let capacity: Int
    let stats: UnsafeMutablePointer<QueueResult>
    let copyDone: UnsafeMutablePointer<UInt64>   // completion of the last accepted copy
    let backlog: UnsafeMutablePointer<Int>       // packets in pf_ring (incl. the one in service)
    let headDone: UnsafeMutablePointer<UInt64>   // completion of the packet in service
    let nic: NICBuffer                           // frames waiting on the NIC for a descriptor

    init(configuration c: SimulationConfiguration) {
        n = c.queues
        ringSize = UInt64(c.ringSize)
        copyPs = UInt64((c.typeI.copyNanoseconds * 1000).rounded())
        servicePs = c.consumer.servicePicoseconds + UInt64((c.typeI.receiveNanoseconds * 1000).rounded())
        capacity = c.typeI.bufferSlots
        stats = .allocate(capacity: n)
        for q in 0..<n { (stats + q).initialize(to: QueueResult(queue: q)) }
        copyDone = .allocate(capacity: n); copyDone.initialize(repeating: 0, count: n)
        backlog = .allocate(capacity: n); backlog.initialize(repeating: 0, count: n)
        headDone = .allocate(capacity: n); headDone.initialize(repeating: 0, count: n)
        nic = NICBuffer(queues: n, capacityBytes: c.nicBufferBytes)
    }

    deinit {
        stats.deinitialize(count: n); stats.deallocate()
        copyDone.deallocate(); backlog.deallocate(); headDone.deallocate()
    }

    /// Lets queue `q`'s application run until `now` (ps).
    @inline(__always)
    func advance(_ q: Int, to now: UInt64) {
        let b = backlog[q]
        guard b > 0, headDone[q] <= now else { return }
        let done = servicePs == 0 ? b : min(b, Int((now &- headDone[q]) / servicePs) &+ 1)
        backlog[q] = b &- done
        stats[q].delivered &+= UInt64(done)
        stats[q].consumed &+= UInt64(done)
        headDone[q] &+= UInt64(done) &* servicePs
    }

    @inline(__always)
    func arrive(index: Int, queue q: Int, time t: UInt64, length: UInt32, events: inout EventQueue) {
        let now = t &* 1000
        stats[q].offered &+= 1
        // Descriptors still holding a packet that waits for its copy.
        let waiting = copyDone[q] > now && copyPs > 0 ? (copyDone[q] &- now &+ copyPs &- 1) / copyPs : 0
        // Frames beyond the ring wait on the NIC; the oldest enter the ring as copies free descriptors.
        let onNIC = waiting > ringSize ? Int(waiting &- ringSize) : 0
        while nic.count[q] > onNIC { _ = nic.pop(q) }
        guard waiting < ringSize || (nic.enabled && nic.push(q, length: length, index: index)) else {
            stats[q].captureDrops &+= 1
            if stats[q].firstDropPacket < 0 { stats[q].firstDropPacket = index }
            return
        }
        let start = max(now, copyDone[q])
        let done = start &+ copyPs
        copyDone[q] = done
        // The application has the core until the copy starts; during the copy it is frozen.
        advance(q, to: start)
        if backlog[q] > 0 { headDone[q] &+= copyPs }
        advance(q, to: done)
        guard backlog[q] < capacity else {
            stats[q].deliveryDrops &+= 1
            if stats[q].firstDropPacket < 0 { stats[q].firstDropPacket = index }
            return
        }
        if backlog[q] == 0 { headDone[q] = done &+ servicePs }
        backlog[q] &+= 1
    }

    func handle(_ event: SimulationEvent, events: inout EventQueue) {}

    func finishArrivals(at time: UInt64) {
        for q in 0..<n { advance(q, to: .max) }
    }

    func results() -> (queues: [QueueResult], invariantViolations: [String]) {
        let problems = (0..<n).filter { backlog[$0] != 0 }.map { "queue \($0): \(backlog[$0]) packets never consumed" }
        return ((0..<n).map { stats[$0] }, problems)
    }
}
