import Testing
import WireCapCore
import WireCapTestSupport
import struct WireCapTrace.SplitMix64

/// Random sequences of receive / capture / timeout / consume / recycle / forged recycle
/// over a buddy group with shuffled frame-return orders, half of them with a spill
/// blocks (packets of random sizes, so blocks fill unevenly and some chunks are not worth copying); the invariants are
/// checked after every step, order per lane when frames return in order, and
/// exactly-once delivery at the end.
@Suite("Properties")
struct PropertyTests {
    struct Run {
        var offered = 0
        var dropped = 0
        var ledger = PacketLedger()
    }

    static let seeds: [UInt64] = Array(1...40)

    @Test(arguments: seeds)
    func randomOperationSequences(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let queues = Int.random(in: 1...3, using: &rng)
        // Even seeds spill (a block is one chunk's memory: M ≥ 2, and R ≥ N/M + 2).
        let spills = seed % 2 == 0
        let m = (spills ? [2, 4, 8] : [1, 2, 4, 8]).randomElement(using: &rng)!
        let n = max(8, m * Int.random(in: 1...2, using: &rng)).nextPowerOfTwoForTest
        let r = n / m + Int.random(in: (spills ? 2 : 1)...5, using: &rng)
        let mode: CaptureMode = Bool.random(using: &rng) ? .basic : .advanced
        let timeout: UInt64 = 50
        let spill = spills ? SpillGeometry(blocks: Bool.random(using: &rng) ? nil : Int.random(in: 1...4, using: &rng),
                                           zeroCopyChunks: Int.random(in: 1...3, using: &rng)) : nil
        let config = CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: m, chunksPerPool: r, fillRingSize: n),
            mode: mode, offloadThresholdPercent: Int.random(in: 1...100, using: &rng),
            partialTimeoutNanoseconds: timeout, spill: spill)
        let group = try BuddyGroup(queueCount: queues, configuration: config)
        let drivers = (0..<queues).map { CaptureDriver(group: group, queue: $0) }
        let inOrder = Bool.random(using: &rng)
        var kernels = (0..<queues).map { _ in FakeKernel(capacity: n, shuffleWindow: inOrder ? 1 : Int.random(in: 1...5, using: &rng)) }
        var lastSeen: [Int: UInt64] = [:]   // per (origin, consumer) lane: the last packet id consumed
        var held: [[ChunkHandle]] = Array(repeating: [], count: queues)
        var recycledAlready: [ChunkHandle] = []
        var run = Run()
        var now: UInt64 = 1
        var nextID: UInt32 = 1
        var arrival: [UInt32: UInt64] = [:]

        // A packet's id is its timestamp; its length is random (spill packs by length).
        func consume(_ h: ChunkHandle, consumer j: Int, at now: UInt64, _ run: inout Run) {
            let lane = Int(h.queue) * 8 + j
            for d in group.descriptors(of: h) {
                run.ledger.deliver(d.timestamp)
                #expect(arrival[UInt32(d.timestamp)]! <= now, "seed \(seed): delivered before it arrived")
                if inOrder {
                    #expect(d.timestamp > lastSeen[lane, default: 0], "seed \(seed): lane \(h.queue)→\(j) out of order")
                }
                lastSeen[lane] = d.timestamp
            }
        }

        /// The partial-timeout rule: right after a capture pass at `now`, no received
        /// packet has waited `timeout` or more in the pool, unless the pool's item
        /// budget is spent or it waits for spill space (then it waits for a recycle).
        func checkTimeout(_ q: Int, at now: UInt64) {
            let pool = group.pools[q]
            guard let oldest = pool.oldestPendingArrival(), pool.outstandingItems < pool.itemBudget,
                  !pool.waitsForRecycle else { return }
            #expect(now - oldest < timeout, "seed \(seed) queue \(q): a packet waited \(now - oldest) ≥ timeout \(timeout) after a pass")
        }

        func check() {
            for q in 0..<queues {
                let problems = group.pools[q].invariantViolations()
                #expect(problems.isEmpty, "seed \(seed) queue \(q): \(problems)")
                // Whatever a consumer holds is still outstanding: never freed under it.
                for h in held[q] {
                    let verdict = group.pools[Int(h.queue)].validate(h)
                    #expect(verdict == nil, "seed \(seed): held \(h) is \(String(describing: verdict))")
                }
            }
        }

        for _ in 0..<600 {
            let q = Int.random(in: 0..<queues, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45:  // a burst of packets arrives on queue q
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    run.offered += 1
                    if let a = kernels[q].take(using: &rng) {
                        let length = UInt32.random(in: 42...1514, using: &rng)
                        #expect(drivers[q].record(address: a, length: length, timestamp: UInt64(nextID), arrival: now))
                        arrival[nextID] = now
                    } else {
                        run.dropped += 1
                    }
                    nextID += 1
                }
            case 45..<70:  // capture thread q runs one iteration
                drivers[q].reclaim()
                drivers[q].deliver(now: now)
                checkTimeout(q, at: now)
                _ = drivers[q].refill(room: kernels[q].room) { kernels[q].posted.append($0) }
            case 70..<85:  // consumer q takes a chunk
                if let h = group.nextChunk(consumer: q) {
                    consume(h, consumer: q, at: now, &run)
                    held[q].append(h)
                }
            case 85..<96:  // consumer q recycles one of its chunks, in any order
                if !held[q].isEmpty {
                    let h = held[q].remove(at: Int.random(in: 0..<held[q].count, using: &rng))
                    #expect(group.recycle(h, consumer: q))
                    recycledAlready.append(h)
                }
            case 96..<98:  // a misbehaving consumer: double recycle or forged handle
                if let h = recycledAlready.randomElement(using: &rng) {
                    _ = group.recycle(h, consumer: q)
                } else if var h = held[q].first {
                    h.count &+= 1
                    _ = group.recycle(h, consumer: q)
                }
            default:
                now += UInt64.random(in: 1...40, using: &rng)
            }
            check()
        }

        // Drain: stop arrivals, run everything until all packets are delivered and recycled.
        for _ in 0..<200 {
            now += timeout
            for q in 0..<queues {
                while let h = group.nextChunk(consumer: q) { consume(h, consumer: q, at: now, &run); held[q].append(h) }
                for h in held[q] { #expect(group.recycle(h, consumer: q)) }
                held[q].removeAll()
                drivers[q].reclaim()
                drivers[q].deliver(now: now)
            }
        }
        check()
        let received = run.offered - run.dropped
        #expect(run.ledger.delivered.count == received, "seed \(seed): every received packet delivered")
        #expect(run.ledger.duplicates == 0, "seed \(seed): no packet delivered twice")
        for q in 0..<queues {
            let pool = group.pools[q]
            #expect(pool.outstandingItems == 0)
            #expect(pool.capturedChunks == 0)
            let s = group.statistics(queue: q)
            #expect(s.packetsDelivered == pool.counters.packetsDelivered)
        }
        let totalDelivered = (0..<queues).reduce(0) { $0 + Int(group.pools[$1].counters.packetsDelivered) }
        #expect(totalDelivered == received)
    }

    /// With a consumer that keeps up, no packet waits longer than the timeout plus one
    /// capture-thread period before it is delivered.
    @Test(arguments: [UInt64(7), 8, 9])
    func noPacketWaitsPastTheTimeout(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let timeout: UInt64 = 1_000
        let period: UInt64 = 100
        let config = CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: 64, chunksPerPool: 8, fillRingSize: 128),
            mode: .basic, partialTimeoutNanoseconds: timeout)
        let group = try BuddyGroup(queueCount: 1, configuration: config)
        let driver = CaptureDriver(group: group, queue: 0)
        var kernel = FakeKernel(capacity: 128, shuffleWindow: 3)
        var arrival: [UInt32: UInt64] = [:]
        var worst: UInt64 = 0
        var delivered = 0
        var id: UInt32 = 0
        var now: UInt64 = 0
        while now < 200_000 {
            // Sparse, bursty arrivals between capture-thread passes.
            if Int.random(in: 0..<10, using: &rng) == 0 {
                for _ in 0..<Int.random(in: 1...5, using: &rng) {
                    if let a = kernel.take(using: &rng) {
                        id += 1
                        arrival[id] = now
                        _ = driver.record(address: a, length: id, timestamp: now)
                    }
                }
            }
            driver.reclaim()
            driver.deliver(now: now)
            _ = driver.refill(room: kernel.room) { kernel.posted.append($0) }
            while let h = group.nextChunk(consumer: 0) {
                for d in group.descriptors(of: h) { worst = max(worst, now - arrival[d.length]!); delivered += 1 }
                group.recycle(h, consumer: 0)
            }
            now += period
        }
        #expect(id > 100)
        #expect(worst <= timeout + period)
        #expect(delivered + Int(group.pools[0].attachedChunks) * 64 >= Int(id) - 64 * 2)
    }
}
