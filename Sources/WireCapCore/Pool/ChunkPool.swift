/// The ring-buffer pool of one receive queue (paper §3.2.1): R chunks of M cells.
///
/// A chunk is in exactly one of three states, as in the paper:
///
/// ```
///            attach()                 last cell delivered           last slice recycled
///   free ────────────────▶ attached ─────────────────────▶ captured ───────────────────▶ free
///   (in the free stack)    (frames with the kernel or       (all M packets in user space,
///                           partly returned; slices may      waiting for recycles)
///                           already be in user space)
/// ```
///
/// **Frames come back in any order.** The kernel's buffer pool reuses recently
/// freed frames first, so a chunk is not "the next M descriptors": ``record(address:length:timestamp:)``
/// finds the chunk by address and appends the packet to that chunk's descriptor
/// table. A chunk is full when all M of its frames have come back.
///
/// **Zero-copy partial delivery.** The paper copies a partly filled chunk into a
/// free one after a timeout. Here the received frames already sit in user-space
/// memory, so instead the received-but-undelivered cells of an attached chunk are
/// handed out as a *slice* (a ``ChunkHandle`` with `start`/`count`). The chunk
/// stays attached; its later packets form later slices. It becomes `captured`
/// when all M cells are delivered and `free` only when every slice was recycled.
/// No packet is copied, lost or delivered twice.
///
/// **Spill (issue 14).** A spilling pool has S block slots (``SpillArena``).
/// Spill blocks are chunks `R ..< R+S` of the pool: the same states (free,
/// attached = the one *open* block being filled, captured = delivered),
/// generations, handles (whole, `start == 0`), validation and lanes as frame
/// chunks; only their cells live in the block itself. A block has no memory of
/// its own: when it is opened it borrows a free frame chunk, which is `lent`
/// (never posted to the kernel, its generation bumped so no old handle names it)
/// until the block is recycled. Frames and blocks thus share the queue's memory,
/// and the split between them follows the traffic.
///
/// ```
///   under pressure:  full (or timed-out) chunk ──copy──▶ open spill block     chunk ──▶ free at once
///                    (free frame chunk ──lent──▶ the block's memory)               │ full, or due and a consumer
///                                                                                  ▼ could take it, or before the
///                                                        captured ──recycle──▶ free; its lent chunk free  next zero-copy handle
/// ```
///
/// *Pressure* starts when consumers hold ``zeroCopyAllowance`` frame chunks,
/// or half the frame-handle budget (timed-out slices of a stalled consumer), or
/// no chunk is free, and ends when every delivered spill block is back and
/// consumers hold at most half the allowance: a consumer that keeps up never
/// causes a spill; one that fell behind is served from blocks until it has
/// caught up. A chunk's frames go back to the kernel as soon as its packets are
/// copied, so the kernel never runs out of frames while free chunks remain.
///
/// *Only small packets are spilled.* A chunk (or timed-out slice) is copied only
/// when its records take at most half its frames' bytes (packets of about 1,000
/// bytes or less on average): copying saves at least half of its memory. Larger
/// packets are delivered zero-copy under pressure too, so a burst of 1,500-byte
/// packets meets exactly the pool spill off would give it (same memory, no copy;
/// a block would hold only 1.34× more of them, and the copy made the consumer's
/// core the poorer on a 2-core machine).
///
/// A chunk is spilled whole or not at all: when the open block and the free
/// chunks cannot surely take all of it, it waits in the pool (and every later
/// chunk with it, for order) until a delivered block comes back, so neither
/// frames nor blocks are wasted on half-spilled chunks; its frames are then the
/// buffer, and when all frames are full too the kernel drops (pool exhausted).
/// Only when no block is out to come back, or at the shutdown flush, does such
/// a chunk go zero-copy instead.
///
/// *Order.* The open block (its tail, see *Streaming blocks*) is delivered before any
/// later zero-copy handle, so a queue's packets reach each lane in the order they were received.
///
/// *Timeout.* The open block is delivered when its oldest packet waited the
/// partial-chunk timeout, unless the caller says every consumer it could go to
/// is still busy with earlier handles (`holdSpill`): the block would wait behind
/// them in the lane anyway, so delivering it would not let anyone read it
/// sooner, and would waste the rest of the block (a stalled consumer at a low
/// rate would get one near-empty block per timeout). While held it is asked
/// about every pass and delivered as soon as a consumer could take it; the
/// capture thread wakes for it at least every half timeout. Its packets' delay
/// is then the consumer's backlog, as it would be in the lane. A per-route block
/// (below) asks about its own route's consumer: a block for an idle consumer is
/// not held because another consumer is busy.
///
/// **Flow slices (issue 15).** With flow routing (``routeByFlow(_:arrivals:buckets:destinations:version:)``,
/// set by a ``BuddyGroup`` whose advanced mode moves flow buckets), every packet
/// carries its flow bucket (``record(address:length:timestamp:arrival:flags:bucket:)``), and the
/// cells being delivered (a chunk's, a timed-out run of them, a closing spill
/// block's) are first partitioned in place, stably, by their bucket's *route*:
/// the descriptors move, the frames do not. Each route's run is then one
/// handle, a *slice* as above, so one chunk may be out as several slices to
/// several consumers and is free only when all are back (blocks likewise, up to
/// ``sliceSlotsPerBlock`` slices each). The route of a packet is read when it is
/// delivered, never earlier.
///
/// *Per-route spill blocks.* Under pressure a flow-routed pool whose router
/// counts its route changes (the ``BuddyGroup``'s ``FlowScheduler``) copies each
/// packet into the open block of its route: one open block per route, so a
/// delivered block is normally one slice, one consumer's. A block shared by
/// every route is free only when its slowest consumer is done with it: in the
/// live 1.8 elephant, queue 0's blocks all waited for consumer 1's long queue
/// while consumer 0 had little left, and the kernel dropped with the pool's
/// memory lent to blocks. When the routes change, the open blocks' tails are
/// shipped (partitioned by the routes of now) before anything more is copied, so
/// a bucket's packets copied under its old route go out before those copied
/// under the new one (see ``spill(_:from:to:_:_:_:_:)``).
///
/// *Streaming blocks.* A per-route block is not closed when it is due, or before
/// a zero-copy handle, or at a route change: only its *tail* (the packets not yet
/// shipped) goes out, as slices (``shipOpenBlock(_:seal:_:_:)``), and the block
/// keeps filling. Closing it instead would lend a whole chunk to the few packets
/// a route's consumer got in one timeout (measured: 494–525 packets a block in
/// 90/10, against 2,724 with one shared block). A block is *sealed* when full,
/// when it has fewer than ``slicesPerDelivery`` of its ``sliceSlotsPerBlock``
/// slice slots left, at the final flush, and before a zero-copy handle once
/// pressure is over; it is free when sealed and its last slice is back. Its
/// shipped cells are never touched again: consumers read them while the
/// capture thread appends after them (descriptors above, bytes below).
///
/// **Item budget.** At most 2·R frame handles (flow routing: up to 4·R) and S spill
/// blocks of ``sliceSlotsPerBlock`` slices are outstanding per pool (``itemBudget`` in all), so the rings of a ``BuddyGroup`` (capacity
/// ≥ the budget) can never overflow with valid handles. A chunk that cannot be handed out now stays in the pool and is
/// offered again on the next ``deliverReady(now:timeout:_:)``: nothing is dropped
/// by delivery; only a pool without free chunks starves the fill ring.
///
/// Its stored `var`s are `@exclusivity(unchecked)`: one thread owns them, and the
/// run-time exclusivity check cost a `swift_beginAccess` call per access (three
/// per received packet in ``record(address:length:timestamp:arrival:flags:bucket:)``, measured in the binary).
///
/// - warning: Not thread-safe. One thread (the queue's capture thread) calls every
///   method. Consumers only read descriptor-table cells of slices they hold, which
///   the pool does not touch until the slice is recycled; the work-queue ring's
///   release/acquire pair orders those writes and reads.
public final class ChunkPool: @unchecked Sendable {
    /// Index of this pool's queue within its buddy group (copied into every handle).
    public let queue: UInt16
    /// The identity of the buddy group the pool belongs to (0: none); its handles carry it.
    public let group: UInt16
    /// The pool's shape.
    public let geometry: PoolGeometry
    /// Most handles that may be outstanding at once (2·R frame handles and S spill blocks).
    public let itemBudget: Int
    /// Most frame handles (chunks and slices) outstanding at once: 2·R.
    public let frameItemBudget: Int
    /// The spill blocks' tables and copies (nil: spilling off).
    public let spillArena: SpillArena?
    /// S: spill block slots (0 without spilling).
    public let spillBlocks: Int
    /// Most slices one delivery (a chunk's run of cells, a block) is split into:
    /// 1, or with flow routing the number of routes (at most 18, see ``routeByFlow(_:arrivals:buckets:destinations:version:)``).
    public let slicesPerDelivery: Int
    /// Frame chunks consumers may hold before pressure starts: the spill
    /// geometry's allowance, at most R − N/M − 1, at least 1.
    public let zeroCopyAllowance: Int

