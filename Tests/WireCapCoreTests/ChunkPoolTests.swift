import Testing
import WireCapCore

@Suite("ChunkPool")
struct ChunkPoolTests {
    let geometry = PoolGeometry(cellsPerChunk: 4, chunksPerPool: 6, fillRingSize: 8)

    /// Attaches a chunk and returns its M frame addresses.
    func attach(_ pool: ChunkPool) -> (UInt32, [UInt64])? {
        guard let c = pool.attach() else { return nil }
        return (c, (0..<UInt32(4)).map { pool.frameAddress(chunk: c, cell: $0) })
    }

    @Test func freshPoolIsAllFree() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        #expect(pool.freeChunks == 6 && pool.attachedChunks == 0 && pool.capturedChunks == 0)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func fullLifecycleFreeAttachedCapturedFree() {
        let pool = ChunkPool(queue: 3, geometry: geometry)
        let (chunk, addrs) = attach(pool)!
        #expect(chunk == 0)
        #expect(pool.state(of: 0) == .attached)
        #expect(addrs == [0, 2048, 4096, 6144])
        for (i, a) in addrs.enumerated() { #expect(pool.record(address: a, length: UInt32(60 + i), timestamp: 10)) }
        var handles: [ChunkHandle] = []
        let n = pool.deliverReady(now: 10, timeout: 1_000) { handles.append($0); return true }
        #expect(n == 4)
        #expect(handles == [ChunkHandle(queue: 3, chunk: 0, generation: 1, start: 0, count: 4)])
        #expect(pool.state(of: 0) == .captured)
        #expect(pool.descriptors(of: handles[0]).map(\.length) == [60, 61, 62, 63])
        #expect(pool.invariantViolations().isEmpty)
        #expect(pool.recycle(handles[0]) == nil)
        #expect(pool.state(of: 0) == .free)
        #expect(pool.freeChunks == 6)
        #expect(pool.counters.fullChunks == 1 && pool.counters.recycled == 1)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func notFullChunkWaitsUntilTimeoutThenSlices() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        let (_, addrs) = attach(pool)!
        #expect(pool.record(address: addrs[0], length: 64, timestamp: 100))
        #expect(pool.record(address: addrs[1], length: 64, timestamp: 150))
        var got: [ChunkHandle] = []
        #expect(pool.deliverReady(now: 1_099, timeout: 1_000) { got.append($0); return true } == 0)
        #expect(pool.deliverReady(now: 1_100, timeout: 1_000) { got.append($0); return true } == 2)
        #expect(got.last == ChunkHandle(queue: 0, chunk: 0, generation: 1, start: 0, count: 2))
        #expect(pool.state(of: 0) == .attached)  // its other frames are still with the kernel
        // The rest of the chunk comes back: the completing slice makes it captured.
        #expect(pool.record(address: addrs[2], length: 64, timestamp: 2_000))
        #expect(pool.record(address: addrs[3], length: 64, timestamp: 2_001))
        #expect(pool.deliverReady(now: 2_001, timeout: 1_000) { got.append($0); return true } == 2)
        #expect(got.last == ChunkHandle(queue: 0, chunk: 0, generation: 1, start: 2, count: 2))
        #expect(pool.state(of: 0) == .captured)
        #expect(pool.counters.partialSlices == 1 && pool.counters.completingSlices == 1)
        // Free only after every slice came back, in any order.
        #expect(pool.recycle(got[1]) == nil)
        #expect(pool.state(of: 0) == .captured)
        #expect(pool.recycle(got[0]) == nil)
        #expect(pool.state(of: 0) == .free)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func partialSliceRecycledWhileStillAttached() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        let (_, addrs) = attach(pool)!
        #expect(pool.record(address: addrs[0], length: 64, timestamp: 0))
        var got: [ChunkHandle] = []
        _ = pool.deliverReady(now: 5, timeout: 5) { got.append($0); return true }
        #expect(pool.recycle(got[0]) == nil)
        #expect(pool.state(of: 0) == .attached)
        #expect(pool.invariantViolations().isEmpty)
        for a in addrs.dropFirst() { #expect(pool.record(address: a, length: 64, timestamp: 6)) }
        _ = pool.deliverReady(now: 6, timeout: 5) { got.append($0); return true }
        #expect(got.count == 2 && got[1].start == 1 && got[1].count == 3)
        #expect(pool.recycle(got[1]) == nil)
        #expect(pool.state(of: 0) == .free)
    }

    @Test func framesReturnedOutOfOrderLandInTheirOwnChunk() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        let (c0, a0) = attach(pool)!
        let (c1, a1) = attach(pool)!
        // Interleave and reverse: the chunk is found by address, not position.
        let order = [a1[3], a0[2], a1[0], a0[0], a1[1], a0[3], a1[2], a0[1]]
        for (i, a) in order.enumerated() { #expect(pool.record(address: a, length: UInt32(i), timestamp: 1)) }
        var got: [ChunkHandle] = []
        _ = pool.deliverReady(now: 1, timeout: 100) { got.append($0); return true }
        #expect(Set(got.map(\.chunk)) == [c0, c1])
        for h in got {
            let addresses = pool.descriptors(of: h).map(\.address)
            let own = h.chunk == c0 ? a0 : a1
            #expect(Set(addresses) == Set(own))
        }
    }

    @Test func unknownAndExtraDescriptorsAreCountedNotRecorded() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        let (_, addrs) = attach(pool)!
        #expect(!pool.record(address: UInt64(geometry.poolBytes), length: 1, timestamp: 0))  // outside the pool
        #expect(!pool.record(address: pool.frameAddress(chunk: 5, cell: 0), length: 1, timestamp: 0))  // chunk not attached
        for a in addrs { #expect(pool.record(address: a, length: 1, timestamp: 0)) }
        #expect(!pool.record(address: addrs[0], length: 1, timestamp: 0))  // a fifth frame for a 4-cell chunk
        #expect(pool.counters.invalidDescriptors == 3)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func everyRecycleRejection() {
        let pool = ChunkPool(queue: 2, geometry: geometry)
        let (_, addrs) = attach(pool)!
        for a in addrs { _ = pool.record(address: a, length: 1, timestamp: 0) }
        var got: [ChunkHandle] = []
        _ = pool.deliverReady(now: 0, timeout: 1) { got.append($0); return true }
        let h = got[0]
        var wrongPool = h; wrongPool.queue = 1
        var unknown = h; unknown.chunk = 99
        var stale = h; stale.generation &+= 1
        var notOutstanding = h; notOutstanding.start = 1
        var badStart = h; badStart.start = 77
        var mismatch = h; mismatch.count = 3
        var neverAttached = h; neverAttached.chunk = 4; neverAttached.generation = 0
        #expect(pool.recycle(wrongPool) == .wrongPool)
        #expect(pool.recycle(unknown) == .unknownChunk)
        #expect(pool.recycle(stale) == .staleGeneration)
        #expect(pool.recycle(notOutstanding) == .notOutstanding)
        #expect(pool.recycle(badStart) == .notOutstanding)
        #expect(pool.recycle(mismatch) == .lengthMismatch)
        #expect(pool.recycle(neverAttached) == .notCaptured)
        #expect(pool.invariantViolations().isEmpty)
        #expect(pool.state(of: 0) == .captured)  // none of that changed anything
        #expect(pool.recycle(h) == nil)
        // A double recycle: the chunk is free now.
        #expect(pool.recycle(h) == .notCaptured)
        // Attached again (new generation): the old handle is stale.
        let (again, _) = attach(pool)!
        #expect(again == 0)
        #expect(pool.recycle(h) == .staleGeneration)
        let r = pool.counters.rejected
        #expect(r.wrongPool == 1 && r.unknownChunk == 1 && r.staleGeneration == 2)
        #expect(r.notOutstanding == 2 && r.lengthMismatch == 1 && r.notCaptured == 2)
        #expect(pool.counters.rejectedTotal == 9)
        #expect(pool.invariantViolations().isEmpty)
    }

    /// Two captures' groups: a handle of one recycled into the other (same queue,
    /// chunk and generation numbers) is refused as another group's, and changes nothing.
    @Test func aHandleOfAnotherGroupIsRejected() throws {
        let configuration = CaptureConfiguration(geometry: geometry, mode: .basic)
        let a = try BuddyGroup(queueCount: 1, configuration: configuration)
        let b = try BuddyGroup(queueCount: 1, configuration: configuration)
        #expect(a.identity != b.identity && a.identity != 0 && b.identity != 0)
        #expect(MemoryLayout<ChunkHandle>.stride == 20, "the group id took padding, not space")
        var handles: [[ChunkHandle]] = [[], []]
        for (k, pool) in [a.pools[0], b.pools[0]].enumerated() {
            let (_, addrs) = attach(pool)!
            for x in addrs { _ = pool.record(address: x, length: 1, timestamp: 0) }
            _ = pool.deliverReady(now: 0, timeout: 1) { handles[k].append($0); return true }
        }
        let (fromA, fromB) = (handles[0][0], handles[1][0])
        #expect(fromA.group == a.identity && fromB.group == b.identity)
        #expect(fromA.chunk == fromB.chunk && fromA.generation == fromB.generation, "alike but for the group")
        #expect(b.pools[0].recycle(fromA) == .wrongPool)
        #expect(b.pools[0].state(of: Int(fromB.chunk)) == .captured, "the other group's chunk is untouched")
        #expect(b.pools[0].recycle(fromB) == nil && a.pools[0].recycle(fromA) == nil)
    }

    @Test func exhaustionIsCountedOncePerEpisode() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        for _ in 0..<6 { #expect(pool.attach() != nil) }
        #expect(pool.attach() == nil)
        #expect(pool.attach() == nil)
        #expect(pool.counters.exhaustionEpisodes == 1)
    }

    @Test func refusedPlacementKeepsPacketsInThePool() {
        let pool = ChunkPool(queue: 0, geometry: geometry)
        let (_, addrs) = attach(pool)!
        for a in addrs { _ = pool.record(address: a, length: 1, timestamp: 0) }
        #expect(pool.deliverReady(now: 0, timeout: 1) { _ in false } == 0)
        #expect(pool.state(of: 0) == .attached)
        var got: [ChunkHandle] = []
        #expect(pool.deliverReady(now: 0, timeout: 1) { got.append($0); return true } == 4)
        #expect(got.count == 1)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func itemBudgetBoundsOutstandingHandles() {
        // M=1 makes every packet its own chunk; R=9 → budget 18 > R so it is the pool that
        // runs out. With slices of 1 packet from M=4 chunks the budget is what binds.
        let g = PoolGeometry(cellsPerChunk: 4, chunksPerPool: 3, fillRingSize: 8)
        let pool = ChunkPool(queue: 0, geometry: g)
        #expect(pool.itemBudget == 6)
        var got: [ChunkHandle] = []
        var chunks: [[UInt64]] = []
        for _ in 0..<3 {
            let c = pool.attach()!
            chunks.append((0..<UInt32(4)).map { pool.frameAddress(chunk: c, cell: $0) })
        }
        var t: UInt64 = 0
        for cell in 0..<4 {
            for c in 0..<3 { _ = pool.record(address: chunks[c][cell], length: 1, timestamp: t) }
            t += 10
            _ = pool.deliverReady(now: t, timeout: 1) { got.append($0); return true }
        }
        #expect(pool.outstandingItems <= pool.itemBudget)
        #expect(got.count == 6)
        #expect(pool.invariantViolations().isEmpty)
        // Recycling frees budget and the rest is delivered.
        for h in got { #expect(pool.recycle(h) == nil) }
        got.removeAll()
        _ = pool.deliverReady(now: t + 10, timeout: 1) { got.append($0); return true }
        #expect(got.reduce(0) { $0 + Int($1.count) } == 6)
        #expect(pool.invariantViolations().isEmpty)
    }
}

/// Whole chunks the kernel fills (TPACKET_V3 blocks): the AF_PACKET backend's use of the pool.
@Suite("ChunkPool: whole chunks")
struct WholeChunkTests {
    let geometry = PoolGeometry(cellsPerChunk: 8, chunksPerPool: 4, fillRingSize: 8)

    /// A pool with every chunk attached in order, as the AF_PACKET ring starts.
    func ring() -> ChunkPool {
        let pool = ChunkPool(queue: 1, geometry: geometry, group: 9)
        for b in 0..<4 { #expect(pool.attach() == UInt32(b)) }
        return pool
    }

    @Test("a block goes attached → captured → (validated recycle) → free → attached again, with a new generation")
    func wholeCycle() throws {
        let pool = ring()
        let h = try #require(pool.completeWhole(chunk: 0, count: 5, retiredByTimer: false))
        #expect(h == ChunkHandle(queue: 1, chunk: 0, generation: 1, start: 0, count: 5, group: 9))
        #expect(pool.state(of: 0) == .captured && pool.outstandingItems == 1)
        #expect(pool.descriptors(of: h).count == 5)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
        #expect(pool.recycle(h) == nil)
        #expect(pool.state(of: 0) == .free && pool.outstandingItems == 0)
        #expect(pool.attach() == 0, "the freed block is the one attached next")
        let again = try #require(pool.completeWhole(chunk: 0, count: 8, retiredByTimer: true))
        #expect(again.generation == 2)
        #expect(pool.counters.fullChunks == 1 && pool.counters.partialSlices == 1 && pool.counters.packetsDelivered == 13)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
    }

    @Test("blocks retire out of attach order after a held block: each leaves the attached list")
    func outOfOrder() throws {
        let pool = ring()
        let b2 = try #require(pool.completeWhole(chunk: 2, count: 1, retiredByTimer: false))
        let b0 = try #require(pool.completeWhole(chunk: 0, count: 1, retiredByTimer: false))
        #expect(pool.attachedChunks == 2 && pool.capturedChunks == 2)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
        #expect(pool.recycle(b0) == nil && pool.recycle(b2) == nil)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
    }

    @Test("recycleAndReattach gives each accepted block straight back to the kernel, in any order, and refuses a repeat")
    func recycleAndReattach() throws {
        let pool = ring()
        let b2 = try #require(pool.completeWhole(chunk: 2, count: 1, retiredByTimer: false))
        let b0 = try #require(pool.completeWhole(chunk: 0, count: 1, retiredByTimer: false))
        #expect(pool.recycleAndReattach(b0) == nil && pool.recycleAndReattach(b2) == nil)
        #expect(pool.state(of: 0) == .attached && pool.state(of: 2) == .attached && pool.freeChunks == 0)
        #expect(pool.recycleAndReattach(b0) == .staleGeneration)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
    }

    @Test("a block that is not attached, empty, over M, or completed twice is refused and counted")
    func refusals() throws {
        let pool = ring()
        #expect(pool.completeWhole(chunk: 1, count: 0, retiredByTimer: false) == nil)
        #expect(pool.completeWhole(chunk: 1, count: 9, retiredByTimer: false) == nil)
        #expect(pool.completeWhole(chunk: 4, count: 1, retiredByTimer: false) == nil)
        _ = try #require(pool.completeWhole(chunk: 1, count: 3, retiredByTimer: false))
        #expect(pool.completeWhole(chunk: 1, count: 3, retiredByTimer: false) == nil)
        #expect(pool.counters.invalidDescriptors == 4)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
    }

    @Test("recycles of a block are validated like any chunk's: duplicate, stale, wrong count, wrong group")
    func recycleValidation() throws {
        let pool = ring()
        let h = try #require(pool.completeWhole(chunk: 3, count: 4, retiredByTimer: false))
        var wrongCount = h; wrongCount.count = 3
        var wrongGroup = h; wrongGroup.group = 8
        var stale = h; stale.generation &+= 1
        #expect(pool.recycle(wrongCount) == .lengthMismatch)
        #expect(pool.recycle(wrongGroup) == .wrongPool)
        #expect(pool.recycle(stale) == .staleGeneration)
        #expect(pool.recycle(h) == nil)
        #expect(pool.recycle(h) == .notCaptured)
        #expect(pool.attach() == 3)
        #expect(pool.recycle(h) == .staleGeneration, "a handle of the block's previous turn")
        #expect(pool.counters.rejectedTotal == 5)
        #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
    }
}
