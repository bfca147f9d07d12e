import Testing
import WireCapCore

/// Spilling (issue 14) on one pool with real memory: frames R·M·2 KiB, then the
/// arena. Packets carry their id in the timestamp and a byte pattern derived from
/// it, so every test checks what consumers read, not only counts.
@Suite("Spill")
struct SpillTests {
    // M = 4, N = 8 (2 chunks in the ring), R = 5: zero-copy allowance R − N/M − 1 = 2.
    static let geometry = PoolGeometry(cellsPerChunk: 4, chunksPerPool: 5, fillRingSize: 8)
    static let spill = SpillGeometry(blocks: 3, blockBytes: 4096)

    /// A pool over its own memory, and a fake kernel that hands out posted frames in order.
    final class Rig {
        let memory: UnsafeMutableRawPointer
        let bytes: Int
        let pool: ChunkPool
        var posted: [UInt64] = []
        var nextID: UInt64 = 1
        var lengths: [UInt64: UInt32] = [:]

        init(geometry: PoolGeometry = SpillTests.geometry, spill: SpillGeometry? = SpillTests.spill) {
            bytes = geometry.poolBytes + (spill?.arenaBytes ?? 0)
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

        func deliver(now: UInt64, hold: Bool = false) -> [ChunkHandle] {
            var out: [ChunkHandle] = []
            _ = pool.deliverReady(now: now, timeout: 1_000, holdSpill: { hold }) { out.append($0); return true }
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
        #expect(held.prefix(2).allSatisfy { $0.chunk < 5 && $0.count == 4 })
        // 60-byte packets take 24 + 64 bytes: 46 per 4 KiB block; 40 spilled so far, all in the open block.
        #expect(rig.pool.openBlockPackets == 40)
        #expect(rig.pool.counters.packetsSpilled == 40)
        // Due, but held: every consumer is busy.
        #expect(rig.deliver(now: 5_000, hold: true).isEmpty)
        #expect(rig.pool.openBlockDeadline(timeout: 1_000) == 5_500)
        #expect(rig.deliver(now: 5_400, hold: true).isEmpty, "still held while consumers are busy")
        #expect(rig.pool.openBlockDeadline(timeout: 1_000) == 5_900)
        // A consumer could take it: the block goes out whole.
        let block = rig.deliver(now: 5_001)
        #expect(block.count == 1 && block[0].chunk == 5 && block[0].count == 40 && block[0].start == 0)
        held += block
        for h in held { ids += rig.read(h) }
        #expect(ids == Array(1...48))
        #expect(rig.pool.undeliveredPackets == 0)
        // Recycles in any order; pressure ends when every block is back.
        for h in held.reversed() { #expect(rig.pool.recycle(h) == nil) }
        #expect(rig.pool.spillBlocksOut == 0 && rig.pool.freeSpillBlocks == 3)
        rig.arrive(4, now: 6_000)
        let next = rig.deliver(now: 6_000)
        #expect(!rig.pool.isSpilling)
        #expect(next.count == 1 && next[0].chunk < 5, "back to zero-copy")
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
        var ids: [UInt64] = []
        for h in held { ids += rig.read(h) }
        #expect(ids == Array(1...40))
    }

    @Test func blocksFillByBytesAChunkThatDoesNotFitWaitsAndBlocksAreReused() {
        // 1,500-byte packets: 24 + 1,504 bytes each, 5 per 8 KiB block; a chunk of 4 needs 6,112.
        let rig = Rig(spill: SpillGeometry(blocks: 3, blockBytes: 8192))
        #expect(SpillArena.capacity(blockBytes: 8192, length: 1500) == 5)
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(6, length: 1500)
        // Rounds 0–1 zero-copy, 2–4 spilled into blocks A, B (delivered, full) and C (open, 2);
        // round 5's chunk does not surely fit what is left: it waits, whole, in the pool.
        let blocks = held.filter { $0.chunk >= 5 }
        #expect(blocks.map(\.count) == [5, 5])
        #expect(rig.pool.openBlockPackets == 2)
        #expect(rig.pool.waitsForArena)
        #expect(rig.pool.undeliveredPackets == 2 + 4)
        #expect(rig.pool.counters.spillArenaFull == 0, "nothing went zero-copy for want of arena")
        // The blocks come back (read first): the waiting chunk is spilled into C and
        // then B, the block recycled last (the free stack's top), under its next generation.
        var ids: [UInt64] = []
        for h in held { ids += rig.read(h) }
        for h in blocks { #expect(rig.pool.recycle(h) == nil) }
        var later = rig.deliver(now: 10, hold: true)
        #expect(!rig.pool.waitsForArena)
        #expect(later.map(\.chunk) == [blocks[1].chunk + 1], "C, full, delivered; B open again")
        later += rig.deliver(now: 10_000)
        #expect(later.count == 2 && later[1].chunk == blocks[1].chunk && later[1].generation == blocks[1].generation + 1,
                "block B was used again under its next generation")
        for h in later { ids += rig.read(h) }
        #expect(ids == Array(1...24))
        #expect(rig.pool.undeliveredPackets == 0)
        #expect(rig.pool.counters.spillBlocksDelivered == 4)
        #expect(rig.pool.counters.packetsSpilled == 16)
    }

    @Test func anArenaSmallerThanAChunkFallsBackToZeroCopy() {
        // One 4 KiB block cannot surely take four 1,500-byte packets and none is out to come back.
        let rig = Rig(spill: SpillGeometry(blocks: 1, blockBytes: 4096))
        rig.refill()
        var held: [ChunkHandle] = []
        held += rig.stalledRounds(4, length: 1500)
        #expect(held.count == 4 && held.allSatisfy { $0.chunk < 5 && $0.count == 4 })
        #expect(!rig.pool.waitsForArena)
        #expect(rig.pool.counters.spillArenaFull > 0 && rig.pool.counters.packetsSpilled == 0)
        var ids: [UInt64] = []
        for h in held { ids += rig.read(h) }
        #expect(ids == Array(1...16))
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
        var beyond = block; beyond.chunk = 5 + 3
        var otherGroup = block; otherGroup.group = 9
        #expect(rig.pool.recycle(wrongCount) == .lengthMismatch)
        #expect(rig.pool.recycle(slice) == .notOutstanding)
        #expect(rig.pool.recycle(stale) == .staleGeneration)
        #expect(rig.pool.recycle(beyond) == .unknownChunk)
        #expect(rig.pool.recycle(otherGroup) == .wrongPool)
        var free = block; free.chunk = 6   // never opened
        #expect(rig.pool.recycle(free) == .staleGeneration)
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
        _ = rig.pool.deliverReady(now: .max, timeout: 0, holdSpill: { true }) { held.append($0); return true }
        #expect(rig.pool.undeliveredPackets == 0)
        var ids: [UInt64] = []
        for h in held { ids += rig.read(h) }
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
        #expect(next.count == 2 && next[0].chunk >= 5 && next[1].chunk < 5)
        #expect(rig.read(next[0]) + rig.read(next[1]) == Array(9...20))
    }

    @Test func bufferPlanSplitsABudget() throws {
        // 64 MiB, M = 256: N = 8,192 (a quarter of the budget at most), 32 + 8 frame
        // chunks (20 MiB), 176 blocks of 256 KiB.
        let p = try BufferPlan.split(budget: 64 << 20, cellsPerChunk: 256, fillRingSize: nil, spill: true)
        #expect(p.geometry.fillRingSize == 8192 && p.geometry.chunksPerPool == 40)
        #expect(p.spill == SpillGeometry(blocks: 176, blockBytes: 256 << 10))
        #expect(p.geometry.poolBytes + p.spill!.arenaBytes == 64 << 20)
        // Off: the paper's pool of the same memory.
        let off = try BufferPlan.split(budget: 64 << 20, cellsPerChunk: 256, fillRingSize: nil, spill: false)
        #expect(off.geometry.chunksPerPool == 128 && off.spill == nil && off.geometry.fillRingSize == 8192)
        // The same N rule with spill off: a small budget is a valid pool, not an R/N error.
        let small16 = try BufferPlan.split(budget: 16 << 20, cellsPerChunk: 256, fillRingSize: nil, spill: false)
        #expect(small16.geometry.fillRingSize == 2048 && small16.geometry.chunksPerPool == 32)
        // A budget with no room for an arena is all frames.
        let small = try BufferPlan.split(budget: 3 << 19, cellsPerChunk: 64, fillRingSize: 128, spill: true)
        #expect(small.spill == nil && small.geometry.chunksPerPool == 12)
        #expect(throws: ConfigurationError.self) {
            try BufferPlan.split(budget: 4096, cellsPerChunk: 256, fillRingSize: nil, spill: true)
        }
        // Packets one 64 MiB queue holds at 64-byte frames (60 B captured): frames plus arena.
        let capacity = p.geometry.cellsPerPool + p.spill!.blocks * SpillArena.capacity(blockBytes: 256 << 10, length: 60)
        #expect(capacity > 14 * off.geometry.cellsPerPool)
    }

    @Test func theLiveDefaultSpillsInTheDefaultPoolsMemory() throws {
        let c = try CaptureConfiguration.buffered()
        #expect(c.queueBytes == PoolGeometry.default.poolBytes)
        #expect(c.geometry.fillRingSize == 16384 && c.geometry.chunksPerPool == 64 + BufferPlan.zeroCopyChunks)
        #expect(c.spill?.blocks == 856)
        let off = try CaptureConfiguration.buffered(spill: false)
        #expect(off.geometry == PoolGeometry.default && off.spill == nil)
    }
}
