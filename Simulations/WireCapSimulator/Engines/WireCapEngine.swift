import WireCapCore

/// WireCAP-B(M, R) and WireCAP-A(M, R, T), single-threaded in virtual time on
/// WireCapCore's own code: the pools, the work-queue lanes, the offload policy
/// and the capture thread's logic (``CaptureDriver``) are the live engine's.
///
/// What the simulator adds is the kernel and the threads around them:
///
/// ```
///  packet ──▶ fill FIFO of queue q (N frame addresses, posted by refill)
///               │ empty → waits in the NIC buffer (if modelled) for the next refill,
///               │         else capture drop (pool exhausted, or capture thread late)
///               ▼ pop address
///            driver.record(address:length:timestamp:)         (the RX ring is folded in:
///               │                                             AF_XDP's RX ring cannot overflow
///               ▼                                             while it is as large as the fill ring)
///  capture tick (≤ poll interval after new work):  reclaim → deliver(now:) → refill(room:)
///               ▼ group.place: own capture queue, or a buddy's (advanced)
///  consumer j:  nextChunk → count × service time → recycle ─▶ arms the owner's capture tick
/// ```
///
/// **Spill** (issue 14) happens inside the core's ``CaptureDriver/deliver(now:)``
/// exactly as live; the simulator adds its cost: a tick that copied k packets of
/// b bytes keeps the capture thread busy for k · ``SimulationConfiguration/spillNanosecondsPerPacket``
/// + b · ``SimulationConfiguration/spillNanosecondsPerByte``, and the freed chunks'
/// frames reach the fill FIFO only when that time is over (the next tick).
///
/// **Flows.** Each packet carries its trace index in its descriptor's flags (the
/// core copies flags into spill blocks too), so when a consumer finishes a chunk
/// the simulator knows every packet's flow (``PacketTrace/flows``) and counts, in
/// the order consumers finish their chunks: flows processed by two consumers at
/// once (split), flows that changed consumer cleanly (moved), and packets processed
/// after a later packet of their flow (``FlowOrderResult``). With flow offload each
/// packet's bucket is its flow's number, mixed (``bucket(index:)``).
///
/// Ticks are scheduled only when the capture thread has work: within one poll
/// interval when a chunk's worth of the ring is free (a chunk just filled) or when
/// a starving pool gets a recycle, and at the partial-chunk deadline of the oldest
/// undelivered packet. A packet costs a FIFO pop and one `record`, never an event.
final class WireCapEngine: SimulatedEngine {
    let group: BuddyGroup
    let drivers: [CaptureDriver]
    let n: Int
    let ringSize: Int
    let ringMask: Int
    let m: Int
    let poll: UInt64
    let timeout: UInt64
    let advanced: Bool
    let servicePs: UInt64
    let spillPacketPs: Double
    let spillBytePs: Double
    let spilledPackets: UnsafeMutablePointer<UInt64>  // core's count at the end of the last tick
    let spilledBytes: UnsafeMutablePointer<UInt64>
    let busyUntil: UnsafeMutablePointer<UInt64>       // the capture thread copies until then

    let pools: UnsafeMutablePointer<Unmanaged<ChunkPool>>
    let fifo: UnsafeMutablePointer<UInt64>        // [q * N + slot]
    let fifoHead: UnsafeMutablePointer<Int>
    let fifoCount: UnsafeMutablePointer<Int>
    let scheduled: UnsafeMutablePointer<UInt64>   // earliest valid tick per queue, .max if none
    let receivedPackets: UnsafeMutablePointer<UInt64>
    let receivedBytes: UnsafeMutablePointer<UInt64>
    let busy: UnsafeMutablePointer<Bool>
    let current: UnsafeMutablePointer<ChunkHandle>
    let carry: UnsafeMutablePointer<UInt64>       // sub-ns remainder of service time, ps
    let stats: UnsafeMutablePointer<QueueResult>
    let nic: NICBuffer                             // frames waiting on the NIC for a posted frame
    var earlyDeliveries = 0                        // descriptors delivered before their timestamp (must stay 0)
    /// Per packet (trace index) its flow; per flow the consumer that last processed
    /// it (-1: none yet), whether a second one did, and the latest index processed.
    let packetFlows: [UInt32]
    let lastConsumer: UnsafeMutablePointer<Int32>
    let flowSplit: UnsafeMutablePointer<Bool>
    let flowMoved: UnsafeMutablePointer<Bool>
    /// Per flow, when the latest chunk with a packet of it finished; per consumer, when its chunk began.
    let lastFinish: UnsafeMutablePointer<UInt64>
    let startedAt: UnsafeMutablePointer<UInt64>
    let latestIndex: UnsafeMutablePointer<Int>
    let flowCount: Int
    var flowOrder = FlowOrderResult()