    @usableFromInline let m: UInt32
    @usableFromInline let r: UInt32
    @usableFromInline let chunkBytes: UInt64
    @usableFromInline let frameBytes: UInt64
    /// log2(chunkBytes) when it is a power of two (M a power of two), else 0:
    /// the per-packet chunk lookup is then a shift instead of a division.
    @usableFromInline let chunkShift: UInt64

    // Per-chunk state, struct-of-arrays, R + S entries each (spill blocks after the frame chunks).
    // A frame chunk lent to a block is `.lent`: outside the free stack, the attached
    // list and the captured count.
    @usableFromInline let state: UnsafeMutablePointer<ChunkState>
    @usableFromInline let returned: UnsafeMutablePointer<UInt32>
    @usableFromInline let delivered: UnsafeMutablePointer<UInt32>
    @usableFromInline let outstanding: UnsafeMutablePointer<UInt32>
    @usableFromInline let generation: UnsafeMutablePointer<UInt32>
    /// Arrival time (the deadline clock, see ``record(address:length:timestamp:arrival:)``)
    /// of the oldest undelivered cell of each chunk; meaningful while `returned > delivered`.
    @usableFromInline let pendingSince: UnsafeMutablePointer<UInt64>
    // Per-cell, R·M entries each.
    @usableFromInline let sliceLength: UnsafeMutablePointer<UInt32>
    @usableFromInline let cells: UnsafeMutablePointer<CellDescriptor>
    /// Each cell's flow bucket (R·M, beside ``cells``; 0 unless the backend gives one).
    @usableFromInline let buckets: UnsafeMutablePointer<UInt16>
    /// Per spill block, its cells' buckets (S × the most packets a block holds; one entry without spilling).
    @usableFromInline let blockBuckets: UnsafeMutablePointer<UInt16>
    @usableFromInline let blockCells: Int
    /// Per spill block, its outstanding slices (start << 32 | count; 0: none), ``sliceSlotsPerBlock`` each.
    @usableFromInline let blockSlices: UnsafeMutablePointer<UInt64>
    /// Slices one spill block may have out at once: 1, or with flow routing
    /// max(16, ``slicesPerDelivery`` + 8) (a streaming block ships its tail many times, see the type's documentation).
    public let sliceSlotsPerBlock: Int
    /// Flow routing: route per bucket (read at delivery), nil without it.
    @exclusivity(unchecked) @usableFromInline var flowRoute: UnsafeMutablePointer<UInt16>?
    /// Flow routing: packets received per bucket (counted as they are recorded: the scheduler's rates).
    @exclusivity(unchecked) @usableFromInline var flowArrivals: UnsafeMutablePointer<UInt32>?
    @exclusivity(unchecked) @usableFromInline var bucketMask: UInt16 = 0
    /// Scratch for the partition: cells, their buckets, and per-route counts.
    @usableFromInline let scratchCells: UnsafeMutablePointer<CellDescriptor>
    @usableFromInline let scratchBuckets: UnsafeMutablePointer<UInt16>
    @usableFromInline let routeCounts: UnsafeMutablePointer<Int>
    // Free chunks (a stack: the most recently freed chunk is the warmest).
    @usableFromInline let freeStack: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) @usableFromInline var freeCount: Int
    // Attached chunks in attach order (capacity R, kept compact).
    @usableFromInline let attachedList: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) @usableFromInline var attachedCount: Int

    @exclusivity(unchecked) @usableFromInline var capturedCount: Int = 0
    /// Frame handles (chunks and slices) in user space.
    @exclusivity(unchecked) @usableFromInline var frameItems: Int = 0
    // Spill state: free blocks (a stack), the open block (-1: none), its oldest
    // packet's arrival, when a held open block is next looked at, blocks delivered
    // and not yet recycled, and whether the pool is under pressure.
    @usableFromInline let spillFreeStack: UnsafeMutablePointer<UInt32>
    /// Per block slot, the frame chunk lent to it while it is open or delivered.
    @usableFromInline let lender: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) @usableFromInline var lentCount: Int = 0
    @exclusivity(unchecked) @usableFromInline var spillFreeCount: Int = 0
    /// Blocks open at once: one per route with flow routing (``slicesPerDelivery``), else 1.
    @usableFromInline let opens: Int
    /// Per open block o: its block (-1: none), its oldest packet's arrival, its recheck time.
    @usableFromInline let openBlocks: UnsafeMutablePointer<Int>
    @usableFromInline let openPendingSince: UnsafeMutablePointer<UInt64>
    @usableFromInline let openRecheck: UnsafeMutablePointer<UInt64>
    /// Flow routing: the router's count of route changes, and its value when the open
    /// blocks were filled (see ``spill(_:from:to:_:_:_:_:)``).
    @exclusivity(unchecked) @usableFromInline var routeVersion: UnsafePointer<UInt64>?
    @exclusivity(unchecked) @usableFromInline var openVersion: UInt64 = 0
    /// Scratch for ``fits(_:from:to:_:)``: record bytes per open block.
    @usableFromInline let openNeed: UnsafeMutablePointer<Int>
    @exclusivity(unchecked) @usableFromInline var spillOut: Int = 0
    @exclusivity(unchecked) @usableFromInline var spilling = false
    @exclusivity(unchecked) @usableFromInline var waitingForArena = false
    /// `true` when the latest delivery left cells because the frame-handle budget had
    /// no room for all their slices (flow routing): a recycle, not a deadline, helps.
    @exclusivity(unchecked) @usableFromInline var waitingForRoom = false
    /// `true` once the kernel filled a whole chunk (``completeWhole(chunk:count:retiredByTimer:)``).
    @exclusivity(unchecked) var fillsWhole = false
    @exclusivity(unchecked) @usableFromInline var outstandingCount: Int = 0
    @exclusivity(unchecked) @usableFromInline var stored = PoolCounters()

    /// Handles (chunks or slices) in user space, not yet recycled.
    @inlinable public var outstandingItems: Int { outstandingCount }
    /// Counters kept by the pool (plain integers: the owning thread publishes them).
    @inlinable public var counters: PoolCounters { stored }

    /// The chunk states, as the paper names them, and `lent`: a frame chunk whose
    /// memory holds a spill block (see the type's documentation).
    @frozen public enum ChunkState: UInt8, Sendable { case free, attached, captured, lent }

    /// Creates a pool; every chunk and spill block starts `free`. Traps on an
    /// invalid geometry (validate it first with ``CaptureConfiguration/validate()``).
    ///
    /// - Parameters:
    ///   - spill: spilling's limits; nil: no spilling.
    ///   - memory: the queue's memory base (its frames), so spilled packets' bytes
    ///     are copied; nil: blocks hold descriptors only.
    ///   - slicesPerDelivery: 1, or the routes a flow-routed pool splits a delivery
    ///     into (``BuddyGroup`` sets it); the item budgets grow by this factor.
    public init(queue: UInt16, geometry: PoolGeometry, group: UInt16 = 0,
                spill: SpillGeometry? = nil, memory: UnsafeMutableRawPointer? = nil, slicesPerDelivery: Int = 1) {
        precondition((1...18).contains(slicesPerDelivery), "ChunkPool: 1...18 slices per delivery, got \(slicesPerDelivery)")
        self.slicesPerDelivery = slicesPerDelivery
        do {
            try geometry.validate()
            try spill?.validate(geometry: geometry)
        } catch { preconditionFailure("ChunkPool: \(error)") }
        self.queue = queue
        self.group = group
        self.geometry = geometry
        let s = spill?.blockSlots(chunks: geometry.chunksPerPool) ?? 0
        spillBlocks = s
        spillArena = spill.map { _ in SpillArena(blocks: s, blockBytes: geometry.chunkBytes, memory: memory, opens: slicesPerDelivery) }
        opens = slicesPerDelivery
        openBlocks = .allocate(capacity: slicesPerDelivery); openBlocks.initialize(repeating: -1, count: slicesPerDelivery)
        openPendingSince = .allocate(capacity: slicesPerDelivery); openPendingSince.initialize(repeating: 0, count: slicesPerDelivery)
        openRecheck = .allocate(capacity: slicesPerDelivery); openRecheck.initialize(repeating: 0, count: slicesPerDelivery)
        openNeed = .allocate(capacity: slicesPerDelivery); openNeed.initialize(repeating: 0, count: slicesPerDelivery)
        // Chunk offload: a chunk is out as at most a full handle and partial slices (2·R in all);
        // flow routing: each delivery splits into up to k slices, but rarely into more than a
        // few, so 2…4·R frame handles (a delivery with no room for all its slices waits for
        // recycles); blocks: see below.
        // (at least k, so one delivery's slices always fit a pool with nothing out).
        frameItemBudget = max(slicesPerDelivery, max(2, min(slicesPerDelivery, 4)) * geometry.chunksPerPool)
        // Blocks: a flow-routed block ships its tail as slices while it fills (a few per ship), so it
        // has room for several ships; it is sealed when fewer than k slots are left. (k + 8: with 16
        // queues and R = 500, a lane still rounds to the 16,384 slots 18 slices a block took.)
        sliceSlotsPerBlock = slicesPerDelivery == 1 ? 1 : max(16, slicesPerDelivery + 8)
        itemBudget = frameItemBudget + s * sliceSlotsPerBlock
        let beyondRing = geometry.chunksPerPool - geometry.segmentsPerRing - 1
        zeroCopyAllowance = max(1, min(beyondRing, spill?.zeroCopyChunks ?? beyondRing))
        m = UInt32(geometry.cellsPerChunk)
        r = UInt32(geometry.chunksPerPool)
        chunkBytes = UInt64(geometry.chunkBytes)
        frameBytes = UInt64(geometry.frameSize)
        let cb = UInt64(geometry.chunkBytes)
        chunkShift = cb & (cb - 1) == 0 ? UInt64(cb.trailingZeroBitCount) : 0
        let chunks = geometry.chunksPerPool
        let slots = chunks + s
        let cellCount = geometry.cellsPerPool
        state = .allocate(capacity: slots); state.initialize(repeating: .free, count: slots)
        returned = .allocate(capacity: slots); returned.initialize(repeating: 0, count: slots)
        delivered = .allocate(capacity: slots); delivered.initialize(repeating: 0, count: slots)
        outstanding = .allocate(capacity: slots); outstanding.initialize(repeating: 0, count: slots)
        generation = .allocate(capacity: slots); generation.initialize(repeating: 0, count: slots)
        pendingSince = .allocate(capacity: slots); pendingSince.initialize(repeating: 0, count: slots)
        spillFreeStack = .allocate(capacity: max(1, s))
        // Block 0 on top, as for chunks.
        for i in 0..<s { spillFreeStack[i] = UInt32(chunks + s - 1 - i) }
        spillFreeCount = s
        lender = .allocate(capacity: max(1, s))
        lender.initialize(repeating: 0, count: max(1, s))
        sliceLength = .allocate(capacity: cellCount); sliceLength.initialize(repeating: 0, count: cellCount)
        cells = .allocate(capacity: cellCount)
        cells.initialize(repeating: CellDescriptor(address: 0, length: 0, timestamp: 0), count: cellCount)
        buckets = .allocate(capacity: cellCount); buckets.initialize(repeating: 0, count: cellCount)
        let perBlock = spill == nil ? 0 : SpillGeometry.maxPacketsPerBlock(blockBytes: geometry.chunkBytes)
        blockCells = perBlock
        blockBuckets = .allocate(capacity: max(1, s * perBlock)); blockBuckets.initialize(repeating: 0, count: max(1, s * perBlock))
        blockSlices = .allocate(capacity: max(1, s * sliceSlotsPerBlock))
        blockSlices.initialize(repeating: 0, count: max(1, s * sliceSlotsPerBlock))
        let most = max(geometry.cellsPerChunk, perBlock)
        scratchCells = .allocate(capacity: most)
        scratchBuckets = .allocate(capacity: most)
        routeCounts = .allocate(capacity: slicesPerDelivery); routeCounts.initialize(repeating: 0, count: slicesPerDelivery)
        freeStack = .allocate(capacity: chunks)
        // Chunk 0 on top, so a fresh pool attaches 0, 1, 2, … (addresses ascend).
        for i in 0..<chunks { freeStack[i] = UInt32(chunks - 1 - i) }
        freeCount = chunks
        attachedList = .allocate(capacity: chunks)
        attachedCount = 0
    }

    deinit {
        state.deallocate(); returned.deallocate(); delivered.deallocate()
        outstanding.deallocate(); generation.deallocate(); sliceLength.deallocate(); pendingSince.deallocate()
        cells.deallocate(); freeStack.deallocate(); attachedList.deallocate(); spillFreeStack.deallocate()
        lender.deallocate(); buckets.deallocate(); blockBuckets.deallocate(); blockSlices.deallocate()
        scratchCells.deallocate(); scratchBuckets.deallocate(); routeCounts.deallocate()
        openBlocks.deallocate(); openPendingSince.deallocate(); openRecheck.deallocate(); openNeed.deallocate()
    }

    // MARK: Occupancy

    /// Chunks in the `free` state.
    @inlinable public var freeChunks: Int { freeCount }
    /// Frame chunks lent to spill blocks (open or delivered).
    @inlinable public var lentChunks: Int { lentCount }
    /// Chunks in the `attached` state.
    @inlinable public var attachedChunks: Int { attachedCount }
    /// Chunks in the `captured` state.
    @inlinable public var capturedChunks: Int { capturedCount }

    /// The state of chunk `chunk` (a spill block: `R + block`).
    public func state(of chunk: Int) -> ChunkState { state[chunk] }

    /// Spill blocks delivered and not yet recycled.
    @inlinable public var spillBlocksOut: Int { spillOut }
    /// Spill block slots free (neither open nor delivered).
    @inlinable public var freeSpillBlocks: Int { spillFreeCount }
    /// `true` while the pool spills (see the type's documentation).
    @inlinable public var isSpilling: Bool { spilling }
    /// `true` when the latest delivery left a full chunk in the pool because the
    /// open block and free chunks had no room for it yet (see the type's documentation): the capture
    /// thread waits for a spill block to come back, not for a deadline.
    @inlinable public var waitsForArena: Bool { waitingForArena }
    /// `true` when nothing more can be delivered before a recycle comes back: the
    /// pool waits for spill space, or its frame-handle budget is spent. No
    /// deadline helps then (see ``CaptureDriver/nextPartialDeadline()``).
    @inlinable public var waitsForRecycle: Bool { waitingForArena || waitingForRoom || frameItems >= frameItemBudget }
    /// Packets copied into the open spill blocks, not yet delivered.
    @inlinable public var openBlockPackets: Int {
        var k = 0
        for o in 0..<opens where openBlocks[o] >= 0 { k &+= unshipped(o) }
        return k
    }

    // MARK: Attach

    /// Moves a free chunk to `attached` and returns its index; the caller posts its
    /// M frame addresses (``frameAddress(chunk:cell:)``) to the fill ring.
    ///
    /// - Returns: `nil` when no chunk is free (counted once per starvation episode
    ///   in ``PoolCounters/exhaustionEpisodes``).
    @inlinable
    public func attach() -> UInt32? {
        guard freeCount > 0 else {
            if !stored.starving {
                stored.starving = true
                stored.exhaustionEpisodes &+= 1
            }
            return nil
        }
        stored.starving = false
        freeCount -= 1
        let chunk = freeStack[freeCount]
        let c = Int(chunk)
        state[c] = .attached
        generation[c] &+= 1
        returned[c] = 0
        delivered[c] = 0
        attachedList[attachedCount] = chunk
        attachedCount += 1
        stored.attaches &+= 1
        return chunk
    }

    /// The frame address (offset in the pool's memory) of cell `cell` of chunk `chunk`.
    @inlinable
    public func frameAddress(chunk: UInt32, cell: UInt32) -> UInt64 {
        UInt64(chunk) &* chunkBytes &+ UInt64(cell) &* frameBytes
    }

    // MARK: Receive

    /// Records a received packet: finds its chunk by address and appends it to the
    /// chunk's descriptor table.
    ///
    /// - Returns: `false` if the address belongs to no attached chunk, or to a chunk
    ///   that already has all M frames back (counted in
    ///   ``PoolCounters/invalidDescriptors``; a kernel or caller bug, never silent).
    @inlinable @inline(__always)
    public func record(address: UInt64, length: UInt32, timestamp: UInt64) -> Bool {
        record(address: address, length: length, timestamp: timestamp, arrival: timestamp)
    }

    /// Records a received packet whose capture time (`timestamp`, the packet's
    /// wall-clock stamp) and arrival time on the deadline clock (`arrival`, the clock
    /// ``deliverReady(now:timeout:_:)`` is given) differ. A live backend stamps
    /// packets with CLOCK_REALTIME and runs deadlines on CLOCK_MONOTONIC, so a step
    /// of the wall clock never stalls or hurries a partial chunk.
    @inlinable @inline(__always)
    public func record(address: UInt64, length: UInt32, timestamp: UInt64, arrival: UInt64, flags: UInt32 = 0,
                       bucket: UInt16 = 0) -> Bool {
        let chunk = chunkShift != 0 ? address &>> chunkShift : address / chunkBytes
        guard chunk < UInt64(r) else {
            stored.invalidDescriptors &+= 1
            return false
        }
        let c = Int(truncatingIfNeeded: chunk)
        let got = returned[c]
        guard state[c] == .attached, got < m else {
            stored.invalidDescriptors &+= 1
            return false
        }
        let k = c &* Int(m) &+ Int(got)
        cells[k] = CellDescriptor(address: address, length: length, timestamp: timestamp, flags: flags)
        buckets[k] = bucket
        if let arrivals = flowArrivals { arrivals[Int(bucket & bucketMask)] &+= 1 }
        if got == delivered[c] { pendingSince[c] = arrival }
        returned[c] = got &+ 1
        return true
    }

    // MARK: Deliver

    /// Offers every deliverable slice to `place`, oldest attached chunk first.
    ///
    /// A chunk's undelivered cells are deliverable when the chunk is full, or when
    /// the oldest of them was received `timeout` or more before `now`. Under
    /// pressure they are copied into the open spill block instead (see the type's
    /// documentation); the open block is offered when full, before the next
    /// zero-copy handle, and when due (unless `holdSpill`). `place` returns `false`
    /// when it cannot take the handle now; the cells then stay in the pool and are
    /// offered again next time (nothing is lost).
    ///
    /// - Parameter holdSpill: asked only when an open block is due, with the block's
    ///   route (per-route blocks; -1 for a block every route shares): is every
    ///   consumer it could go to busy with earlier handles (the ``BuddyGroup``
    ///   knows)? Then it keeps filling past its deadline (see the type's documentation).
    /// - Returns: packets handed out by this call.
    @inlinable
    public func deliverReady(now: UInt64, timeout: UInt64, holdSpill: (Int) -> Bool = { _ in false },
                             _ place: (ChunkHandle) -> Bool) -> Int {
        var packets = 0
        var blocked = false
        var keep = 0
        let mm = Int(m)
        waitingForArena = false
        waitingForRoom = false
        for i in 0..<attachedCount {
            let chunk = attachedList[i]
            let c = Int(chunk)
            let got = returned[c]
            var done = delivered[c]
            if !blocked, got > done {
                let full = got == m
                let oldest = pendingSince[c]
                let timedOut = now >= oldest && now &- oldest >= timeout
                if full || timedOut {
                    // The cheap test first (a steady state never walks the chunk's cells), then
                    // worth copying: large packets alone must not start (or count) an episode.
                    if let arena = spillArena, mayBeUnderPressure, worthSpilling(c, from: done, to: got), underPressure() {
                        if fits(c, from: done, to: got, arena) {
                            done = spill(c, from: done, to: got, arena, place, &packets, &blocked)
                        } else if spillOut > 0 && now != UInt64.max {
                            // Wait for a block to come back; nothing later overtakes this chunk.
                            waitingForArena = true
                            blocked = true
                        } else if done < got && frameItems < frameItemBudget {
                            stored.spillArenaFull &+= 1   // it goes zero-copy below
                        }
                    }
                    if done < got && !blocked {
                        // Zero-copy, behind whatever the open block holds.
                        if flowRoute != nil {
                            if shipOpenBlocks(seal: !spilling, place, &packets) {
                                let sent = deliverSlices(c, from: done, to: got, place)
                                if sent > 0 {
                                    packets &+= sent
                                    if !full { stored.partialSlices &+= 1 }
                                    else if delivered[c] == 0 && sent == Int(m) { stored.fullChunks &+= 1 }
                                    else { stored.completingSlices &+= 1 }
                                }
                                done &+= UInt32(sent)
                                if sent == 0 { waitingForRoom = true }
                            }
                            if done < got { blocked = true }
                        } else if frameItems < frameItemBudget && shipOpenBlocks(seal: !spilling, place, &packets) {
                            let handle = ChunkHandle(
                                queue: queue, chunk: chunk, generation: generation[c], start: done, count: got &- done, group: group)
                            if place(handle) {
                                sliceLength[c &* mm &+ Int(done)] = got &- done
                                outstanding[c] &+= 1
                                outstandingCount += 1
                                frameItems += 1
                                packets &+= Int(got &- done)
                                if !full { stored.partialSlices &+= 1 }
                                else if delivered[c] == 0 { stored.fullChunks &+= 1 }
                                else { stored.completingSlices &+= 1 }
                                done = got
                            } else {
                                blocked = true
                            }
                        } else {
                            blocked = true
                        }
                    }
                    delivered[c] = done
                    if done == m {
                        // Every cell handed out: the chunk leaves the attached list,
                        // free at once when nothing of it is in user space (spilled whole).
                        if outstanding[c] == 0 {
                            state[c] = .free
                            freeStack[freeCount] = chunk
                            freeCount += 1
                        } else {
                            state[c] = .captured
                            capturedCount += 1
                        }
                        continue
                    }
                }
            }
            attachedList[keep] = chunk
            keep += 1
        }
        attachedCount = keep
        for o in 0..<opens where !blocked && openBlocks[o] >= 0 {
            if now == UInt64.max {
                // The final flush: every open block goes out and is sealed.
                if !shipOpenBlock(o, seal: true, place, &packets) { blocked = true }
                continue
            }
            guard unshipped(o) > 0 else { continue }
            let oldest = openPendingSince[o]
            if now >= oldest && now &- oldest >= timeout {
                if !holdSpill(blockPerRoute ? o : -1) {
                    if !shipOpenBlock(o, seal: false, place, &packets) { blocked = true }
                } else {
                    openRecheck[o] = now &+ max(1, timeout / 2)
                }
            }
        }
        stored.packetsDelivered &+= UInt64(packets)
        #if WIRECAP_INTERNAL_CHECKS
        checkInvariants()
        #endif
        return packets
    }

    // MARK: Flow slices

    /// Routes this pool's deliveries by flow bucket (see the type's documentation):
    /// `route[bucket & (buckets − 1)]` names the slice a packet goes in, one of
    /// `destinations` (at most ``slicesPerDelivery``), and `arrivals[bucket]` counts
    /// the packets recorded. The tables belong to the capture thread, which changes
    /// the routes only between deliveries.
    ///
    /// With spilling, packets are copied into the open block of their route (one
    /// block per route, so a delivered block is normally one consumer's whole);
    /// `version` counts the router's route changes: when it moved, the open blocks
    /// are delivered before anything more is copied, so a bucket's packets copied
    /// before a change and after it are in blocks delivered in that order.
    public func routeByFlow(_ route: UnsafeMutablePointer<UInt16>, arrivals: UnsafeMutablePointer<UInt32>,
                            buckets: Int, destinations: Int, version: UnsafePointer<UInt64>? = nil) {
        precondition(destinations <= slicesPerDelivery && buckets & (buckets - 1) == 0 && buckets <= 65536,
                     "ChunkPool: \(destinations) routes over \(slicesPerDelivery) slices, \(buckets) buckets")
        flowRoute = route
        routeVersion = version
        openVersion = version?.pointee ?? 0
        flowArrivals = arrivals
        bucketMask = UInt16(truncatingIfNeeded: buckets - 1)
    }

    /// The flow buckets of the packets a handle names, cell for cell with
    /// ``descriptors(of:)``. Valid until the handle's chunk is attached (or its block
    /// opened) again, which only the capture thread does: the capture thread may
    /// read them right after it recycled the handle.
    @inlinable
    public func buckets(of handle: ChunkHandle) -> UnsafeBufferPointer<UInt16> {
        let c = Int(handle.chunk)
        if c >= Int(r) {
            let offset: Int = (c &- Int(r)) &* blockCells &+ Int(handle.start)
            return UnsafeBufferPointer(start: blockBuckets + offset, count: Int(handle.count))
        }
        return UnsafeBufferPointer(start: buckets + (c &* Int(m) &+ Int(handle.start)), count: Int(handle.count))
    }

    /// Delivers cells `from ..< to` of frame chunk `c` as one slice per route.
    /// - Returns: cells delivered: all, or fewer when the frame-handle budget has
    ///   no room for every slice (nothing is then delivered) or `place` refused one
    ///   (the rest stays, partitioned, for the next delivery).
    @inlinable
    func deliverSlices(_ c: Int, from: UInt32, to: UInt32, _ place: (ChunkHandle) -> Bool) -> Int {
        let mm = Int(m)
        let base = c &* mm &+ Int(from)
        let chunk = UInt32(truncatingIfNeeded: c)
        return partition(cells + base, buckets + base, count: Int(to &- from), route: flowRoute!,
                         room: frameItemBudget &- frameItems) { offset, length in
            let start = from &+ UInt32(truncatingIfNeeded: offset)
            let handle = ChunkHandle(queue: queue, chunk: chunk, generation: generation[c], start: start,
                                     count: UInt32(truncatingIfNeeded: length), group: group)
            guard place(handle) else { return false }
            sliceLength[c &* mm &+ Int(start)] = UInt32(truncatingIfNeeded: length)
            outstanding[c] &+= 1
            outstandingCount += 1
            frameItems += 1
            return true
        }
    }

    /// Partitions `count` cells and their buckets in place, stably, by route, and
    /// calls `emit(offset, length)` for each route's run in route order, until it
    /// returns `false`. When every cell has one route (the common case) nothing
    /// moves. - Returns: cells emitted (0 when the runs outnumber `room`).
    @inlinable
    func partition(_ row: UnsafeMutablePointer<CellDescriptor>, _ tags: UnsafeMutablePointer<UInt16>, count: Int,
                   route: UnsafeMutablePointer<UInt16>, room: Int = .max, _ emit: (Int, Int) -> Bool) -> Int {
        let mask = bucketMask
        let routes = slicesPerDelivery
        for k in 0..<routes { routeCounts[k] = 0 }
        for k in 0..<count { routeCounts[Int(route[Int(tags[k] & mask)])] &+= 1 }
        var runs = 0
        for k in 0..<routes where routeCounts[k] > 0 { runs &+= 1 }
        guard runs <= room else { return 0 }
        if runs > 1 {
            // Counting sort into the scratch rows, then back: each route's cells keep their order.
            var offset = 0
            for k in 0..<routes { let n = routeCounts[k]; routeCounts[k] = offset; offset &+= n }
            for k in 0..<count {
                let d = Int(route[Int(tags[k] & mask)])
                let at = routeCounts[d]
                scratchCells[at] = row[k]
                scratchBuckets[at] = tags[k]
                routeCounts[d] = at &+ 1
            }
            row.update(from: scratchCells, count: count)
            tags.update(from: scratchBuckets, count: count)
            // routeCounts[k] is now the end of route k's run.
            var start = 0
            for k in 0..<routes where routeCounts[k] > start {
                let end = routeCounts[k]
                guard emit(start, end &- start) else { return start }
                start = end
            }
            return count
        }
        return emit(0, count) ? count : 0
    }

    // MARK: Spill

    /// Whether pressure holds or would begin now (``underPressure()`` without its
    /// updates): a pool that answers `false` spills nothing.
    @inlinable var mayBeUnderPressure: Bool {
        spilling || capturedCount >= zeroCopyAllowance || freeCount == 0 || frameItems >= frameItemBudget / 2
    }

    /// Whether deliverable cells are spilled now, updating the pressure state
    /// (see the type's documentation).
    @inlinable @inline(__always)
    func underPressure() -> Bool {
        if spilling {
            if spillOut == 0 && capturedCount <= zeroCopyAllowance / 2 && freeCount > 0 && frameItems < frameItemBudget / 4
                && !openBlocksOut {
                spilling = false
            }
        } else if mayBeUnderPressure {
            spilling = true
            stored.spillEpisodes &+= 1
        }
        return spilling
    }

    /// Whether copying cells `from ..< to` of chunk `c` saves at least half their
    /// frames' memory: their records take at most half a frame per packet (see
    /// the type's documentation).
    @inlinable
    func worthSpilling(_ c: Int, from: UInt32, to: UInt32) -> Bool {
        let row = cells + c &* Int(m)
        var need = 0
        for k in Int(from)..<Int(to) { need &+= SpillArena.recordBytes(Int(row[k].length)) }
        return need &* 2 <= Int(to &- from) &* Int(frameBytes)
    }

    /// Whether cells `from ..< to` of chunk `c` surely fit the open block and the
    /// blocks that can still be opened (a free slot and a free chunk to lend each):
    /// their records' bytes, with each block's end wasting less than the largest
    /// of them (a block is closed when the next record does not fit).
    @inlinable
    func fits(_ c: Int, from: UInt32, to: UInt32, _ arena: SpillArena) -> Bool {
        let row = cells + c &* Int(m)
        var slack = 0
        for o in 0..<opens { openNeed[o] = 0 }
        for k in Int(from)..<Int(to) {
            let record = SpillArena.recordBytes(Int(row[k].length))
            openNeed[openIndex(c, k)] &+= record
            slack = max(slack, record)
        }
        let perBlock = arena.blockBytes &- slack
        var blocks = 0
        for o in 0..<opens where openNeed[o] > 0 {
            let have = openBlocks[o] >= 0 ? max(0, arena.openRoom(o) &- slack) : 0
            if openNeed[o] > have { blocks &+= (openNeed[o] &- have &+ perBlock &- 1) / perBlock }
        }
        return blocks <= min(spillFreeCount, freeCount)
    }

    /// Per-route blocks: the router has a version (``routeByFlow(_:arrivals:buckets:destinations:version:)``).
    @inlinable var blockPerRoute: Bool { routeVersion != nil }

    /// The routes changed since the open blocks were filled.
    @inlinable var routesChanged: Bool { routeVersion.map { $0.pointee != openVersion } ?? false }

    /// The open block cell `k` of chunk `c` is copied into: its route's (0 without per-route blocks).
    @inlinable @inline(__always)
    func openIndex(_ c: Int, _ k: Int) -> Int {
        guard blockPerRoute else { return 0 }
        return Int(flowRoute![Int(buckets[c &* Int(m) &+ k] & bucketMask)])
    }

    /// Copies cells `from ..< to` of chunk `c` into the open block (per-route
    /// blocks: into their route's), opening and delivering blocks as they fill
    /// (each opened block borrows a free frame chunk). Stops early when no block
    /// can be opened (no free slot or no free chunk: the rest goes zero-copy) or a
    /// full block cannot be placed (`blocked`).
    ///
    /// Per-route blocks, and why a flow stays in order: if the routes changed since
    /// the open blocks were filled, they are delivered first (each partitioned by
    /// the routes of now, like any delivery), so every open block holds only
    /// packets copied under the current routes: a bucket's packets are then in one
    /// open block, and those copied under its earlier route were delivered before.
    /// - Returns: the first cell not spilled.
    @inlinable
    func spill(_ c: Int, from: UInt32, to: UInt32, _ arena: SpillArena, _ place: (ChunkHandle) -> Bool,
               _ packets: inout Int, _ blocked: inout Bool) -> UInt32 {
        if routesChanged {
            guard shipOpenBlocks(seal: false, place, &packets) else {
                blocked = true
                return from
            }
            openVersion = routeVersion!.pointee
        }
        let row = cells + c &* Int(m)
        var k = from
        var bytes: UInt64 = 0
        while k < to {
            let o = openIndex(c, Int(k))
            if openBlocks[o] < 0 {
                guard spillFreeCount > 0, freeCount > 0 else {
                    stored.spillArenaFull &+= 1
                    break
                }
                spillFreeCount -= 1
                let b = Int(spillFreeStack[spillFreeCount])
                // Lend the warmest free frame chunk; a new generation, so no old handle names it.
                freeCount -= 1
                let lent = freeStack[freeCount]
                state[Int(lent)] = .lent
                generation[Int(lent)] &+= 1
                lender[b &- Int(r)] = lent
                lentCount += 1
                state[b] = .attached
                generation[b] &+= 1
                returned[b] = 0
                delivered[b] = 0
                openBlocks[o] = b
                openRecheck[o] = 0
                arena.open(o, slot: b &- Int(r), lentChunk: Int(lent))
            }
            let cell = row[Int(k)]
            if arena.append(cell, to: o) {
                let count = arena.openCount(o)
                let slot: Int = (openBlocks[o] &- Int(r)) &* blockCells &+ count &- 1
                blockBuckets[slot] = buckets[c &* Int(m) &+ Int(k)]
                if count == Int(delivered[openBlocks[o]]) &+ 1 { openPendingSince[o] = pendingSince[c] }
                bytes &+= UInt64(cell.length)
                k &+= 1
            } else if !closeOpenBlock(o, place, &packets) {
                blocked = true
                break
            }
        }
        stored.packetsSpilled &+= UInt64(k &- from)
        stored.bytesSpilled &+= bytes
        return k
    }

    /// Ships the tail of every open block (``shipOpenBlock(_:seal:_:_:)``), in the order of their routes.
    /// - Returns: `false` when one could not be shipped (it and the later ones keep their tails).
    @inlinable
    func shipOpenBlocks(seal: Bool, _ place: (ChunkHandle) -> Bool, _ packets: inout Int) -> Bool {
        for o in 0..<opens where openBlocks[o] >= 0 {
            guard shipOpenBlock(o, seal: seal, place, &packets) else { return false }
        }
        return true
    }

    /// Delivers open block `o`'s full-for-the-next-packet end: its tail, then seals it.
    @inlinable
    func closeOpenBlock(_ o: Int, _ place: (ChunkHandle) -> Bool, _ packets: inout Int) -> Bool {
        shipOpenBlock(o, seal: true, place, &packets)
    }

    /// Packets of open block `o` not yet shipped.
    @inlinable @inline(__always)
    func unshipped(_ o: Int) -> Int { spillArena!.openCount(o) &- Int(delivered[openBlocks[o]]) }

    /// `true` while a slice of an open block is in user space.
    @inlinable var openBlocksOut: Bool {
        for o in 0..<opens where openBlocks[o] >= 0 && outstanding[openBlocks[o]] > 0 { return true }
        return false
    }

    /// Ships open block `o`'s *tail* (its packets not yet delivered) and, when
    /// `seal` (or the block does not stream, or has too few slice slots left for
    /// another ship), seals it: nothing more is copied into it, and it is free once
    /// its last slice is back. - Returns: `false` only when the tail could not be
    /// shipped (`place` refused it, or no slot is left for its slices); it stays.
    ///
    /// With flow routing the tail goes out as one slice per route of its packets
    /// now (see the type's documentation): one, unless routes changed since it was
    /// copied; the group's lanes hold the whole item budget, so a slice is never
    /// refused once the first was taken. A streaming block keeps filling after a
    /// ship: a due tail costs a slice, not the rest of the block.
    @inlinable
    func shipOpenBlock(_ o: Int, seal: Bool, _ place: (ChunkHandle) -> Bool, _ packets: inout Int) -> Bool {
        guard openBlocks[o] >= 0 else { return true }
        let b = openBlocks[o]
        let count = spillArena!.openCount(o)
        let from = Int(delivered[b])
        let slots = blockSlices + (b &- Int(r)) &* sliceSlotsPerBlock
        if count > from {
            if let route = flowRoute {
                var room = 0
                for k in 0..<sliceSlotsPerBlock where slots[k] == 0 { room &+= 1 }
                let table = spillArena!.table(b &- Int(r)) + from
                let tags = blockBuckets + ((b &- Int(r)) &* blockCells &+ from)
                var slot = 0
                var placed = false
                let sent = partition(table, tags, count: count &- from, route: route, room: room) { start, length in
                    let handle = ChunkHandle(queue: queue, chunk: UInt32(b), generation: generation[b],
                                             start: UInt32(from &+ start), count: UInt32(length), group: group)
                    guard place(handle) else {
                        precondition(!placed, "ChunkPool: a block's slice refused after its first was placed")
                        return false
                    }
                    placed = true
                    while slots[slot] != 0 { slot &+= 1 }
                    slots[slot] = UInt64(from &+ start) << 32 | UInt64(length)
                    outstanding[b] &+= 1
                    outstandingCount += 1
                    return true
                }
                guard sent == count &- from else { return false }
            } else {
                let handle = ChunkHandle(queue: queue, chunk: UInt32(b), generation: generation[b], start: UInt32(from),
                                         count: UInt32(count &- from), group: group)
                guard place(handle) else { return false }
                slots[0] = UInt64(from) << 32 | UInt64(count &- from)
                outstanding[b] &+= 1
                outstandingCount += 1
            }
            returned[b] = UInt32(count)
            delivered[b] = UInt32(count)
            packets &+= count &- from
        }
        var sealing = seal || !blockPerRoute
        if !sealing {
            var room = 0
            for k in 0..<sliceSlotsPerBlock where slots[k] == 0 { room &+= 1 }
            sealing = room < slicesPerDelivery
        }
        guard sealing else { return true }
        openBlocks[o] = -1
        if count > 0 { stored.spillBlocksDelivered &+= 1 }
        if outstanding[b] > 0 {
            state[b] = .captured
            spillOut += 1
        } else {
            freeBlock(b)
        }
        return true
    }

    /// Block `b` (sealed, nothing of it out) and the frame chunk it borrowed are free again.
    @inlinable
    func freeBlock(_ b: Int) {
        state[b] = .free
        spillFreeStack[spillFreeCount] = UInt32(b)
        spillFreeCount += 1
        let lent = lender[b &- Int(r)]
        state[Int(lent)] = .free
        freeStack[freeCount] = lent
        freeCount += 1
        lentCount -= 1
    }

    /// When the first open block is next due (deadline clock), if one holds packets:
    /// its oldest packet's deadline, or, once that passed while consumers were busy,
    /// the next recheck.
    public func openBlockDeadline(timeout: UInt64) -> UInt64? {
        var first: UInt64?
        for o in 0..<opens where openBlocks[o] >= 0 && unshipped(o) > 0 {
            let due = openPendingSince[o] &+ timeout
            let next = openRecheck[o] > due ? openRecheck[o] : due
            if first == nil || next < first! { first = next }
        }
        return first
    }

    // MARK: Whole chunks filled by the kernel

    /// For a backend whose kernel fills a whole chunk and returns it at once (a
    /// TPACKET_V3 block, retired full or by its timer): attached chunk `chunk` came
    /// back holding `count` packets, whose descriptors the caller wrote into cells
    /// `0 ..< count` of the chunk's table. The chunk goes to `captured` with one
    /// outstanding handle, which is returned; it comes back through
    /// ``recycle(_:)`` and its validation like any other.
    ///
    /// - Returns: `nil` (counted in ``PoolCounters/invalidDescriptors``) when the
    ///   chunk is not attached, already holds packets, `count` is 0 or above M, or
    ///   the item budget is spent: a backend bug, never silent.
    public func completeWhole(chunk: UInt32, count: UInt32, retiredByTimer: Bool) -> ChunkHandle? {
        let c = Int(chunk)
        guard chunk < r, state[c] == .attached, returned[c] == 0, count > 0, count <= m,
              outstandingCount < itemBudget,
              let i = (0..<attachedCount).first(where: { attachedList[$0] == chunk }) else {
            stored.invalidDescriptors &+= 1
            return nil
        }
        // Swap-remove: a whole pool never delivers slices, so the attached list's
        // order (used by deliverReady) does not matter here. The search is O(R)
        // compares once per block (R is hundreds to thousands of blocks, each holding
        // up to thousands of packets).
        attachedCount -= 1
        attachedList[i] = attachedList[attachedCount]
        returned[c] = count
        delivered[c] = count
        sliceLength[c &* Int(m)] = count
        outstanding[c] = 1
        outstandingCount += 1
        frameItems += 1
        state[c] = .captured
        capturedCount += 1
        fillsWhole = true
        if retiredByTimer { stored.partialSlices &+= 1 } else { stored.fullChunks &+= 1 }
        stored.packetsDelivered &+= UInt64(count)
        return ChunkHandle(queue: queue, chunk: chunk, generation: generation[c], start: 0, count: count, group: group)
    }

    /// For a whole-chunk pool: takes a recycled handle back (validated like
    /// ``recycle(_:)``) and attaches the same chunk again at once, as the kernel gets
    /// the block back. The freed chunk is on top of the free stack, so ``attach()``
    /// returns exactly it. - Returns: `nil` when accepted; otherwise why not.
    public func recycleAndReattach(_ handle: ChunkHandle) -> RecycleRejection? {
        if let rejection = recycle(handle) { return rejection }
        let chunk = attach()
        precondition(chunk == handle.chunk, "ChunkPool: reattached \(String(describing: chunk)) for \(handle.chunk)")
        return nil
    }

    // MARK: Recycle

    /// Takes back a handle from user space after strict validation.
    ///
    /// - Returns: `nil` when accepted; otherwise why it was rejected. A rejected
    ///   handle changes nothing in the pool and is counted.
    @discardableResult
    public func recycle(_ handle: ChunkHandle) -> RecycleRejection? {
        if let rejection = validate(handle) {
            stored.rejected[rejection] &+= 1
            return rejection
        }
        let c = Int(handle.chunk)
        stored.recycled &+= 1
        outstandingCount -= 1
        if c >= Int(r) {
            // A spill block's slice; with the last of a sealed block, the block is free
            // again, and so is the chunk it borrowed (an open block stays open).
            let slots = blockSlices + (c &- Int(r)) &* sliceSlotsPerBlock
            let key = UInt64(handle.start) << 32 | UInt64(handle.count)
            for k in 0..<sliceSlotsPerBlock where slots[k] == key { slots[k] = 0; break }
            outstanding[c] -= 1
            if outstanding[c] > 0 || state[c] == .attached { return nil }
            spillOut -= 1
            freeBlock(c)
            #if WIRECAP_INTERNAL_CHECKS
            checkInvariants()
            #endif
            return nil
        }
        sliceLength[c * Int(m) + Int(handle.start)] = 0
        outstanding[c] -= 1
        frameItems -= 1
        if state[c] == .captured && outstanding[c] == 0 {
            state[c] = .free
            capturedCount -= 1
            freeStack[freeCount] = handle.chunk
            freeCount += 1
        }
        #if WIRECAP_INTERNAL_CHECKS
        checkInvariants()
        #endif
        return nil
    }

    /// Traps with the list of violations if any invariant is broken
    /// (compiled into hot paths only with `-DWIRECAP_INTERNAL_CHECKS`).
    @usableFromInline
    func checkInvariants() {
        let problems = invariantViolations()
        precondition(problems.isEmpty, "ChunkPool \(queue) invariants broken: \(problems)")
    }

    /// What ``recycle(_:)`` would say about `handle` now, without recycling it:
    /// `nil` means the handle is outstanding and valid.
    public func validate(_ handle: ChunkHandle) -> RecycleRejection? {
        guard handle.queue == queue, handle.group == group else { return .wrongPool }
        guard UInt64(handle.chunk) < UInt64(r) + UInt64(spillBlocks) else { return .unknownChunk }
        let c = Int(handle.chunk)
        guard handle.generation == generation[c] else { return .staleGeneration }
        guard state[c] != .free else { return .notCaptured }
        if c >= Int(r) {
            // A spill block is delivered whole or (flow routing) as slices, open or sealed.
            guard outstanding[c] > 0 else { return .notOutstanding }
            let slots = blockSlices + (c &- Int(r)) &* sliceSlotsPerBlock
            var startsHere = false
            for k in 0..<sliceSlotsPerBlock where slots[k] != 0 && slots[k] >> 32 == UInt64(handle.start) {
                if slots[k] & 0xffff_ffff == UInt64(handle.count) { return nil }
                startsHere = true
            }
            return startsHere ? .lengthMismatch : .notOutstanding
        }
        guard handle.start < m else { return .notOutstanding }
        let length = sliceLength[c * Int(m) + Int(handle.start)]
        guard length != 0 else { return .notOutstanding }
        guard length == handle.count else { return .lengthMismatch }
        return nil
    }

    // MARK: Reading packets

    /// The descriptors of the packets a handle names. Valid until the handle is
    /// recycled. Any thread that holds the handle.
    @inlinable
    public func descriptors(of handle: ChunkHandle) -> UnsafeBufferPointer<CellDescriptor> {
        let c = Int(handle.chunk)
        if c >= Int(r) {
            return UnsafeBufferPointer(start: spillArena!.table(c &- Int(r)) + Int(handle.start), count: Int(handle.count))
        }
        return UnsafeBufferPointer(start: cells + (c &* Int(m) &+ Int(handle.start)), count: Int(handle.count))
    }

    // MARK: Invariants

    /// Checks every invariant of the pool; returns one line per violation (empty when sound).
    /// O(R·M): for tests and `WIRECAP_INTERNAL_CHECKS` builds, not for the hot path.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var free = 0, attached = 0, captured = 0, lent = 0, outstandingSum = 0
        let mm = Int(m)
        var inFreeStack = [Bool](repeating: false, count: Int(r))
        for i in 0..<freeCount {
            let c = Int(freeStack[i])
            if inFreeStack[c] { problems.append("chunk \(c) twice in the free stack") }
            inFreeStack[c] = true
        }
        var inAttachedList = [Bool](repeating: false, count: Int(r))
        for i in 0..<attachedCount {
            let c = Int(attachedList[i])
            if inAttachedList[c] { problems.append("chunk \(c) twice in the attached list") }
            inAttachedList[c] = true
        }
        for c in 0..<Int(r) {
            var slices = 0, sliced = 0
            for cell in 0..<mm where sliceLength[c * mm + cell] != 0 {
                slices += 1
                sliced += Int(sliceLength[c * mm + cell])
                if cell + Int(sliceLength[c * mm + cell]) > Int(delivered[c]) {
                    problems.append("chunk \(c): slice at \(cell) extends past delivered")
                }
            }
            if slices != Int(outstanding[c]) { problems.append("chunk \(c): \(slices) slices marked, \(outstanding[c]) outstanding") }
            _ = sliced
            outstandingSum += Int(outstanding[c])
            if delivered[c] > returned[c] { problems.append("chunk \(c): delivered > returned") }
            if returned[c] > m { problems.append("chunk \(c): returned > M") }
            switch state[c] {
            case .free:
                free += 1
                if !inFreeStack[c] { problems.append("free chunk \(c) not in the free stack") }
                if outstanding[c] != 0 { problems.append("free chunk \(c) has outstanding slices") }
            case .attached:
                attached += 1
                if !inAttachedList[c] { problems.append("attached chunk \(c) not in the attached list") }
                if delivered[c] == m { problems.append("attached chunk \(c) fully delivered") }
            case .captured:
                captured += 1
                // A whole chunk the kernel filled (``completeWhole(chunk:count:retiredByTimer:)``)
                // is captured with as many packets as it holds.
                if delivered[c] != m && !(fillsWhole && delivered[c] == returned[c]) {
                    problems.append("captured chunk \(c) not fully delivered")
                }
                if outstanding[c] == 0 { problems.append("captured chunk \(c) has nothing outstanding") }
            case .lent:
                lent += 1
                if outstanding[c] != 0 { problems.append("lent chunk \(c) has outstanding slices") }
            }
            if state[c] != .free && inFreeStack[c] { problems.append("non-free chunk \(c) in the free stack") }
            if state[c] != .attached && inAttachedList[c] { problems.append("non-attached chunk \(c) in the attached list") }
        }
        if free + attached + captured + lent != Int(r) { problems.append("free+attached+captured+lent != R") }
        if lent != lentCount { problems.append("lent count \(lentCount) != \(lent) lent chunks") }
        if free != freeCount { problems.append("free count \(free) != free stack \(freeCount)") }
        if captured != capturedCount { problems.append("captured count mismatch") }
        var framesOut = 0
        for c in 0..<Int(r) { framesOut += Int(outstanding[c]) }
        if framesOut != frameItems { problems.append("frame items \(frameItems) != sum \(framesOut)") }
        if frameItems > frameItemBudget { problems.append("frame items over budget") }
        // Spill blocks: free in the stack, the open one attached, delivered ones captured with one handle.
        var inSpillStack = [Bool](repeating: false, count: spillBlocks)
        for i in 0..<spillFreeCount {
            let b = Int(spillFreeStack[i]) - Int(r)
            if b < 0 || b >= spillBlocks { problems.append("spill free stack holds \(spillFreeStack[i])"); continue }
            if inSpillStack[b] { problems.append("spill block \(b) twice in the free stack") }
            inSpillStack[b] = true
        }
        var blocksOut = 0
        var lentTo = [Int](repeating: -1, count: Int(r))
        for b in 0..<spillBlocks {
            let c = Int(r) + b
            if state[c] != .free {
                let chunk = Int(lender[b])
                if chunk >= Int(r) || state[chunk] != .lent { problems.append("spill block \(b) borrows chunk \(chunk), not lent") }
                else if lentTo[chunk] >= 0 { problems.append("chunk \(chunk) lent to blocks \(lentTo[chunk]) and \(b)") }
                else { lentTo[chunk] = b }
            }
            switch state[c] {
            case .free:
                if !inSpillStack[b] { problems.append("free spill block \(b) not in the free stack") }
                if outstanding[c] != 0 { problems.append("free spill block \(b) outstanding") }
            case .attached:
                if !(0..<opens).contains(where: { openBlocks[$0] == c }) { problems.append("spill block \(b) attached but not open") }
                if inSpillStack[b] { problems.append("open spill block \(b) in the free stack") }
                let marked = (0..<sliceSlotsPerBlock).filter { blockSlices[b * sliceSlotsPerBlock + $0] != 0 }.count
                if Int(outstanding[c]) != marked {
                    problems.append("open spill block \(b) has \(outstanding[c]) handles, \(marked) slices marked")
                }
            case .captured:
                blocksOut += 1
                let marked = (0..<sliceSlotsPerBlock).filter { blockSlices[b * sliceSlotsPerBlock + $0] != 0 }.count
                if outstanding[c] == 0 || Int(outstanding[c]) != marked {
                    problems.append("delivered spill block \(b) has \(outstanding[c]) handles, \(marked) slices marked")
                }
                if returned[c] == 0 { problems.append("delivered spill block \(b) is empty") }
                if inSpillStack[b] { problems.append("delivered spill block \(b) in the free stack") }
            case .lent:
                problems.append("spill block \(b) is marked lent")
            }
            outstandingSum += Int(outstanding[c])
        }
        var open = 0
        for o in 0..<opens where openBlocks[o] >= 0 {
            open += 1
            if state[openBlocks[o]] != .attached { problems.append("open block \(openBlocks[o]) not attached") }
        }
        if blocksOut != spillOut { problems.append("spill blocks out \(spillOut) != \(blocksOut) delivered") }
        if spillFreeCount + blocksOut + open != spillBlocks { problems.append("spill blocks free+open+out != S") }
        if lentCount != blocksOut + open { problems.append("\(lentCount) chunks lent to \(blocksOut) blocks out and \(open) open") }
        if outstandingSum != outstandingItems { problems.append("outstanding items \(outstandingItems) != sum \(outstandingSum)") }
        if outstandingItems > itemBudget { problems.append("outstanding items over budget") }
        return problems
    }
}

