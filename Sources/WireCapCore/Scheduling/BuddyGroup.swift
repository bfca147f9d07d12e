import Atomics
/// The receive queues of one application, with their pools, their work-queue
/// pairs and the offload policy (paper §3.2.1 "Buddy-group-based offloading",
/// §3.2.2a advanced mode).
///
/// **Rings and who uses them.** Every queue `q` has a capture queue and a
/// recycle queue, as in the paper. After an offload, a chunk from pool A is
/// processed by queue B's consumer and must go back to A's capture thread, which
/// alone may touch pool A. To keep every ring single-producer/single-consumer
/// (no CAS anywhere), each queue's capture and recycle queue is made of one
/// *lane* per buddy:
///
/// ```
///   capture lane  (i → j): producer = capture thread i, consumer = consumer j
///   recycle lane  (j → i): producer = consumer j,       consumer = capture thread i
///   writer lane   (w → i): producer = the capture writer, consumer = capture thread i
///
///   capture queue of j = lanes (0 → j) … (n-1 → j)    (j's consumer reads them round-robin)
///   recycle queue of i = lanes (i ← 0) … (i ← n-1), (i ← w)   (i's capture thread drains them)
/// ```
///
/// The writer lane lets a chunk handed to the capture writer (`-w`) go home from
/// the writer thread directly, instead of back through its consumer.
///
/// Each lane holds the pool's whole ``ChunkPool/itemBudget`` (2·R, plus S spill
/// blocks; with flow offload up to 4·R and S·max(16, queues + 10) slices), so a lane can
/// never be full with valid handles.
///
/// **Offload (advanced mode).** When capture thread `i` places a handle and its own
/// capture queue holds more than T% of its capacity (R handles: each handle in it,
/// a zero-copy chunk or a spill block in a lent chunk, takes one of the pool's R
/// chunks of memory, so T% of R handles is about T% of the memory), the handle goes to
/// the buddy whose capture queue is shortest now; ties go to the own queue, then
/// to the lowest index. If no buddy is shorter, the handle stays home. Basic mode
/// never offloads. A queue belongs to exactly one group, so different
/// applications never exchange chunks.
///
/// **Flow offload (issue 15, ``OffloadPolicy/flow``).** Instead of whole chunks,
/// each queue's ``FlowScheduler`` moves flow buckets between consumers. Its pool
/// delivers every chunk as one slice per route (``ChunkPool``, "Flow slices"),
/// and ``place(_:from:)`` sends a slice where its buckets' route says: a
/// consumer's lane, the held queue of a move in progress, or (a spread bucket)
/// the least busy consumer's lane. The backlog that triggers a move is counted in packets (``backlogPackets(_:)``):
/// slices differ in size. Every move drains first (see ``FlowScheduler``), so a
/// flow is never processed by two consumers at once and stays in order; only
/// spread buckets' flows can be split, and they are counted.
///
/// - warning: ``place(_:from:)`` and ``nextRecycled(owner:)`` belong to capture
///   thread `i`; ``nextChunk(consumer:)`` and ``recycle(_:consumer:)`` to consumer `j`.
///   Statistics may be read from any thread.
public final class BuddyGroup: @unchecked Sendable {
    /// Queues in the group.
    public let queueCount: Int
    /// This group's identity, carried by every ``ChunkHandle`` its pools make (and by
    /// the AF_PACKET backend's block handles), so a handle recycled into another
    /// group is rejected. 1 … 65535, then wrapping (0 is for pools made alone).
    public let identity: UInt16

    private static let identities = ManagedAtomic<UInt32>(0)

    private static func nextIdentity() -> UInt16 {
        // Relaxed: a unique number is all it gives; it orders nothing.
        let n = identities.loadThenWrappingIncrement(ordering: .relaxed)
        return UInt16(truncatingIfNeeded: n % 65535 + 1)
    }
    /// The most queues a group that offloads flows may have (a delivery splits into queues + 2 routes).
    public static let maxFlowQueues = 16
    /// The configuration every queue shares.
    public let configuration: CaptureConfiguration
    /// The pools, one per queue, indexed like the queues.
    public let pools: [ChunkPool]