    /// - Parameters:
    ///   - flows: the flow of each trace packet (``PacketTrace/flows``), `flowCount` flows.
    init(configuration c: SimulationConfiguration, flows: [UInt32] = [], flowCount: Int = 0) throws(ConfigurationError) {
        packetFlows = flows
        self.flowCount = flowCount
        lastConsumer = .allocate(capacity: max(1, flowCount)); lastConsumer.initialize(repeating: -1, count: max(1, flowCount))
        flowSplit = .allocate(capacity: max(1, flowCount)); flowSplit.initialize(repeating: false, count: max(1, flowCount))
        flowMoved = .allocate(capacity: max(1, flowCount)); flowMoved.initialize(repeating: false, count: max(1, flowCount))
        lastFinish = .allocate(capacity: max(1, flowCount)); lastFinish.initialize(repeating: 0, count: max(1, flowCount))
        startedAt = .allocate(capacity: c.queues); startedAt.initialize(repeating: 0, count: c.queues)
        latestIndex = .allocate(capacity: max(1, flowCount)); latestIndex.initialize(repeating: -1, count: max(1, flowCount))
        let group = try BuddyGroup(queueCount: c.queues, configuration: c.captureConfiguration)
        self.group = group
        n = c.queues
        ringSize = c.ringSize
        ringMask = c.ringSize - 1
        m = c.cellsPerChunk
        poll = c.pollIntervalNanoseconds
        timeout = c.partialTimeoutNanoseconds
        advanced = c.engine == .wirecapAdvanced && c.queues > 1
        servicePs = c.consumer.servicePicoseconds
        spillPacketPs = c.spillNanosecondsPerPacket * 1000
        spillBytePs = c.spillNanosecondsPerByte * 1000
        spilledPackets = .allocate(capacity: c.queues); spilledPackets.initialize(repeating: 0, count: c.queues)
        spilledBytes = .allocate(capacity: c.queues); spilledBytes.initialize(repeating: 0, count: c.queues)
        busyUntil = .allocate(capacity: c.queues); busyUntil.initialize(repeating: 0, count: c.queues)
        drivers = (0..<n).map { CaptureDriver(group: group, queue: $0) }
        pools = .allocate(capacity: n)
        for q in 0..<n { (pools + q).initialize(to: Unmanaged.passRetained(group.pools[q])) }
        fifo = .allocate(capacity: n * ringSize); fifo.initialize(repeating: 0, count: n * ringSize)
        fifoHead = .allocate(capacity: n); fifoHead.initialize(repeating: 0, count: n)
        fifoCount = .allocate(capacity: n); fifoCount.initialize(repeating: 0, count: n)
        scheduled = .allocate(capacity: n); scheduled.initialize(repeating: .max, count: n)
        receivedPackets = .allocate(capacity: n); receivedPackets.initialize(repeating: 0, count: n)
        receivedBytes = .allocate(capacity: n); receivedBytes.initialize(repeating: 0, count: n)
        busy = .allocate(capacity: n); busy.initialize(repeating: false, count: n)
        current = .allocate(capacity: n)
        current.initialize(repeating: ChunkHandle(queue: 0, chunk: 0, generation: 0, start: 0, count: 0), count: n)
        carry = .allocate(capacity: n); carry.initialize(repeating: 0, count: n)
        stats = .allocate(capacity: n)
        for q in 0..<n { (stats + q).initialize(to: QueueResult(queue: q)) }
        nic = NICBuffer(queues: n, capacityBytes: c.nicBufferBytes)
        // Open: every descriptor segment gets a free chunk (paper §3.2.1 "Open").
        for q in 0..<n { refill(q) }
    }

