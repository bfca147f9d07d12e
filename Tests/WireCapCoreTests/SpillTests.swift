import Testing
import WireCapCore

/// Spilling (issue 14) on one pool with real memory: frames R·M·2 KiB, spill
/// blocks in chunks the pool lends them. Packets carry their id in the timestamp
/// and a byte pattern derived from it, so every test checks what consumers read,
/// not only counts.
@Suite("Spill")
struct SpillTests {
    // M = 4, N = 8 (2 chunks in the ring), R = 8, zero-copy allowance 2: a block is
    // one chunk's 8 KiB (93 records of 60-byte packets, 8 of 900-byte ones).
    static let geometry = PoolGeometry(cellsPerChunk: 4, chunksPerPool: 8, fillRingSize: 8)
    static let spill = SpillGeometry(zeroCopyChunks: 2)

    /// A pool over its own memory, and a fake kernel that hands out posted frames in order.
    final class Rig {
        let memory: UnsafeMutableRawPointer
        let bytes: Int
        let pool: ChunkPool
        var posted: [UInt64] = []
        var nextID: UInt64 = 1
        var lengths: [UInt64: UInt32] = [:]

        init(geometry: PoolGeometry = SpillTests.geometry, spill: SpillGeometry? = SpillTests.spill) {
            bytes = geometry.poolBytes
            memory = .allocate(byteCount: bytes, alignment: 4096)
            memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            pool = ChunkPool(queue: 0, geometry: geometry, spill: spill, memory: memory)
        }
        deinit { memory.deallocate() }

        /// Attaches free chunks while the ring (N = 8) has room for one.
        func refill() {
            while posted.count + 4 <= 8, let c = pool.attach() {
                for cell in 0..<UInt32(4) { posted.append(pool.frameAddress(chunk: c, cell: cell)) }
            }
        }

        static func byte(_ id: UInt64, _ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: id &* 31 &+ UInt64(i)) }

        /// `count` packets of `length` bytes arrive at `now`; returns how many found a frame.
        @discardableResult
        func arrive(_ count: Int, length: UInt32 = 60, now: UInt64) -> Int {
            var k = 0
            for _ in 0..<count {
                guard !posted.isEmpty else { break }
                let a = posted.removeFirst()
                let id = nextID
                nextID += 1
                for i in 0..<Int(length) { memory.storeBytes(of: Self.byte(id, i), toByteOffset: Int(a) + i, as: UInt8.self) }
                lengths[id] = length
                #expect(pool.record(address: a, length: length, timestamp: id, arrival: now))
                k += 1
            }
            return k
        }

        /// The ids in a handle, each checked against the bytes it was sent with.
        func read(_ h: ChunkHandle) -> [UInt64] {
            pool.descriptors(of: h).map { d in
                #expect(d.length == lengths[d.timestamp])
                for i in 0..<Int(d.length) {
                    let b = memory.load(fromByteOffset: Int(d.address) + i, as: UInt8.self)
                    if b != Self.byte(d.timestamp, i) {
                        Issue.record("packet \(d.timestamp) byte \(i) is \(b), sent \(Self.byte(d.timestamp, i))")
                        break
                    }
                }
                return d.timestamp
            }
        }

        /// The ids in `handles`, in order, each checked as ``read(_:)`` does.
        func read(_ handles: [ChunkHandle]) -> [UInt64] { handles.flatMap { read($0) } }

        func deliver(now: UInt64, hold: Bool = false) -> [ChunkHandle] {
            var out: [ChunkHandle] = []
            _ = pool.deliverReady(now: now, timeout: 1_000, holdSpill: { _ in hold }) { out.append($0); return true }
            #expect(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
            return out
        }