    @usableFromInline let n: Int
    @usableFromInline let advanced: Bool
    /// Advanced mode with ``OffloadPolicy/flow``: one ``FlowScheduler`` per queue.
    @usableFromInline let flows: Bool
    /// Per queue, its flow buckets' scheduler (empty unless ``flows``).
    public let schedulers: [FlowScheduler]
    /// Flow offload: the backlog, in packets, above which a consumer is overloaded (T% of R·M).
    @usableFromInline let thresholdPackets: Int
    /// Flow offload: [i * n + j] = packets per second queue i routes to consumer j,
    /// written by capture thread i at its ticks, read by every capture thread.
    /// Relaxed: an estimate, it orders nothing.
    @usableFromInline let loadBoard: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    @exclusivity(unchecked) @usableFromInline var views: [FlowScheduler.View] = []
    /// Per queue, packets of held slices released and not yet reported (capture thread i's entry only).
    @usableFromInline let released: UnsafeMutablePointer<Int>
    @usableFromInline let thresholdItems: Int      // own length above which we offload
    @usableFromInline let captureLanes: UnsafeMutablePointer<SPSCRing<ChunkHandle>>   // [i * n + j]: i → j
    @usableFromInline let recycleLanes: UnsafeMutablePointer<SPSCRing<ChunkHandle>>   // [i * (n+1) + j]: consumer j (j == n: the writer) → owner i
    /// Recycle lanes per owner: one per consumer and the writer's.
    @usableFromInline let recyclers: Int
    @usableFromInline let cellTables: UnsafeMutablePointer<UnsafeMutablePointer<CellDescriptor>>
    @usableFromInline let cellsPerChunk: Int
    /// R: chunk indices at or above it name spill blocks (read through their pool).
    @usableFromInline let frameChunks: UInt32
    @usableFromInline let consumerCursor: UnsafeMutablePointer<Int>  // one cache line per consumer
    /// Per consumer j, on a cache line of its own, in advanced mode: handles in its
    /// capture queue (all lanes i→j). (In basic mode only lane j→j is ever used, so
    /// its own count is the length, and no counter is kept.) Capture threads add 1 before they enqueue (and take it back when
    /// the lane is full), consumer j subtracts 1 after it dequeues, so the count is
    /// never below the lanes' true total. Relaxed: it orders nothing — the lanes'
    /// own acquire/release pairs carry the handles, and ConsumerWakeups' fences (S)/(P)
    /// order this count against a sleeping consumer's flag, as they did the lane indices.
    @usableFromInline let queued: UnsafeMutableRawPointer
    /// Offload counters: [i * offloadRow + j] = handles capture thread i placed on j
    /// (written by i only); each capture thread's row starts a cache line of its own.
    @usableFromInline let offloads: CounterBlock
    @usableFromInline let offloadRow: Int
    @usableFromInline let captureBlocks: [CounterBlock]
    @usableFromInline let consumerBlocks: [CounterBlock]
    /// Per consumer j: ``OriginCounter``s for each origin pool i, at `[i * OriginCounter.count + k]`
    /// (written by consumer j only): the ledger attributes every packet to the queue it arrived on.
    @usableFromInline let originBlocks: [CounterBlock]