    deinit {
        for q in 0..<n { pools[q].release() }
        pools.deallocate(); fifo.deallocate(); fifoHead.deallocate(); fifoCount.deallocate()
        scheduled.deallocate(); receivedPackets.deallocate(); receivedBytes.deallocate()
        busy.deallocate(); current.deallocate(); carry.deallocate()
        spilledPackets.deallocate(); spilledBytes.deallocate(); busyUntil.deallocate()
        stats.deinitialize(count: n); stats.deallocate()
        lastConsumer.deallocate(); flowSplit.deallocate(); latestIndex.deallocate()
        flowMoved.deallocate(); lastFinish.deallocate(); startedAt.deallocate()
    }

    /// The flow bucket of trace packet `index`: its flow's number, mixed (a flow's
    /// packets share a bucket, as live, where both directions share one too).
    @inline(__always)
    func bucket(index: Int) -> UInt16 {
        guard flowCount > 0 else { return 0 }
        return UInt16(truncatingIfNeeded: (packetFlows[index] &* 0x9E37_79B1) >> 16)
    }

    /// The trace index a descriptor's flags carry (see ``record(_:_:length:time:index:)``).
    @inline(__always)
    static func flags(index: Int) -> UInt32 { UInt32(truncatingIfNeeded: index) << 1 }

    /// Takes a posted frame for trace packet `index`.
    @inline(__always)
    func record(_ q: Int, _ address: UInt64, length: UInt32, time t: UInt64, index: Int) {
        let recorded = pools[q]._withUnsafeGuaranteedRef {
            $0.record(address: address, length: length, timestamp: t, arrival: t, flags: Self.flags(index: index),
                      bucket: bucket(index: index))
        }
        assert(recorded, "the pool refused a frame the simulator posted")
        receivedPackets[q] &+= 1
        receivedBytes[q] &+= UInt64(length)
    }

    // MARK: Kernel side (per packet)

    @inline(__always)
    func arrive(index: Int, queue q: Int, time t: UInt64, length: UInt32, events: inout EventQueue) {
        stats[q].offered &+= 1
        let count = fifoCount[q]
        if count == 0 {
            // No posted frame: the frame waits on the NIC if it can, else it is lost.
            // An exhausted pool waits for a recycle, which arms the capture thread;
            // otherwise the thread is late and must refill.
            let free = pools[q]._withUnsafeGuaranteedRef { $0.freeChunks } > 0
            if !(nic.enabled && nic.push(q, length: length, index: index)) { drop(index: index, queue: q, poolHasFreeChunks: free) }
            if free { arm(q, at: t, events: &events) }
            return
        } else {
            let head = fifoHead[q]
            let address = fifo[q &* ringSize &+ head]
            fifoHead[q] = (head &+ 1) & ringMask
            fifoCount[q] = count &- 1
            record(q, address, length: length, time: t, index: index)
        }
        // Frames are posted a chunk at a time, in cell order, so the FIFO count hits
        // a multiple of M exactly when a chunk's last frame was used: the chunk is
        // full and its ring space free, and the capture thread has work within a
        // poll interval. Otherwise only this packet's partial-chunk deadline can be due.
        let due = (count &- 1) % m == 0 ? t &+ poll : t &+ timeout
        if scheduled[q] > due {
            scheduled[q] = due
            events.schedule(at: due, .captureTick, target: q)
        }
    }

    /// Counts a capture drop, attributed to pool exhaustion or to a late refill.
    @inline(never)
    func drop(index: Int, queue q: Int, poolHasFreeChunks: Bool) {
        stats[q].captureDrops &+= 1
        if stats[q].firstDropPacket < 0 { stats[q].firstDropPacket = index }
        // Into the queue's counter block as it happens, as a live backend publishes
        // its kernel's drop counts: the flow scheduler reads them (FlowScheduler.View.dropped).
        let cause: CaptureCounter = poolHasFreeChunks ? .dropsNoBuffer : .dropsPoolExhausted
        if poolHasFreeChunks {
            stats[q].dropsNoBuffer &+= 1
        } else {
            stats[q].dropsPoolExhausted &+= 1
        }
        group.captureCounters(q).add(cause.rawValue, 1)
    }

    /// Makes sure queue `q`'s capture thread runs within one poll interval of `t`.
    @inline(__always)
    func arm(_ q: Int, at t: UInt64, events: inout EventQueue) {
        let due = t &+ poll
        if scheduled[q] > due {
            scheduled[q] = due
            events.schedule(at: due, .captureTick, target: q)
        }
    }

