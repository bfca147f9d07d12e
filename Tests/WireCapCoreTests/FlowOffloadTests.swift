import Testing
import WireCapCore
import struct WireCapTrace.SplitMix64

/// Flow offload (issue 15): per-route slices, moves that drain before they
/// release, and random runs that check exactly-once delivery, per-flow order and
/// that no flow is ever held by two consumers at once.
@Suite("Flow offload")
struct FlowOffloadTests {
    static func configuration(m: Int = 4, r: Int = 8, n: Int = 8, spill: SpillGeometry? = nil,
                              strict: Bool = true) -> CaptureConfiguration {
        CaptureConfiguration(geometry: PoolGeometry(cellsPerChunk: m, chunksPerPool: r, fillRingSize: n),
                             mode: .advanced, offloadThresholdPercent: 60, partialTimeoutNanoseconds: 50,
                             spill: spill, offload: .flow, flowBuckets: 64, strictFlowAffinity: strict)
    }

    /// Two queues, M = 4, R = 8, N = 8, spilling once one chunk is held zero-copy; queue 0's
    /// driver, and (when asked) bucket 9 already moved to consumer 1 (nothing in flight: at once).
    static func spillingQueue0(nineOnConsumer1: Bool) throws -> (CaptureConfiguration, BuddyGroup, CaptureDriver) {
        let config = configuration(m: 4, r: 8, n: 8, spill: SpillGeometry(zeroCopyChunks: 1))
        let group = try BuddyGroup(queueCount: 2, configuration: config)
        if nineOnConsumer1 {
            group.schedulers[0].move([9], to: 1)
            group.releaseIfDrained(queue: 0)
        }
        return (config, group, CaptureDriver(group: group, queue: 0))
    }

    /// Posts frames and records `buckets.count` packets (ids from `firstID`) with these buckets.
    static func receive(_ driver: CaptureDriver, _ kernel: inout FakeKernel, buckets: [UInt16], firstID: UInt64, at now: UInt64) {
        var rng = SplitMix64(seed: 1)
        _ = driver.refill(room: kernel.room) { kernel.posted.append($0) }
        for (k, b) in buckets.enumerated() {
            let a = kernel.take(using: &rng)!
            #expect(driver.record(address: a, length: 60, timestamp: firstID + UInt64(k), arrival: now, bucket: b))
        }
    }

    @Test func aChunkGoesOutAsOneSlicePerRouteZeroCopy() throws {
        let group = try BuddyGroup(queueCount: 2, configuration: Self.configuration())
        let driver = CaptureDriver(group: group, queue: 0)
        var kernel = FakeKernel(capacity: 8)
        // Buckets 1 and 3 go to consumer 1 (nothing in flight: the move ends at once).
        group.schedulers[0].move([1, 3], to: 1)
        #expect(group.schedulers[0].readyToRelease)
        group.releaseIfDrained(queue: 0)
        #expect(group.schedulers[0].route(of: 1) == 1 && group.schedulers[0].route(of: 2) == 0)
        Self.receive(driver, &kernel, buckets: [1, 2, 3, 2], firstID: 1, at: 1)
        driver.deliver(now: 1)
        let own = try #require(group.nextChunk(consumer: 0))
        let buddy = try #require(group.nextChunk(consumer: 1))
        #expect(group.nextChunk(consumer: 0) == nil && group.nextChunk(consumer: 1) == nil)
        #expect(own.chunk == buddy.chunk && own.count == 2 && buddy.count == 2)
        // Each slice keeps its packets' order, and the frames did not move.
        #expect(group.descriptors(of: own).map(\.timestamp) == [2, 4])
        #expect(group.descriptors(of: buddy).map(\.timestamp) == [1, 3])
        let frames = (Array(group.descriptors(of: own)) + Array(group.descriptors(of: buddy))).map(\.address)
        let chunkBytes = UInt64(group.configuration.geometry.chunkBytes)
        #expect(Set(frames).count == 4 && frames.allSatisfy { $0 / chunkBytes == UInt64(own.chunk) })
        #expect(Array(group.pools[0].buckets(of: buddy)) == [1, 3])
        // Free only when both slices are back.
        #expect(group.recycle(own, consumer: 0))
        driver.reclaim()
        #expect(group.pools[0].state(of: Int(own.chunk)) == .captured)
        #expect(group.recycle(buddy, consumer: 1))
        driver.reclaim()
        #expect(group.pools[0].state(of: Int(own.chunk)) == .free)
        #expect(group.pools[0].invariantViolations().isEmpty)
        // A slice recycled twice is refused.
        #expect(group.pools[0].validate(own) == .staleGeneration || group.pools[0].validate(own) == .notCaptured)
    }