    /// Creates `queueCount` pools and their work-queue pairs.
    ///
    /// - Parameter memory: per queue, the memory base its pool's frames and spill
    ///   blocks live in (live backends), so spilled packets are copied; nil: pools
    ///   without packet bytes (the simulator, tests).
    public init(queueCount: Int, configuration: CaptureConfiguration,
                memory: [UnsafeMutableRawPointer]? = nil) throws(ConfigurationError) {
        try configuration.validate()
        guard (1...Int(UInt16.max)).contains(queueCount) else {
            throw ConfigurationError(.queues, "a buddy group needs 1...65535 queues, got \(queueCount)")
        }
        if configuration.offloadsFlows(queues: queueCount) && queueCount > Self.maxFlowQueues {
            throw ConfigurationError(.queues, "flow offload supports up to \(Self.maxFlowQueues) queues per buddy group, got \(queueCount) (use chunk offload)")
        }
        self.queueCount = queueCount
        self.configuration = configuration
        n = queueCount
        advanced = configuration.mode == .advanced && queueCount > 1
        flows = configuration.offloadsFlows(queues: queueCount)
        thresholdPackets = configuration.geometry.cellsPerPool * configuration.offloadThresholdPercent / 100
        precondition(memory == nil || memory!.count == queueCount, "BuddyGroup: one memory base per queue")
        let capacity = configuration.geometry.chunksPerPool
        // "Passes T% of capacity": offload when length · 100 > T · R.
        thresholdItems = capacity * configuration.offloadThresholdPercent / 100
        cellsPerChunk = configuration.geometry.cellsPerChunk
        frameChunks = UInt32(configuration.geometry.chunksPerPool)
        let identity = Self.nextIdentity()
        self.identity = identity
        let slices = configuration.offloadsFlows(queues: queueCount) ? queueCount + 2 : 1
        let pools = (0..<queueCount).map {
            ChunkPool(queue: UInt16($0), geometry: configuration.geometry, group: identity,
                      spill: configuration.spill, memory: memory?[$0], slicesPerDelivery: slices)
        }
        self.pools = pools
        schedulers = slices == 1 ? [] : (0..<queueCount).map {
            FlowScheduler(home: $0, buckets: configuration.flowBuckets, consumers: queueCount,
                          strict: configuration.strictFlowAffinity, heldCapacity: pools[$0].itemBudget)
        }
        for (q, s) in schedulers.enumerated() {
            pools[q].routeByFlow(s.route, arrivals: s.arrivals, buckets: s.bucketCount, destinations: s.routes,
                                 version: s.routeVersion)
        }
        released = .allocate(capacity: queueCount); released.initialize(repeating: 0, count: queueCount)
        loadBoard = .allocate(capacity: max(1, queueCount * queueCount))
        loadBoard.initialize(repeating: .init(0), count: max(1, queueCount * queueCount))
        let laneCapacity = pools[0].itemBudget
        recyclers = n + 1
        captureLanes = .allocate(capacity: n * n)
        recycleLanes = .allocate(capacity: n * recyclers)
        for k in 0..<(n * n) { (captureLanes + k).initialize(to: .allocate(capacity: laneCapacity)) }
        for k in 0..<(n * recyclers) { (recycleLanes + k).initialize(to: .allocate(capacity: laneCapacity)) }
        cellTables = .allocate(capacity: n)
        for q in 0..<n { (cellTables + q).initialize(to: pools[q].cells) }
        consumerCursor = .allocate(capacity: n * 8)
        consumerCursor.initialize(repeating: 0, count: n * 8)
        queued = .allocate(byteCount: n * 64, alignment: 64)
        for j in 0..<n { (queued + j * 64).bindMemory(to: Int.AtomicRepresentation.self, capacity: 2).initialize(repeating: .init(0), count: 2) }
        offloadRow = (n + 7) & ~7   // 8 UInt64 counters per 64-byte line
        offloads = .allocate(count: n * offloadRow)
        captureBlocks = (0..<n).map { _ in .allocate(count: CaptureCounter.allCases.count) }
        consumerBlocks = (0..<n).map { _ in .allocate(count: ConsumerCounter.allCases.count) }
        let originCount = queueCount * OriginCounter.count
        originBlocks = (0..<queueCount).map { _ in .allocate(count: originCount) }
        for q in 0..<n { publish(queue: q) }
        views = schedulers.indices.map { q in
            FlowScheduler.View(
                backlog: { [unowned self] in self.backlogPackets($0) },
                consumed: { [unowned self] in self.consumerBlocks[$0].load(ConsumerCounter.packetsConsumed.rawValue) },
                load: { [unowned self] in self.consumerLoad($0) },
                threshold: thresholdPackets, behind: 2 * configuration.geometry.cellsPerChunk,
                pressure: { [unowned self] in self.pools[q].isSpilling || self.pools[q].freeChunks == 0 },
                dropped: { [unowned self] in
                    let c = self.captureBlocks[q]
                    return c.load(CaptureCounter.dropsNoBuffer.rawValue) &+ c.load(CaptureCounter.dropsRxRingFull.rawValue)
                        &+ c.load(CaptureCounter.dropsPoolExhausted.rawValue)
                })
        }
    }