/// Counters a ``ChunkPool`` keeps about itself. Plain values owned by the pool's thread.
public struct PoolCounters: Sendable, Hashable {
    /// Chunks attached (free → attached transitions).
    public var attaches: UInt64 = 0
    /// Chunks delivered whole (one handle of M packets).
    public var fullChunks: UInt64 = 0
    /// Slices delivered from a chunk that was not yet full (after the timeout).
    public var partialSlices: UInt64 = 0
    /// Last slices of chunks that were earlier delivered in part.
    public var completingSlices: UInt64 = 0
    /// Packets handed out in handles.
    public var packetsDelivered: UInt64 = 0
    /// Handles taken back.
    public var recycled: UInt64 = 0
    /// Handles refused, by reason.
    public var rejected = RejectionCounts()
    /// Received descriptors whose address named no attached chunk.
    public var invalidDescriptors: UInt64 = 0
    /// Times the pool ran out of free chunks when one was wanted (episodes, not packets).
    public var exhaustionEpisodes: UInt64 = 0
    /// `true` while the latest attach found no free chunk.
    public var starving = false
    /// Packets copied into spill blocks (they are also in ``packetsDelivered`` once their block is).
    public var packetsSpilled: UInt64 = 0
    /// Their bytes.
    public var bytesSpilled: UInt64 = 0
    /// Spill blocks delivered.
    public var spillBlocksDelivered: UInt64 = 0
    /// Times pressure began (see ``ChunkPool``).
    public var spillEpisodes: UInt64 = 0
    /// Times a chunk under pressure found no free spill block and went zero-copy.
    public var spillArenaFull: UInt64 = 0