    @Test func aMovingBucketWaitsUntilItsOldConsumerGaveEverythingBack() throws {
        let group = try BuddyGroup(queueCount: 2, configuration: Self.configuration())
        let driver = CaptureDriver(group: group, queue: 0)
        var kernel = FakeKernel(capacity: 8)
        Self.receive(driver, &kernel, buckets: [5, 5, 5, 5], firstID: 1, at: 1)
        driver.deliver(now: 1)
        let first = try #require(group.nextChunk(consumer: 0))   // consumer 0 holds bucket 5's packets 1…4
        group.schedulers[0].move([5], to: 1)
        #expect(group.schedulers[0].isMoving && !group.schedulers[0].readyToRelease)
        Self.receive(driver, &kernel, buckets: [5, 7, 5, 7], firstID: 5, at: 2)
        driver.deliver(now: 2)
        // Bucket 7 still goes to consumer 0 at once; bucket 5's new packets wait.
        let other = try #require(group.nextChunk(consumer: 0))
        #expect(group.descriptors(of: other).map(\.timestamp) == [6, 8])
        #expect(group.nextChunk(consumer: 1) == nil)
        #expect(group.heldPackets(queue: 0) == 2)
        #expect(driver.undeliveredPackets == 2)
        // Consumer 0 gives bucket 5's old packets back: the held slice goes to consumer 1,
        // and the next delivery reports its packets (so the capture loop wakes consumer 1).
        #expect(group.recycle(first, consumer: 0))
        driver.reclaim()
        #expect(driver.deliver(now: 3) == 2)
        #expect(driver.deliver(now: 4) == 0)
        let moved = try #require(group.nextChunk(consumer: 1))
        #expect(group.descriptors(of: moved).map(\.timestamp) == [5, 7])
        #expect(group.schedulers[0].route(of: 5) == 1 && !group.schedulers[0].isMoving)
        #expect(group.heldPackets(queue: 0) == 0)
        #expect(group.recycle(other, consumer: 0) && group.recycle(moved, consumer: 1))
        driver.reclaim()
        let s = group.statistics(queue: 0)
        #expect(s.bucketMoves == 1 && s.packetsHeld == 2 && s.packetsSpread == 0)
        #expect(group.pools[0].outstandingItems == 0 && group.pools[0].invariantViolations().isEmpty)
    }