    func refill(_ q: Int) {
        let room = ringSize - fifoCount[q]
        guard room >= m else { return }
        let base = q * ringSize
        _ = drivers[q].refill(room: room) { address in
            fifo[base + ((fifoHead[q] + fifoCount[q]) & ringMask)] = address
            fifoCount[q] += 1
        }
    }

    // MARK: Events

    func handle(_ event: SimulationEvent, events: inout EventQueue) {
        let target = Int(event.target)
        switch event.kind {
        case .captureTick:
            guard scheduled[target] == event.time else { return }  // superseded by an earlier tick
            tick(target, now: event.time, events: &events)
        case .consumerDone:
            finishChunk(target, now: event.time, events: &events)
        }
    }

    /// One pass of queue `q`'s capture thread (paper Figure 7): recycle, capture, refill.
    func tick(_ q: Int, now: UInt64, events: inout EventQueue) {
        scheduled[q] = .max
        if now < busyUntil[q] {
            // Still copying: the pass happens when the copy is done.
            scheduled[q] = busyUntil[q]
            events.schedule(at: busyUntil[q], .captureTick, target: q)
            return
        }
        let driver = drivers[q]
        driver.reclaim()
        if receivedPackets[q] > 0 {
            driver.countReceived(packets: Int(receivedPackets[q]), bytes: Int(receivedBytes[q]))
            receivedPackets[q] = 0
            receivedBytes[q] = 0
        }
        driver.deliver(now: now)
        if spillCopied(q, now: now, events: &events) {
            startConsumers(q, now: now, events: &events)
            return
        }
        refill(q)
        // Frames waiting on the NIC take the newly posted frames (DMA'd now).
        while nic.count[q] > 0 && fifoCount[q] > 0 {
            var moved = 0
            while nic.count[q] > 0 && fifoCount[q] > 0 {
                let (length, index) = nic.pop(q)
                let head = fifoHead[q]
                let address = fifo[q &* ringSize &+ head]
                fifoHead[q] = (head &+ 1) & ringMask
                fifoCount[q] -= 1
                record(q, address, length: length, time: now, index: index)
                moved += 1
            }
            if moved == 0 { break }
            driver.countReceived(packets: Int(receivedPackets[q]), bytes: Int(receivedBytes[q]))
            receivedPackets[q] = 0
            receivedBytes[q] = 0
            driver.deliver(now: now)
            if spillCopied(q, now: now, events: &events) { break }
            refill(q)
        }
        startConsumers(q, now: now, events: &events)
        // A pool at its item budget delivers nothing until a recycle (which arms us).
        let pool = group.pools[q]
        if pool.outstandingItems < pool.itemBudget, let deadline = driver.nextPartialDeadline() {
            let at = max(deadline, now &+ poll)
            if scheduled[q] > at {
                scheduled[q] = at
                events.schedule(at: at, .captureTick, target: q)
            }
        }
    }

    /// Whether the latest deliver spilled packets; if so the capture thread is busy
    /// copying them, and its next pass (which posts their frames) is then.
    func spillCopied(_ q: Int, now: UInt64, events: inout EventQueue) -> Bool {
        let c = group.pools[q].counters
        let packets = c.packetsSpilled &- spilledPackets[q]
        guard packets > 0 else { return false }
        let bytes = c.bytesSpilled &- spilledBytes[q]
        spilledPackets[q] = c.packetsSpilled
        spilledBytes[q] = c.bytesSpilled
        let ps = Double(packets) * spillPacketPs + Double(bytes) * spillBytePs
        busyUntil[q] = now &+ max(1, UInt64((ps / 1000).rounded(.up)))
        scheduled[q] = busyUntil[q]
        events.schedule(at: busyUntil[q], .captureTick, target: q)
        return true
    }

    // MARK: Consumers

    /// Idle consumers that may take what queue `q` placed start on it.
    func startConsumers(_ q: Int, now: UInt64, events: inout EventQueue) {
        if advanced {
            for j in 0..<n where !busy[j] { startChunk(j, now: now, events: &events) }
        } else if !busy[q] {
            startChunk(q, now: now, events: &events)
        }
    }

    func startChunk(_ j: Int, now: UInt64, events: inout EventQueue) {
        guard let handle = group.nextChunk(consumer: j) else { return }
        // Zero-copy: the consumer reads the descriptors in place.
        let cells = group.descriptors(of: handle)
        if let last = cells.last, last.timestamp > now { earlyDeliveries += 1 }
        busy[j] = true
        current[j] = handle
        startedAt[j] = now
        let work = UInt64(handle.count) &* servicePs &+ carry[j]
        carry[j] = work % 1000
        events.schedule(at: now &+ work / 1000, .consumerDone, target: j)
    }