    deinit {
        for k in 0..<(n * n) { captureLanes[k].deallocate() }
        for k in 0..<(n * recyclers) { recycleLanes[k].deallocate() }
        captureLanes.deallocate(); recycleLanes.deallocate(); cellTables.deallocate()
        consumerCursor.deallocate(); offloads.deallocate(); queued.deallocate(); loadBoard.deallocate(); released.deallocate()
        captureBlocks.forEach { $0.deallocate() }
        consumerBlocks.forEach { $0.deallocate() }
        originBlocks.forEach { $0.deallocate() }
    }

    /// The capture-queue capacity T is a percentage of: R handles (see the type's documentation).
    public var captureQueueCapacity: Int { configuration.geometry.chunksPerPool }

    /// Whether a handle capture thread `i` placed now would be taken at once: the
    /// capture queue ``place(_:from:)`` would choose is empty. Capture thread `i`
    /// (it reads lengths other threads change, so the answer is a snapshot).
    @inlinable
    public func wouldBeTakenAtOnce(from i: Int) -> Bool {
        let own = captureQueueLength(i)
        if own == 0 { return true }
        guard advanced, own > thresholdItems else { return false }
        for j in 0..<n where j != i && captureQueueLength(j) == 0 { return true }
        return false
    }

    /// Whether a tail of capture thread `i`'s open spill block of route `route`
    /// (``ChunkPool``'s per-route blocks; -1: a block every route shares, asked as
    /// ``wouldBeTakenAtOnce(from:)``) would be taken at once: its route's consumer
    /// has an empty capture queue; a spread route's, some consumer has; a held
    /// route's always (its slices wait in the capture thread for the move, not in a lane).
    @inlinable
    public func wouldBeTakenAtOnce(from i: Int, route: Int) -> Bool {
        guard flows, route >= 0 else { return wouldBeTakenAtOnce(from: i) }
        if route < n { return captureQueueLength(route) == 0 }
        if route == n { return true }
        for j in 0..<n where captureQueueLength(j) == 0 { return true }
        return false
    }

    /// Handles waiting in queue `j`'s capture queue now. Any thread.
    @inlinable
    public func captureQueueLength(_ j: Int) -> Int {
        advanced ? queuedCount(j).load(ordering: .relaxed) : captureLanes[j &* n &+ j].count
    }