    @Test func spillBlocksGoOutAsSlicesToo() throws {
        // Spill at once (one zero-copy chunk allowed), small packets.
        let (config, group, driver) = try Self.spillingQueue0(nineOnConsumer1: true)
        var kernel = FakeKernel(capacity: 8)
        var handles: [(ChunkHandle, Int)] = []
        var id: UInt64 = 1
        for round in 0..<4 {
            Self.receive(driver, &kernel, buckets: [9, 2, 9, 2], firstID: id, at: UInt64(round + 1))
            id += 4
            driver.deliver(now: UInt64(round + 1))
        }
        driver.flush()
        for j in 0..<2 { while let h = group.nextChunk(consumer: j) { handles.append((h, j)) } }
        #expect(group.statistics(queue: 0).packetsSpilled > 0)
        var seen: [UInt64] = []
        for (h, j) in handles {
            let stamps = group.descriptors(of: h).map(\.timestamp)
            // Every slice holds one route's packets: consumer 1 gets bucket 9 (odd ids), consumer 0 bucket 2.
            #expect(stamps.allSatisfy { ($0 % 2 == 1) == (j == 1) })
            seen += stamps
        }
        #expect(seen.sorted() == Array(1...16))
        let blocks = handles.filter { Int($0.0.chunk) >= config.geometry.chunksPerPool }
        #expect(blocks.count >= 2)
        for (h, j) in handles { #expect(group.recycle(h, consumer: j)) }
        driver.reclaim()
        #expect(group.pools[0].outstandingItems == 0)
        #expect(group.pools[0].invariantViolations().isEmpty)
        // A block slice recycled twice is refused.
        #expect(group.pools[0].recycle(blocks[0].0) != nil)
    }

    @Test("spill blocks are per route: a block is one consumer's, so a stalled consumer pins only its own")
    func spillBlocksArePerRoute() throws {
        let (config, group, driver) = try Self.spillingQueue0(nineOnConsumer1: true)
        var kernel = FakeKernel(capacity: 8)
        var id: UInt64 = 1
        for round in 0..<4 {
            Self.receive(driver, &kernel, buckets: [9, 2, 9, 2], firstID: id, at: UInt64(round + 1))
            id += 4
            driver.deliver(now: UInt64(round + 1))
        }
        driver.flush()
        var handles: [[ChunkHandle]] = [[], []]
        for j in 0..<2 { while let h = group.nextChunk(consumer: j) { handles[j].append(h) } }
        let r = config.geometry.chunksPerPool
        let blocks = handles.map { $0.filter { Int($0.chunk) >= r } }
        #expect(!blocks[0].isEmpty && !blocks[1].isEmpty)
        // No block is at both consumers: each went out whole, as one slice.
        #expect(Set(blocks[0].map(\.chunk)).isDisjoint(with: Set(blocks[1].map(\.chunk))))
        #expect((blocks[0] + blocks[1]).allSatisfy { $0.start == 0 })
        // Consumer 1 stalls, holding all it has; consumer 0 gives its back: its blocks are free.
        for h in handles[0] { #expect(group.recycle(h, consumer: 0)) }
        driver.reclaim()
        #expect(blocks[0].allSatisfy { group.pools[0].state(of: Int($0.chunk)) == .free })
        #expect(blocks[1].allSatisfy { group.pools[0].state(of: Int($0.chunk)) == .captured })
        for h in handles[1] { #expect(group.recycle(h, consumer: 1)) }
        driver.reclaim()
        #expect(group.pools[0].outstandingItems == 0 && group.pools[0].invariantViolations().isEmpty)
    }

    @Test("a due block ships its tail and keeps filling: one lent chunk, many slices, sealed when its slots run low, free when all are back")
    func dueBlocksStream() throws {
        let (config, group, driver) = try Self.spillingQueue0(nineOnConsumer1: false)
        let pool = group.pools[0]
        var kernel = FakeKernel(capacity: 8)
        // A zero-copy chunk consumer 0 keeps: the pool is under pressure from then on.
        Self.receive(driver, &kernel, buckets: [2, 2, 2, 2], firstID: 1, at: 1)
        driver.deliver(now: 1)
        let kept = try #require(group.nextChunk(consumer: 0))
        #expect(Int(kept.chunk) < config.geometry.chunksPerPool)
        // Each round's chunk is copied into consumer 0's open block, and due (timeout 50)
        // while consumer 0's lane is empty: the tail goes out, the block stays open.
        let ships = pool.sliceSlotsPerBlock - pool.slicesPerDelivery + 1
        var slices: [ChunkHandle] = []
        var stamps: [UInt64] = []
        var id: UInt64 = 5
        for round in 0...ships {
            let t = UInt64(100 * (round + 1))
            Self.receive(driver, &kernel, buckets: [2, 2, 2, 2], firstID: id, at: t)
            id += 4
            driver.deliver(now: t)
            #expect(group.nextChunk(consumer: 0) == nil, "not due yet")
            driver.deliver(now: t + 50)
            let slice = try #require(group.nextChunk(consumer: 0))
            stamps += group.descriptors(of: slice).map(\.timestamp)
            slices.append(slice)
            #expect(pool.invariantViolations().isEmpty)
        }
        let first = slices[0].chunk
        #expect(Int(first) >= config.geometry.chunksPerPool)
        // The first `ships` tails are one block's, consecutive; the last ship left fewer
        // slots than a delivery may need, so the block was sealed and the next round opened another.
        #expect(slices.prefix(ships).allSatisfy { $0.chunk == first })
        #expect(slices.prefix(ships).enumerated().allSatisfy { $0.element.start == UInt32(4 * $0.offset) && $0.element.count == 4 })
        #expect(slices[ships].chunk != first && slices[ships].start == 0)
        #expect(pool.state(of: Int(first)) == .captured && pool.lentChunks == 2)
        // All but one of the sealed block's slices back: still captured; the last frees it and its chunk.
        for h in slices.prefix(ships - 1) { #expect(group.recycle(h, consumer: 0)) }
        driver.reclaim()
        #expect(pool.state(of: Int(first)) == .captured && pool.lentChunks == 2)
        #expect(group.recycle(slices[ships - 1], consumer: 0))
        driver.reclaim()
        #expect(pool.state(of: Int(first)) == .free && pool.lentChunks == 1)
        // The open block's slice back: it stays open (attached) until the flush seals it.
        #expect(group.recycle(slices[ships], consumer: 0))
        driver.reclaim()
        #expect(pool.state(of: Int(slices[ships].chunk)) == .attached && pool.lentChunks == 1)
        driver.flush()
        #expect(pool.state(of: Int(slices[ships].chunk)) == .free && pool.lentChunks == 0)
        #expect(group.recycle(kept, consumer: 0))
        driver.reclaim()
        #expect(pool.outstandingItems == 0 && pool.invariantViolations().isEmpty)
        #expect(pool.counters.spillBlocksDelivered == 2)
        #expect(stamps == Array(5..<id), "every copied packet once, in order")
    }

    @Test("a due per-route block is held only while its own consumer is busy")
    func perRouteHold() throws {
        let (config, group, driver) = try Self.spillingQueue0(nineOnConsumer1: true)
        var kernel = FakeKernel(capacity: 8)
        // Consumer 0 is busy (a chunk waits in its lane), consumer 1 idle; the pool is under pressure.
        Self.receive(driver, &kernel, buckets: [2, 2, 2, 2], firstID: 1, at: 1)
        driver.deliver(now: 1)
        Self.receive(driver, &kernel, buckets: [9, 2, 9, 2], firstID: 5, at: 100)
        driver.deliver(now: 100)
        #expect(group.pools[0].openBlockPackets == 4)
        driver.deliver(now: 150)
        // Bucket 9's block went to idle consumer 1; bucket 2's waits while consumer 0 is busy.
        let slice = try #require(group.nextChunk(consumer: 1))
        #expect(Int(slice.chunk) >= config.geometry.chunksPerPool)
        #expect(group.descriptors(of: slice).map(\.timestamp) == [5, 7])
        #expect(group.pools[0].openBlockPackets == 2)
        let first = try #require(group.nextChunk(consumer: 0))
        #expect(group.nextChunk(consumer: 0) == nil, "consumer 0's block is held while it was busy")
        // Consumer 0's lane empty now: its block's tail goes out at the next due pass.
        driver.deliver(now: 200)
        let own = try #require(group.nextChunk(consumer: 0))
        #expect(group.descriptors(of: own).map(\.timestamp) == [6, 8])
        for (h, j) in [(first, 0), (own, 0), (slice, 1)] { #expect(group.recycle(h, consumer: j)) }
        driver.flush()
        driver.reclaim()
        #expect(group.pools[0].outstandingItems == 0 && group.pools[0].invariantViolations().isEmpty)
    }

    @Test("a route change delivers the open blocks first: a bucket's packets copied before and after reach its new consumer in order")
    func routeChangeKeepsBlockOrder() throws {
        let (_, group, driver) = try Self.spillingQueue0(nineOnConsumer1: true)
        var kernel = FakeKernel(capacity: 8)
        // A chunk of bucket 2 goes out zero-copy and stays with consumer 0: the pool is
        // under pressure from then on, and the next chunks are copied, bucket 9's into
        // consumer 1's open block, bucket 2's into consumer 0's.
        Self.receive(driver, &kernel, buckets: [2, 2, 2, 2], firstID: 1, at: 1)
        driver.deliver(now: 1)
        Self.receive(driver, &kernel, buckets: [9, 9, 9, 9], firstID: 5, at: 2)
        driver.deliver(now: 2)
        Self.receive(driver, &kernel, buckets: [9, 2, 9, 9], firstID: 9, at: 3)
        driver.deliver(now: 3)
        #expect(group.pools[0].openBlockPackets == 8)
        // Bucket 9 back to consumer 0, with none of its packets out (all in an open block).
        group.schedulers[0].move([9], to: 0)
        #expect(group.schedulers[0].readyToRelease)
        group.releaseIfDrained(queue: 0)
        Self.receive(driver, &kernel, buckets: [9, 9, 9, 9], firstID: 13, at: 4)
        driver.deliver(now: 4)
        driver.flush()
        var stamps: [UInt64] = []
        while let h = group.nextChunk(consumer: 0) {
            stamps += group.descriptors(of: h).map(\.timestamp)
            #expect(group.recycle(h, consumer: 0))
        }
        #expect(group.nextChunk(consumer: 1) == nil, "the open block's packets of bucket 9 follow its route of now")
        #expect(stamps.sorted() == Array(1...16))
        // Bucket 9's packets in order (copied into another route's block before the change
        // and after it: a block filled after the change would otherwise go out first).
        let nine: Set<UInt64> = [5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16]
        #expect(stamps.filter(nine.contains) == nine.sorted())
        driver.reclaim()
        #expect(group.pools[0].outstandingItems == 0 && group.pools[0].invariantViolations().isEmpty)
    }

    @Test("a group of 16 queues: one chunk split 18 ways (every consumer, and a tiny pool) goes out as one slice per consumer")
    func largeGroupsSplitEveryWay() throws {
        let queues = BuddyGroup.maxFlowQueues
        let config = Self.configuration(m: 16, r: 2, n: 16)
        let group = try BuddyGroup(queueCount: queues, configuration: config)
        let driver = CaptureDriver(group: group, queue: 0)
        var kernel = FakeKernel(capacity: 16)
        for j in 1..<queues {
            group.schedulers[0].move([j], to: j)
            group.releaseIfDrained(queue: 0)
        }
        Self.receive(driver, &kernel, buckets: (0..<16).map { UInt16($0) }, firstID: 1, at: 1)
        #expect(driver.deliver(now: 1) == 16)
        for j in 0..<queues {
            let h = try #require(group.nextChunk(consumer: j), "consumer \(j)")
            #expect(group.descriptors(of: h).map(\.timestamp) == [UInt64(j + 1)])
            #expect(group.recycle(h, consumer: j))
        }
        driver.reclaim()
        #expect(group.pools[0].outstandingItems == 0 && group.pools[0].invariantViolations().isEmpty)
    }

    @Test func flowOffloadRefusesGroupsItCannotSplitFor() {
        #expect(throws: ConfigurationError.self) {
            _ = try BuddyGroup(queueCount: BuddyGroup.maxFlowQueues + 1, configuration: Self.configuration())
        }
        var config = Self.configuration()
        config.flowBuckets = 100
        #expect(throws: ConfigurationError.self) { try config.validate() }
    }

    /// Random arrivals over many flows on 2–4 queues, random moves (and the
    /// scheduler's own), consumers that take and recycle in any order, spill on
    /// half the seeds. Every packet is delivered once; every flow's packets are
    /// consumed in arrival order; a consumer never takes a packet of a flow
    /// another consumer still holds.
    @Test(arguments: Array(UInt64(1)...40))
    func randomRunsKeepFlowsWholeAndInOrder(seed: UInt64) throws {
        let (moves, _) = try Self.randomRun(seed: seed)
        #expect(moves > 0, "seed \(seed): buckets moved")
    }

    /// The random runs exercise the held path: some moves had packets in flight.
    @Test func randomRunsHoldPacketsDuringMoves() throws {
        var held: UInt64 = 0
        for seed in UInt64(1)...10 { held += try Self.randomRun(seed: seed).held }
        #expect(held > 0)
    }

    static func randomRun(seed: UInt64) throws -> (moves: UInt64, held: UInt64) {
        var rng = SplitMix64(seed: seed)
        let queues = Int.random(in: 2...4, using: &rng)
        let spills = seed % 2 == 0
        let m = [2, 4, 8].randomElement(using: &rng)!
        let n = max(8, m * 2)
        let r = n / m + Int.random(in: 2...6, using: &rng)
        let config = Self.configuration(m: m, r: r, n: n,
                                        spill: spills ? SpillGeometry(zeroCopyChunks: Int.random(in: 1...2, using: &rng)) : nil)
        let group = try BuddyGroup(queueCount: queues, configuration: config)
        let drivers = (0..<queues).map { CaptureDriver(group: group, queue: $0) }
        for d in drivers { d.reclaim() }
        var kernels = (0..<queues).map { _ in FakeKernel(capacity: n) }
        let flowsPerQueue = Int.random(in: 1...40, using: &rng)
        func flowBucket(_ f: Int) -> UInt16 { UInt16(truncatingIfNeeded: (UInt32(f) &* 0x9E37_79B1) >> 16) }
        var flowOf: [UInt64: Int] = [:]           // packet id → flow
        var lastConsumed: [Int: UInt64] = [:]     // flow → last id consumed
        var holders: [Int: [Int: Int]] = [:]      // flow → consumer → packets held
        var held: [[ChunkHandle]] = Array(repeating: [], count: queues)
        var delivered: [UInt64: Int] = [:]
        var offered = 0
        var dropped = 0
        var now: UInt64 = 1_000_000
        var id: UInt64 = 1

        func take(_ h: ChunkHandle, consumer j: Int) {
            for d in group.descriptors(of: h) {
                let f = flowOf[d.timestamp]!
                delivered[d.timestamp, default: 0] += 1
                #expect(d.timestamp > lastConsumed[f, default: 0], "seed \(seed): flow \(f) out of order")
                lastConsumed[f] = d.timestamp
                for (k, count) in holders[f, default: [:]] where k != j {
                    #expect(count == 0, "seed \(seed): flow \(f) taken by \(j) while \(k) holds \(count) of it")
                }
                holders[f, default: [:]][j, default: 0] += 1
            }
            held[j].append(h)
        }
        func giveBack(_ h: ChunkHandle, consumer j: Int) {
            for d in group.descriptors(of: h) { holders[flowOf[d.timestamp]!]![j]! -= 1 }
            #expect(group.recycle(h, consumer: j))
        }

        for _ in 0..<800 {
            let q = Int.random(in: 0..<queues, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<40:
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    offered += 1
                    let f = q * 1000 + Int.random(in: 0..<flowsPerQueue, using: &rng)
                    if let a = kernels[q].take(using: &rng) {
                        flowOf[id] = f
                        #expect(drivers[q].record(address: a, length: UInt32.random(in: 60...1500, using: &rng),
                                                  timestamp: id, arrival: now, bucket: flowBucket(f)))
                    } else {
                        dropped += 1
                    }
                    id += 1
                }
            case 40..<62:
                drivers[q].reclaim()
                drivers[q].deliver(now: now)
                _ = drivers[q].refill(room: kernels[q].room) { kernels[q].posted.append($0) }
            case 62..<66:
                let buckets = (0..<Int.random(in: 1...4, using: &rng)).map { _ in Int(flowBucket(q * 1000 + Int.random(in: 0..<flowsPerQueue, using: &rng))) & 63 }
                group.schedulers[q].move(buckets, to: Int.random(in: 0..<queues, using: &rng))
            case 66..<82:
                if let h = group.nextChunk(consumer: q) { take(h, consumer: q) }
            case 82..<96:
                if !held[q].isEmpty {
                    giveBack(held[q].remove(at: Int.random(in: 0..<held[q].count, using: &rng)), consumer: q)
                }
            default:
                now += UInt64.random(in: 1...400_000, using: &rng)
            }
            for p in group.pools { #expect(p.invariantViolations().isEmpty, "seed \(seed)") }
        }
        for _ in 0..<300 {
            now += 1_000
            for j in 0..<queues {
                drivers[j].reclaim()
                drivers[j].flush()
                while let h = group.nextChunk(consumer: j) { take(h, consumer: j) }
                for h in held[j] { giveBack(h, consumer: j) }
                held[j].removeAll()
            }
        }
        for j in 0..<queues { drivers[j].reclaim() }
        #expect(delivered.count == offered - dropped, "seed \(seed): every received packet delivered")
        #expect(delivered.values.allSatisfy { $0 == 1 }, "seed \(seed): none twice")
        for q in 0..<queues {
            #expect(group.pools[q].outstandingItems == 0 && group.heldPackets(queue: q) == 0, "seed \(seed)")
            #expect(group.statistics(queue: q).packetsSpread == 0, "seed \(seed): strict affinity spreads nothing")
        }
        let stats = (0..<queues).map { group.statistics(queue: $0) }
        return (stats.reduce(0) { $0 + $1.bucketMoves }, stats.reduce(0) { $0 + $1.packetsHeld })
    }
}