    /// All rejected recycles.
    public var rejectedTotal: UInt64 { rejected.total }
}

/// Rejected recycles by reason; a fixed-size value (no heap storage).
public struct RejectionCounts: Sendable, Hashable {
    public var wrongPool: UInt64 = 0
    public var unknownChunk: UInt64 = 0
    public var staleGeneration: UInt64 = 0
    public var notCaptured: UInt64 = 0
    public var notOutstanding: UInt64 = 0
    public var lengthMismatch: UInt64 = 0

    public init() {}

    /// The count for one reason.
    public subscript(reason: RecycleRejection) -> UInt64 {
        get {
            switch reason {
            case .wrongPool: wrongPool
            case .unknownChunk: unknownChunk
            case .staleGeneration: staleGeneration
            case .notCaptured: notCaptured
            case .notOutstanding: notOutstanding
            case .lengthMismatch: lengthMismatch
            }
        }
        set {
            switch reason {
            case .wrongPool: wrongPool = newValue
            case .unknownChunk: unknownChunk = newValue
            case .staleGeneration: staleGeneration = newValue
            case .notCaptured: notCaptured = newValue
            case .notOutstanding: notOutstanding = newValue
            case .lengthMismatch: lengthMismatch = newValue
            }
        }
    }

    /// All reasons together.
    public var total: UInt64 {
        wrongPool &+ unknownChunk &+ staleGeneration &+ notCaptured &+ notOutstanding &+ lengthMismatch
    }
}