        /// `rounds` passes of a consumer that holds everything: a full chunk of
        /// `length`-byte packets arrives at time `round`, the pool delivers (every
        /// consumer busy), the ring is refilled. - Returns: the handles delivered.
        func stalledRounds(_ rounds: Int, length: UInt32 = 60) -> [ChunkHandle] {
            var held: [ChunkHandle] = []
            for round in 0..<rounds {
                arrive(4, length: length, now: UInt64(round))
                held += deliver(now: UInt64(round), hold: true)
                refill()
            }
            return held
        }
    }

    @Test func keepingUpNeverSpills() {
        let rig = Rig()
        rig.refill()
        for round in 0..<50 {
            rig.arrive(4, now: UInt64(round))
            for h in rig.deliver(now: UInt64(round)) {
                _ = rig.read(h)
                #expect(rig.pool.recycle(h) == nil)
            }
            rig.refill()
        }
        #expect(rig.pool.counters.packetsSpilled == 0)
        #expect(rig.pool.counters.packetsDelivered == 200)
        #expect(!rig.pool.isSpilling)
    }

    @Test func aConsumerThatFallsBehindIsServedFromTheArenaInOrder() {
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        var ids: [UInt64] = []
        // Nothing is recycled: 2 chunks go zero-copy (the allowance), then every full
        // chunk is copied and its frames go straight back to the ring.
        for round in 0..<12 {
            #expect(rig.arrive(4, now: UInt64(round)) == 4, "round \(round): the kernel always has frames")
            held += rig.deliver(now: UInt64(round), hold: true)
            rig.refill()
        }
        #expect(rig.pool.isSpilling)
        #expect(held.prefix(2).allSatisfy { $0.chunk < 8 && $0.count == 4 })
        // 60-byte packets take 24 + 64 bytes: 93 per 8 KiB block; 40 spilled so far, all in the open block,
        // which lives in one lent frame chunk.
        #expect(rig.pool.openBlockPackets == 40)
        #expect(rig.pool.counters.packetsSpilled == 40)
        let lent = (0..<8).filter { rig.pool.state(of: $0) == .lent }
        #expect(lent.count == 1 && rig.pool.lentChunks == 1)
        // Due, but held: every consumer is busy.
        #expect(rig.deliver(now: 5_000, hold: true).isEmpty)
        #expect(rig.pool.openBlockDeadline(timeout: 1_000) == 5_500)
        #expect(rig.deliver(now: 5_400, hold: true).isEmpty, "still held while consumers are busy")
        #expect(rig.pool.openBlockDeadline(timeout: 1_000) == 5_900)
        // A consumer could take it: the block goes out whole.
        let block = rig.deliver(now: 5_001)
        #expect(block.count == 1 && block[0].chunk == 8 && block[0].count == 40 && block[0].start == 0)
        let chunkBytes = UInt64(SpillTests.geometry.chunkBytes)
        #expect(rig.pool.descriptors(of: block[0]).allSatisfy { $0.address / chunkBytes == UInt64(lent[0]) },
                "the block's packets are in its lent chunk's memory")
        held += block
        for h in held { ids += rig.read(h) }
        #expect(ids == Array(1...48))
        #expect(rig.pool.undeliveredPackets == 0)
        // Recycles in any order; pressure ends when every block is back.
        for h in held.reversed() { #expect(rig.pool.recycle(h) == nil) }
        #expect(rig.pool.spillBlocksOut == 0 && rig.pool.freeSpillBlocks == 8 && rig.pool.lentChunks == 0)
        #expect(rig.pool.state(of: lent[0]) == .free, "the block's recycle frees the chunk it borrowed")
        rig.arrive(4, now: 6_000)
        let next = rig.deliver(now: 6_000)
        #expect(!rig.pool.isSpilling)
        #expect(next.count == 1 && next[0].chunk < 8, "back to zero-copy")
        #expect(rig.read(next[0]) == [49, 50, 51, 52])
    }

    @Test func aStalledConsumerAtALowRateSpillsItsSlicesInsteadOfHoldingFrameHandles() {
        // R = 5: 10 frame handles; a stalled consumer and one packet per timeout.
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        for round in 0..<40 {
            let now = UInt64(round) * 1_000
            rig.arrive(1, now: now)
            held += rig.deliver(now: now + 999, hold: true)
            rig.refill()
        }
        #expect(rig.pool.isSpilling)
        #expect(rig.pool.counters.packetsSpilled > 0)
        #expect(rig.pool.openBlockPackets > 20, "held while the consumer is stalled: one block, not one per timeout")
        #expect(!rig.pool.waitsForRecycle, "frame handles never ran out: slices went into the open block")
        held += rig.deliver(now: .max)
        let ids = rig.read(held)
        #expect(ids == Array(1...40))
    }

    @Test func blocksFillByBytesAChunkThatDoesNotFitWaitsAndBlocksAreReused() {
        // 900-byte packets: 24 + 912 bytes each (worth copying: under half a frame),
        // 8 per 8 KiB block; at most 2 blocks out at once.
        let rig = Rig(spill: SpillGeometry(blocks: 2, zeroCopyChunks: 2))
        #expect(SpillArena.capacity(blockBytes: 8192, length: 900) == 8)
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(6, length: 900)
        // Rounds 0–1 zero-copy, 2–3 spilled into block A, 4 closes A (full) and opens
        // B; round 5's chunk does not surely fit what is left: it waits, whole.
        let blocks = held.filter { $0.chunk >= 8 }
        #expect(blocks.map(\.count) == [8])
        #expect(rig.pool.openBlockPackets == 4)
        #expect(rig.pool.waitsForArena)
        #expect(rig.pool.undeliveredPackets == 4 + 4)
        #expect(rig.pool.lentChunks == 2)
        #expect(rig.pool.counters.spillArenaFull == 0, "nothing went zero-copy for want of a block")
        // A comes back (read first): the waiting chunk goes into B; the next chunk
        // closes B and opens a block in A's slot, under its next generation.
        var ids = rig.read(held)
        #expect(rig.pool.recycle(blocks[0]) == nil)
        #expect(rig.deliver(now: 10, hold: true).isEmpty)
        #expect(!rig.pool.waitsForArena)
        #expect(rig.pool.openBlockPackets == 8)
        rig.arrive(4, length: 900, now: 11)
        var later = rig.deliver(now: 11, hold: true)
        #expect(later.count == 1 && later[0].chunk != blocks[0].chunk && later[0].count == 8, "B, full, delivered")
        later += rig.deliver(now: 10_000)
        #expect(later.count == 2 && later[1].chunk == blocks[0].chunk && later[1].generation == blocks[0].generation + 1,
                "A's slot was used again under its next generation")
        for h in later { ids += rig.read(h) }
        #expect(ids == Array(1...28))
        #expect(rig.pool.undeliveredPackets == 0)
        #expect(rig.pool.counters.spillBlocksDelivered == 3)
        #expect(rig.pool.counters.packetsSpilled == 20)
    }

    @Test func largePacketsAreNeverCopiedAndFindTheWholePoolAsFrames() {
        // 1,500-byte packets (24 + 1,504 bytes: more than half a frame) go zero-copy under
        // pressure as with spill off, until the frame handles and frames run out.
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(8, length: 1500)
        #expect(!rig.pool.isSpilling && rig.pool.counters.spillEpisodes == 0, "large packets alone start no spill episode")
        #expect(rig.pool.counters.packetsSpilled == 0 && rig.pool.lentChunks == 0)
        // All R = 8 chunks are held zero-copy, as with spill off; the ring is empty.
        #expect(held.allSatisfy { $0.chunk < 8 && $0.count == 4 })
        #expect(held.count == 8 && rig.pool.freeChunks == 0 && rig.posted.isEmpty)
        held += rig.deliver(now: .max)
        let ids = rig.read(held)
        #expect(ids == Array(1...32))
    }

    @Test func aChunkOfLargePacketsClosesTheOpenBlockFirstAndKeepsTheOrder() {
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(3)                 // 0–1 zero-copy, 2 spilled
        #expect(rig.pool.openBlockPackets == 4)
        rig.arrive(4, length: 1500, now: 3)
        let next = rig.deliver(now: 3, hold: true)
        #expect(next.count == 2 && next[0].chunk >= 8 && next[0].count == 4 && next[1].chunk < 8,
                "the open block, then the large packets' chunk zero-copy")
        held += next
        let ids = rig.read(held)
        #expect(ids == Array(1...16))
        #expect(rig.pool.counters.packetsSpilled == 4)
    }

    @Test func forgedRecyclesOfSpillBlocksAreRejected() {
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(5)
        held += rig.deliver(now: 10_000)
        let block = held.first { $0.chunk >= 5 }!
        var wrongCount = block; wrongCount.count += 1
        var slice = block; slice.start = 1; slice.count -= 1
        var stale = block; stale.generation &-= 1
        var beyond = block; beyond.chunk = 8 + 8
        var otherGroup = block; otherGroup.group = 9
        #expect(rig.pool.recycle(wrongCount) == .lengthMismatch)
        #expect(rig.pool.recycle(slice) == .notOutstanding)
        #expect(rig.pool.recycle(stale) == .staleGeneration)
        #expect(rig.pool.recycle(beyond) == .unknownChunk)
        #expect(rig.pool.recycle(otherGroup) == .wrongPool)
        var free = block; free.chunk = 9   // never opened
        #expect(rig.pool.recycle(free) == .staleGeneration)
        // The frame chunk lent to the open block: no handle names it, old or current.
        let lent = (0..<8).first { rig.pool.state(of: $0) == .lent }!
        let anyHandle = held.first { $0.chunk < 8 }!
        for generation in [UInt32(0), 1, 2, 3] {
            var forged = anyHandle; forged.chunk = UInt32(lent); forged.generation = generation
            #expect(rig.pool.recycle(forged) != nil, "a recycle of lent chunk \(lent), generation \(generation)")
        }
        #expect(rig.pool.recycle(block) == nil)
        #expect(rig.pool.recycle(block) == .notCaptured, "a double recycle")
        #expect(rig.pool.counters.rejectedTotal >= 7)
        #expect(rig.pool.invariantViolations().isEmpty)
    }

    @Test func flushDeliversTheOpenBlockWhateverItsAge() {
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(4)
        rig.arrive(3, now: 4)   // a partial chunk too
        #expect(rig.pool.openBlockPackets > 0)
        _ = rig.pool.deliverReady(now: .max, timeout: 0, holdSpill: { _ in true }) { held.append($0); return true }
        #expect(rig.pool.undeliveredPackets == 0)
        let ids = rig.read(held)
        #expect(ids == Array(1...19))
    }

    @Test func aRefusedBlockStaysOpenAndNothingOvertakesIt() {
        let rig = Rig()
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(4)
        let open = rig.pool.openBlockPackets
        #expect(open == 8)
        // Pressure ends (everything recycled), but the lane refuses: the open block
        // must go before the next zero-copy chunk, so nothing goes.
        for h in held { #expect(rig.pool.recycle(h) == nil) }
        rig.arrive(4, now: 10)
        var refused = 0
        _ = rig.pool.deliverReady(now: 10, timeout: 1_000) { _ in refused += 1; return false }
        #expect(refused == 1)
        #expect(rig.pool.openBlockPackets == open)
        let next = rig.deliver(now: 11)
        #expect(next.count == 2 && next[0].chunk >= 8 && next[1].chunk < 8)
        #expect(rig.read(next[0]) + rig.read(next[1]) == Array(9...20))
    }

    @Test func bufferPlanMakesTheWholeBudgetFrames() throws {
        // 64 MiB, M = 256: N = 8,192 (a quarter of the budget at most), R = 128 chunks,
        // spill on or off: blocks are lent by free chunks.
        let p = try BufferPlan.split(budget: 64 << 20, cellsPerChunk: 256, fillRingSize: nil, spill: true)
        #expect(p.geometry.fillRingSize == 8192 && p.geometry.chunksPerPool == 128)
        #expect(p.spill == SpillGeometry())
        #expect(p.geometry.poolBytes == 64 << 20)
        let off = try BufferPlan.split(budget: 64 << 20, cellsPerChunk: 256, fillRingSize: nil, spill: false)
        #expect(off.geometry == p.geometry && off.spill == nil)
        // The same N rule with spill off: a small budget is a valid pool, not an R/N error.
        let small16 = try BufferPlan.split(budget: 16 << 20, cellsPerChunk: 256, fillRingSize: nil, spill: false)
        #expect(small16.geometry.fillRingSize == 2048 && small16.geometry.chunksPerPool == 32)
        // R < N/M + 2 leaves nothing to lend: no spill.
        let small = try BufferPlan.split(budget: 3 << 17, cellsPerChunk: 64, fillRingSize: 128, spill: true)
        #expect(small.spill == nil && small.geometry.chunksPerPool == 3)
        #expect(throws: ConfigurationError.self) {
            try BufferPlan.split(budget: 4096, cellsPerChunk: 256, fillRingSize: nil, spill: true)
        }
        #expect(throws: ConfigurationError.self) {
            try CaptureConfiguration(geometry: PoolGeometry(cellsPerChunk: 1, chunksPerPool: 20, fillRingSize: 8),
                                     spill: SpillGeometry()).validate()
        }
        // Packets one 64 MiB queue holds at 64-byte frames (60 B captured) when its last
        // chunk is lent: the ring's frames, the other 96 chunks as blocks; 1,500-byte
        // packets are not copied: a frame each, as with spill off.
        let on = CaptureConfiguration(geometry: p.geometry, spill: p.spill)
        #expect(on.packetCapacity(length: 60) == 8192 + 96 * SpillArena.capacity(blockBytes: 256 * 2048, length: 60))
        #expect(on.packetCapacity(length: 60) > 14 * off.geometry.cellsPerPool)
        #expect(on.packetCapacity(length: 1496) == off.geometry.cellsPerPool)
    }

    @Test func theLiveDefaultSpillsInTheDefaultPoolsMemory() throws {
        let c = try CaptureConfiguration.buffered()
        #expect(c.queueBytes == PoolGeometry.default.poolBytes)
        #expect(c.geometry.fillRingSize == 16384 && c.geometry.chunksPerPool == PoolGeometry.default.chunksPerPool)
        #expect(c.spill == SpillGeometry() && c.spillBlocks == c.geometry.chunksPerPool)
        let off = try CaptureConfiguration.buffered(spill: false)
        #expect(off.geometry == PoolGeometry.default && off.spill == nil)
    }
}