    func finishChunk(_ j: Int, now: UInt64, events: inout EventQueue) {
        let handle = current[j]
        busy[j] = false
        let origin = Int(handle.queue)
        if flowCount > 0 { accountFlows(handle, consumer: j, finished: now) }
        stats[origin].delivered &+= UInt64(handle.count)
        stats[j].consumed &+= UInt64(handle.count)
        if origin != j { stats[j].offloadedInChunks &+= 1 }
        let accepted = group.recycle(handle, consumer: j)
        assert(accepted, "recycle lane refused a valid handle")
        // The owner takes recycles back on its next pass; it needs one now only if it
        // is starving (no free chunk while the ring has room for one) or cannot hand
        // out more slices (item budget reached), or it waits for spill space.
        let starving = pools[origin]._withUnsafeGuaranteedRef {
            ($0.freeChunks == 0 && ringSize - fifoCount[origin] >= m) || $0.outstandingItems >= $0.itemBudget
                || $0.waitsForRecycle
        } || group.heldPackets(queue: origin) > 0   // a flow move may have drained: its slices wait
        
        if starving {
            arm(origin, at: now, events: &events)
        }
        startChunk(j, now: now, events: &events)
    }

    /// Flow splits and order of the packets consumer `j` just finished (see the type's documentation).
    func accountFlows(_ handle: ChunkHandle, consumer j: Int, finished: UInt64) {
        let consumer = Int32(j)
        let started = startedAt[j]
        @inline(__always) func split(_ f: Int) {
            guard !flowSplit[f] else { return }
            flowSplit[f] = true
            flowOrder.flowsSplit &+= 1
            if flowMoved[f] { flowMoved[f] = false; flowOrder.flowsMoved &-= 1 }
        }
        for cell in group.descriptors(of: handle) {
            let index = Int(cell.flags >> 1)
            let f = Int(packetFlows[index])
            flowOrder.packets &+= 1
            let last = lastConsumer[f]
            if last < 0 {
                flowOrder.flows &+= 1
            } else if last != consumer {
                if started < lastFinish[f] { split(f) }
                else if !flowSplit[f] && !flowMoved[f] { flowMoved[f] = true; flowOrder.flowsMoved &+= 1 }
            }
            lastConsumer[f] = consumer
            lastFinish[f] = max(lastFinish[f], finished)
            if index < latestIndex[f] {
                flowOrder.packetsOutOfOrder &+= 1
                split(f)
            } else {
                latestIndex[f] = index
            }
        }
    }

    func finishArrivals(at time: UInt64) {}

    func results() -> (queues: [QueueResult], invariantViolations: [String]) {
        var out: [QueueResult] = []
        var problems: [String] = []
        for q in 0..<n { drivers[q].reclaim() }  // recycles not yet taken back
        for q in 0..<n {
            group.publish(queue: q)
            let s = group.statistics(queue: q)
            var r = stats[q]
            r.offloadedOutChunks = s.offloadedOut
            r.spilled = s.packetsSpilled
            r.bucketMoves = s.bucketMoves
            if s.captureDrops != r.captureDrops { problems.append("queue \(q): core counts \(s.captureDrops) capture drops, simulator \(r.captureDrops)") }
            if s.packetsReceived + r.captureDrops != r.offered {
                problems.append("queue \(q): core received \(s.packetsReceived) + drops \(r.captureDrops) != offered \(r.offered)")
            }
            if s.packetsDelivered != r.delivered { problems.append("queue \(q): core delivered \(s.packetsDelivered), consumers finished \(r.delivered)") }
            if nic.count[q] != 0 { problems.append("queue \(q): \(nic.count[q]) frames left on the NIC") }
            if s.outstandingItems != 0 { problems.append("queue \(q): \(s.outstandingItems) handles still outstanding at the end") }
            problems += group.pools[q].invariantViolations().map { "queue \(q): \($0)" }
            out.append(r)
        }
        if earlyDeliveries > 0 { problems.append("\(earlyDeliveries) chunks delivered before their packets arrived") }
        return (out, problems)
    }
}