    /// Consumer j's ``queued`` count.
    @inlinable @inline(__always)
    func queuedCount(_ j: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: (queued + j &* 64).assumingMemoryBound(to: Int.AtomicRepresentation.self))
    }

    /// Flow offload: packets in consumer j's capture queue (beside ``queuedCount(_:)``,
    /// kept the same way). Relaxed, like it.
    @inlinable @inline(__always)
    func queuedPackets(_ j: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: (queued + j &* 64).assumingMemoryBound(to: Int.AtomicRepresentation.self) + 1)
    }

    /// Packets waiting in consumer `j`'s capture queue (flow offload; else 0). Any thread.
    @inlinable
    public func backlogPackets(_ j: Int) -> Int { flows ? queuedPackets(j).load(ordering: .relaxed) : 0 }

    /// Flow offload: packets per second every queue routes to consumer `j` (smoothed, offered:
    /// see ``FlowScheduler/offeredScale``). Any thread.
    public func consumerLoad(_ j: Int) -> Double {
        var total: UInt64 = 0
        for i in 0..<n { total &+= UnsafeAtomic(at: loadBoard + (i &* n &+ j)).load(ordering: .relaxed) }
        return Double(total)
    }

    /// Enqueues on lane i→j, keeping j's count (see ``queued``).
    @inlinable @inline(__always)
    func enqueue(_ handle: ChunkHandle, from i: Int, to j: Int) -> Bool {
        guard advanced else { return captureLanes[i &* n &+ j].enqueue(handle) }
        let count = queuedCount(j)
        count.wrappingIncrement(ordering: .relaxed)
        if flows { queuedPackets(j).wrappingIncrement(by: Int(handle.count), ordering: .relaxed) }
        if captureLanes[i &* n &+ j].enqueue(handle) { return true }
        count.wrappingDecrement(ordering: .relaxed)
        if flows { queuedPackets(j).wrappingDecrement(by: Int(handle.count), ordering: .relaxed) }
        return false
    }

    /// Places a flow slice where its buckets' route says (see the type's documentation).
    @inlinable
    func placeSlice(_ handle: ChunkHandle, from i: Int) -> Bool {
        let scheduler = schedulers[i]
        let tags = pools[i].buckets(of: handle)
        let route = Int(scheduler.route(of: tags[0]))
        var to = route
        if route == n {
            guard scheduler.hold(handle) else { return false }
            scheduler.delivered(tags, spread: false)
            return true
        }
        if route > n {
            // Spread: the least busy consumer, the own first among equals (per chunk, like a rollover).
            to = i
            var best = backlogPackets(i)
            for j in 0..<n where j != i {
                let length = backlogPackets(j)
                if length < best { to = j; best = length }
            }
        }
        guard enqueue(handle, from: i, to: to) else { return false }
        scheduler.delivered(tags, spread: route > n)
        if to != i {
            offloads.add(i &* offloadRow &+ to, 1)
            captureBlocks[i].add(CaptureCounter.offloadedOut.rawValue, 1)
        }
        return true
    }

    /// Flow offload: a tick of queue `i`'s scheduler (rates, maybe a move), then the
    /// release of a move whose drain is over. Capture thread `i`, before it delivers.
    @inlinable
    public func schedule(queue i: Int, now: UInt64) {
        guard flows else { return }
        let scheduler = schedulers[i]
        let board = loadBoard + i &* n
        scheduler.tick(now: now, view: views[i]) { j, load in
            UnsafeAtomic(at: board + j).store(UInt64(load), ordering: .relaxed)
        }
        releaseIfDrained(queue: i)
    }

    /// Flow offload: a handle of queue `i`'s pool was recycled (accepted): its
    /// packets are no longer in flight. Capture thread `i`, right after the recycle.
    @inlinable
    public func recycled(_ handle: ChunkHandle, owner i: Int) {
        guard flows else { return }
        if schedulers[i].recycled(pools[i].buckets(of: handle)) { releaseIfDrained(queue: i) }
    }

    /// Places the held slices of queue `i`'s move if its drain is over; their
    /// packets are added to ``takeReleased(queue:)``, so the capture thread's next
    /// delivery reports them and its consumer is woken. Capture thread `i`.
    @inlinable
    public func releaseIfDrained(queue i: Int) {
        guard flows, schedulers[i].readyToRelease else { return }
        released[i] &+= schedulers[i].releaseHeld { handle, to in
            // The lane holds the pool's whole item budget: a valid handle always fits.
            let placed = enqueue(handle, from: i, to: to)
            precondition(placed, "BuddyGroup: a held slice did not fit lane \(i)→\(to)")
            if to != i {
                offloads.add(i &* offloadRow &+ to, 1)
                captureBlocks[i].add(CaptureCounter.offloadedOut.rawValue, 1)
            }
        }
    }

    /// Flow offload: packets of queue `i`'s held slices placed since the last call
    /// (``releaseIfDrained(queue:)`` runs outside a delivery too, in a reclaim).
    /// Capture thread `i`.
    @inlinable
    public func takeReleased(queue i: Int) -> Int {
        guard flows else { return 0 }
        let k = released[i]
        released[i] = 0
        return k
    }

    /// Flow offload: packets of queue `i` waiting for a move's drain. Any thread after capture thread `i` stopped; else capture thread `i`.
    public func heldPackets(queue i: Int) -> Int { flows ? schedulers[i].heldPackets : 0 }

    // MARK: Capture thread i

    /// Places a handle captured from queue `i` on a capture queue: its own, or in
    /// advanced mode the least busy buddy's when its own is above the threshold.
    /// Capture thread `i` only.
    ///
    /// - Returns: `false` only when the chosen lane is full, which valid handles
    ///   within the pool's item budget never cause.
    @inlinable
    public func place(_ handle: ChunkHandle, from i: Int) -> Bool {
        if flows { return placeSlice(handle, from: i) }
        if advanced {
            let own = captureQueueLength(i)
            if own > thresholdItems {
                var best = i
                var bestLength = own
                for j in 0..<n where j != i {
                    let length = captureQueueLength(j)
                    if length < bestLength { best = j; bestLength = length }
                }
                if best != i, enqueue(handle, from: i, to: best) {
                    offloads.add(i &* offloadRow &+ best, 1)
                    captureBlocks[i].add(CaptureCounter.offloadedOut.rawValue, 1)
                    return true
                }
            }
        }
        return enqueue(handle, from: i, to: i)
    }

    /// The next handle a consumer gave back to queue `i`'s pool, if any. Capture thread `i` only.
    @inlinable
    public func nextRecycled(owner i: Int) -> ChunkHandle? {
        let lanes = recycleLanes + i &* recyclers
        for j in 0..<recyclers {
            if let handle = lanes[j].dequeue() { return handle }
        }
        return nil
    }

    // MARK: Consumer j

    /// The next handle in queue `j`'s capture queue (its lanes read round-robin, so an
    /// offloaded chunk never waits behind an endless stream of local ones), or `nil`.
    /// Consumer `j` only.
    @inlinable
    public func nextChunk(consumer j: Int) -> ChunkHandle? {
        let cursor = consumerCursor + j &* 8
        var i = cursor.pointee
        for _ in 0..<n {
            if let handle = captureLanes[i &* n &+ j].dequeue() {
                if advanced { queuedCount(j).wrappingDecrement(ordering: .relaxed) }
                if flows { queuedPackets(j).wrappingDecrement(by: Int(handle.count), ordering: .relaxed) }
                let next = i &+ 1
                cursor.pointee = next == n ? 0 : next
                let block = consumerBlocks[j]
                block.add(ConsumerCounter.itemsConsumed.rawValue, 1)
                block.add(ConsumerCounter.packetsConsumed.rawValue, UInt64(handle.count))
                if i != j { block.add(ConsumerCounter.offloadedIn.rawValue, 1) }
                originBlocks[j].add(i &* OriginCounter.count &+ OriginCounter.consumed.rawValue, UInt64(handle.count))
                return handle
            }
            i = i &+ 1 == n ? 0 : i &+ 1
        }
        return nil
    }

    /// Gives a handle back to its origin pool's capture thread. Consumer `j` only.
    ///
    /// The owner validates it strictly (``ChunkPool/recycle(_:)``). A handle naming no
    /// queue of this group is refused here and counted.
    /// - Returns: `false` if the handle was refused or its recycle lane is full
    ///   (only possible with forged handles).
    @inlinable
    @discardableResult
    public func recycle(_ handle: ChunkHandle, consumer j: Int) -> Bool {
        let owner = Int(handle.queue)
        guard owner < n, recycleLanes[owner &* recyclers &+ j].enqueue(handle) else {
            consumerBlocks[j].add(ConsumerCounter.recycleRefused.rawValue, 1)
            return false
        }
        return true
    }

    /// `true` once a writer claimed the writer lanes (see ``claimWriterLanes()``).
    private let writerClaimed = ManagedAtomic<Bool>(false)

    /// Claims the writer lanes for one capture writer: they are single-producer, so
    /// a second writer on the same group is refused. - Returns: `false` if taken.
    public func claimWriterLanes() -> Bool {
        // Relaxed: the claim only has to be unique; the writer thread's creation
        // orders everything it then does.
        writerClaimed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    /// Gives a chunk the capture writer has finished with back to its owner, on the
    /// writer's own lane. The writer thread of the writer that claimed the lanes only.
    /// - Returns: `false` (the handle is dropped: an invalid handle, never a valid
    ///   one, as each lane holds the pool's whole item budget) when it cannot be queued.
    @discardableResult
    public func recycleFromWriter(_ handle: ChunkHandle) -> Bool {
        let owner = Int(handle.queue)
        guard owner < n else { return false }
        return recycleLanes[owner &* recyclers &+ n].enqueue(handle)
    }

    /// Records what became of `packets` packets of a handle from pool `origin`
    /// (delivered, filtered out, sampled out, dropped after delivery). Consumer `j` only;
    /// once per chunk, not per packet.
    @inlinable
    public func count(_ counter: OriginCounter, _ packets: Int, origin: Int, consumer j: Int) {
        guard packets > 0 else { return }
        originBlocks[j].add(origin &* OriginCounter.count &+ counter.rawValue, UInt64(packets))
        if counter == .deliveryDrops { consumerBlocks[j].add(ConsumerCounter.deliveryDrops.rawValue, UInt64(packets)) }
    }

    /// Records packets of a handle from pool `origin` the application dropped after
    /// delivery. Consumer `j` only.
    @inlinable
    public func countDeliveryDrops(_ packets: Int, origin: Int, consumer j: Int) {
        count(.deliveryDrops, packets, origin: origin, consumer: j)
    }

    /// Counter `counter` of origin pool `origin`, summed over every consumer. Any thread.
    public func originTotal(_ counter: OriginCounter, origin: Int) -> UInt64 {
        originBlocks.reduce(0) { $0 &+ $1.load(origin * OriginCounter.count + counter.rawValue) }
    }

    /// The descriptors of the packets a handle names. Valid until it is recycled.
    @inlinable
    public func descriptors(of handle: ChunkHandle) -> UnsafeBufferPointer<CellDescriptor> {
        if handle.chunk >= frameChunks { return pools[Int(handle.queue)].descriptors(of: handle) }
        let table = cellTables[Int(handle.queue)]
        return UnsafeBufferPointer(
            start: table + (Int(handle.chunk) &* cellsPerChunk &+ Int(handle.start)), count: Int(handle.count))
    }

    /// Calls `body` with the whole descriptor table of chunk `chunk` of queue `q`'s
    /// pool (its M cells, cell 0 first), for writing: the hook of a backend that
    /// manages chunks outside the pool's own attach/record path (the AF_PACKET
    /// backend, whose chunks are the kernel's TPACKET_V3 blocks).
    ///
    /// Such a backend writes a chunk's packets here, cell 0 onward, before it
    /// places `ChunkHandle(queue: q, chunk: chunk, …, start: 0, count: k)` with
    /// ``place(_:from:)``; consumers then read them with ``descriptors(of:)``, the
    /// same path as AF_XDP chunks. The writes are plain stores: the capture lane's
    /// release (enqueue in ``place(_:from:)``) and the consumer's acquire (dequeue
    /// in ``nextChunk(consumer:)``) order them before any read.
    ///
    /// The table must not be written while a handle naming the chunk is
    /// outstanding (placed and not yet recycled), and a pool driven this way must
    /// not also be driven by ``ChunkPool/attach()``/`record` for the same chunk.
    /// The buffer must not escape `body`.
    ///
    /// - Parameters:
    ///   - q: the queue (pool) index, `0..<queueCount`.
    ///   - chunk: the chunk index, `0..<R`.
    /// - warning: Capture thread `q` only (the thread that places the chunk's handles).
    @inlinable
    public func withDescriptorTable<Result, Failure: Error>(
        queue q: Int, chunk: Int,
        _ body: (UnsafeMutableBufferPointer<CellDescriptor>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(q >= 0 && q < n && chunk >= 0 && chunk < Int(frameChunks),
                     "withDescriptorTable: queue \(q) chunk \(chunk) out of range")
        return try body(UnsafeMutableBufferPointer(start: cellTables[q] + chunk &* cellsPerChunk, count: cellsPerChunk))
    }

    // MARK: Statistics

    /// The capture-side counter block of queue `q`, for its capture thread and backend.
    public func captureCounters(_ q: Int) -> CounterBlock { captureBlocks[q] }

    /// Copies pool `q`'s own counters and occupancy into its counter block.
    /// Capture thread `q` only.
    public func publish(queue q: Int) {
        let pool = pools[q]
        let block = captureBlocks[q]
        let c = pool.counters
        block.set(CaptureCounter.packetsDelivered.rawValue, c.packetsDelivered)
        block.set(CaptureCounter.fullChunks.rawValue, c.fullChunks)
        block.set(CaptureCounter.partialSlices.rawValue, c.partialSlices)
        block.set(CaptureCounter.completingSlices.rawValue, c.completingSlices)
        block.set(CaptureCounter.recycled.rawValue, c.recycled)
        block.set(CaptureCounter.recycleRejected.rawValue, c.rejectedTotal)
        block.set(CaptureCounter.invalidDescriptors.rawValue, c.invalidDescriptors)
        block.set(CaptureCounter.exhaustionEpisodes.rawValue, c.exhaustionEpisodes)
        block.set(CaptureCounter.freeChunks.rawValue, UInt64(pool.freeChunks))
        block.set(CaptureCounter.attachedChunks.rawValue, UInt64(pool.attachedChunks))
        block.set(CaptureCounter.capturedChunks.rawValue, UInt64(pool.capturedChunks))
        block.set(CaptureCounter.outstandingItems.rawValue, UInt64(pool.outstandingItems))
        if flows {
            let f = schedulers[q]
            block.set(CaptureCounter.bucketMoves.rawValue, f.bucketMoves)
            block.set(CaptureCounter.bucketsSpread.rawValue, f.bucketsSpread)
            block.set(CaptureCounter.packetsSpread.rawValue, f.packetsSpread)
            block.set(CaptureCounter.packetsHeld.rawValue, f.packetsHeld)
            block.set(CaptureCounter.heldPackets.rawValue, UInt64(f.heldPackets))
        }
        if pool.spillBlocks > 0 {
            block.set(CaptureCounter.packetsSpilled.rawValue, c.packetsSpilled)
            block.set(CaptureCounter.bytesSpilled.rawValue, c.bytesSpilled)
            block.set(CaptureCounter.spillBlocksDelivered.rawValue, c.spillBlocksDelivered)
            block.set(CaptureCounter.spillEpisodes.rawValue, c.spillEpisodes)
            block.set(CaptureCounter.spillArenaFull.rawValue, c.spillArenaFull)
            block.set(CaptureCounter.spillBlocksOut.rawValue, UInt64(pool.spillBlocksOut))
            block.set(CaptureCounter.lentChunks.rawValue, UInt64(pool.lentChunks))
        }
    }

    /// Handles capture thread `from` placed on queue `to`'s capture queue. Any thread.
    public func offloadCount(from: Int, to: Int) -> UInt64 { offloads.load(from * offloadRow + to) }

    /// A snapshot of queue `q`'s counters. Any thread.
    public func statistics(queue q: Int) -> QueueStatistics {
        let cap = captureBlocks[q]
        let con = consumerBlocks[q]
        func c(_ k: CaptureCounter) -> UInt64 { cap.load(k.rawValue) }
        var s = QueueStatistics(queue: q)
        s.packetsReceived = c(.packetsReceived)
        s.bytesReceived = c(.bytesReceived)
        s.packetsDelivered = c(.packetsDelivered)
        s.chunksCaptured = c(.fullChunks) &+ c(.completingSlices)
        s.partialSlices = c(.partialSlices)
        s.offloadedOut = c(.offloadedOut)
        s.offloadedIn = (0..<n).filter { $0 != q }.reduce(0) { $0 &+ offloads.load($1 * offloadRow + q) }
        s.recycled = c(.recycled)
        s.recycleRejected = c(.recycleRejected)
        s.invalidDescriptors = c(.invalidDescriptors)
        s.exhaustionEpisodes = c(.exhaustionEpisodes)
        s.freeChunks = c(.freeChunks)
        s.attachedChunks = c(.attachedChunks)
        s.capturedChunks = c(.capturedChunks)
        s.lentChunks = c(.lentChunks)
        s.outstandingItems = c(.outstandingItems)
        s.captureQueueLength = captureQueueLength(q)
        s.dropsNoBuffer = c(.dropsNoBuffer)
        s.dropsRxRingFull = c(.dropsRxRingFull)
        s.dropsInvalidDescriptor = c(.dropsInvalidDescriptor)
        s.dropsPoolExhausted = c(.dropsPoolExhausted)
        s.fillRingEmptyEvents = c(.fillRingEmptyEvents)
        s.kernelOffered = c(.kernelOffered)
        s.packetsSpilled = c(.packetsSpilled)
        s.bytesSpilled = c(.bytesSpilled)
        s.spillBlocks = c(.spillBlocksDelivered)
        s.spillEpisodes = c(.spillEpisodes)
        s.spillArenaFull = c(.spillArenaFull)
        s.spillBlocksOut = c(.spillBlocksOut)
        s.unstampedPackets = c(.unstampedPackets)
        s.bucketMoves = c(.bucketMoves)
        s.bucketsSpread = c(.bucketsSpread)
        s.packetsSpread = c(.packetsSpread)
        s.packetsHeld = c(.packetsHeld)
        if flows { s.consumerLoad = UInt64(consumerLoad(q)) }
        s.itemsConsumed = con.load(ConsumerCounter.itemsConsumed.rawValue)
        s.packetsConsumed = con.load(ConsumerCounter.packetsConsumed.rawValue)
        s.deliveryDrops = con.load(ConsumerCounter.deliveryDrops.rawValue)
        return s
    }
}
