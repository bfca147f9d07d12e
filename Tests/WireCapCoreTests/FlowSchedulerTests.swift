import Testing
import WireCapCore

/// The flow scheduler's decisions (issue 15), driven tick by tick with a made-up
/// view of the group: which buckets a move takes, when nothing moves, how long a
/// moved bucket stays, and what a consumer's load leaves out.
@Suite("Flow scheduler decisions")
struct FlowSchedulerTests {
    /// One queue's scheduler (queue 0 of two) and the group around it: per consumer
    /// a backlog, a consumed count and the load the other queue routes to it.
    final class Rig {
        let scheduler: FlowScheduler
        var backlog = [0, 0]
        var consumed: [UInt64] = [0, 0]
        var otherLoad = [0.0, 0.0]
        var published = [0.0, 0.0]
        /// The queue's capture drops so far (what a backend publishes every 10 ms).
        var dropped: UInt64 = 0
        var now: UInt64 = 1_000_000
        let threshold = 1000

        init(buckets: Int = 64, strict: Bool = false) {
            scheduler = FlowScheduler(home: 0, buckets: buckets, consumers: 2, strict: strict, heldCapacity: 64)
        }

        var view: FlowScheduler.View {
            FlowScheduler.View(backlog: { self.backlog[$0] }, consumed: { self.consumed[$0] },
                               load: { self.published[$0] + self.otherLoad[$0] },
                               threshold: threshold, behind: 2 * 4, dropped: { self.dropped })
        }

        /// One 1 ms tick in which bucket b got `perTick[b]` packets; a move that needs
        /// no drain is released at once (nothing of it is out).
        func tick(_ perTick: [Int: UInt32]) {
            for (b, n) in perTick { scheduler.arrivals[b] = n }
            now += scheduler.tickInterval
            scheduler.tick(now: now, view: view) { published[$0] = $1 }
            if scheduler.readyToRelease { scheduler.releaseHeld { _, _ in } }
        }

        func route(_ b: Int) -> Int { Int(scheduler.route[b]) }
    }

    /// Buckets `buckets` with `packets` each a tick (a 1 ms tick: 1,000 × `packets` pps each).
    static func mice(_ buckets: ClosedRange<Int>, _ packets: UInt32 = 1) -> [Int: UInt32] {
        Dictionary(uniqueKeysWithValues: buckets.map { ($0, packets) })
    }

    /// Bucket 0 carries 100 packets a tick (100,000 pps), buckets 1 ... 20 carry 2 each.
    static let elephantAndMice: [Int: UInt32] = {
        var t: [Int: UInt32] = [0: 100]
        for b in 1...20 { t[b] = 2 }
        return t
    }()

    @Test("a move takes the small buckets and never one that would carry the loads past halfway")
    func theGreedyDoesNotOvershoot() {
        let rig = Rig()
        rig.tick([:])                         // the first tick only starts the clock
        rig.backlog = [rig.threshold + 1, 0]  // consumer 0 overloaded, consumer 1 idle
        rig.tick(Self.elephantAndMice)
        // Loads 140,000 vs 0: half the gap is 70,000. Bucket 0 (100,000) would narrow the
        // gap but make consumer 1 the heavier one: it stays; every small one goes.
        #expect(rig.route(0) == 0)
        #expect((1...20).map(rig.route) == Array(repeating: 1, count: 20))
        #expect(rig.scheduler.bucketMoves == 20)
    }

    @Test("no move when both consumers are about as loaded and both have a backlog: the overload is the group's")
    func aBalancedGroupDoesNotMove() {
        let rig = Rig()
        rig.tick([:])
        rig.backlog = [rig.threshold + 1, rig.threshold / 4]
        // 40 buckets of 1,000 pps here, 37,000 pps there: a 7.5% gap. Half of it (1,500)
        // would take one bucket, but a move needs a gap of 10% of the heavier load.
        let mice = Self.mice(1...40)
        rig.otherLoad = [0, 37_000]
        for _ in 0..<20 { rig.tick(mice) }
        #expect(rig.scheduler.bucketMoves == 0)
        let home = (1...40).filter { rig.route($0) == 0 }.count
        #expect(home == 40)
        // A real imbalance moves buckets.
        rig.otherLoad = [0, 10_000]
        for _ in 0..<3 { rig.tick(mice) }
        #expect(rig.scheduler.bucketMoves > 0)
    }

    @Test("loads that meet with backlogs that do not (consumers that do not serve alike): a step of 10% of the load moves")
    func unequalConsumersGetAStep() {
        let rig = Rig()
        rig.tick([:])
        // 45 buckets of 1,000 pps here, 45,000 pps there: no gap. But consumer 0 is past T
        // and consumer 1 has under two chunks waiting.
        let mice = Self.mice(1...45)
        rig.otherLoad = [0, 45_000]
        rig.backlog = [rig.threshold + 1, 0]
        rig.tick(mice)
        // The step: a gap of 2 × 10% of 45,000, half of it (4,500) moved: 4 buckets.
        #expect(rig.scheduler.bucketMoves == 4)
        let away = (1...45).filter { rig.route($0) == 1 }.count
        #expect(away == 4)
    }

    @Test("equal loads on consumers that serve unlike are an imbalance: the move makes the utilisations meet, before T")
    func utilisationsMeet() {
        let rig = Rig()
        rig.tick([:])
        // 45 buckets of 1,000 pps here, 45,000 pps there: the loads meet. Both consumers
        // have a short backlog (past `behind`, far under T), so both are measured while
        // busy: consumer 0 takes 50 packets a tick (50,000 pps), consumer 1 takes 100.
        let mice = Self.mice(1...45)
        rig.otherLoad = [0, 45_000]
        rig.backlog = [rig.scheduler.bucketCount, rig.scheduler.bucketCount]
        var ticks = 0
        while rig.scheduler.bucketMoves == 0 && ticks < 1000 {
            rig.consumed[0] += 50
            rig.consumed[1] += 100
            rig.tick(mice)
            ticks += 1
        }
        // Nothing moves until the service rates are measured (one ``serviceWindow`` of busy time).
        #expect(ticks >= Int(rig.scheduler.serviceWindow / (Double(rig.scheduler.tickInterval) / 1e9)))
        // Utilisations 0.9 and 0.45: they meet at 0.6 when (0.9 − 0.45) / (1/50,000 + 1/100,000)
        // = 15,000 pps move, 15 buckets. Raw loads would have moved none (no gap).
        let away = (1...45).filter { rig.route($0) == 1 }.count
        #expect(away == 15)
        #expect(rig.scheduler.bucketMoves == 15)
    }

    @Test("a moved bucket stays where it went for residenceTicks, then may move again")
    func movedBucketsStayAWhile() {
        let rig = Rig()
        let mice = Self.mice(1...20, 2)
        rig.tick([:])
        rig.backlog = [rig.threshold + 1, 0]
        rig.tick(mice)
        let moved = (1...20).filter { rig.route($0) == 1 }
        #expect(!moved.isEmpty)
        // Now consumer 1 is the overloaded one and consumer 0 idle: the moved buckets wait.
        rig.backlog = [0, rig.threshold + 1]
        rig.otherLoad = [0, 50_000]
        var ticks = 1
        while moved.allSatisfy({ rig.route($0) == 1 }) && ticks < 1000 {
            rig.tick(mice)
            ticks += 1
        }
        #expect(ticks >= Int(rig.scheduler.residenceTicks))
        #expect(ticks < 1000, "they move once the residence is over")
    }

    @Test("a spread bucket is in no consumer's load; strict affinity never spreads")
    func spreadBucketsLeaveTheLoads() {
        for strict in [false, true] {
            let rig = Rig(strict: strict)
            rig.tick([:])
            // Consumer 0 busy throughout, serving 50 packets a tick (50,000 pps): its service
            // rate is measured over 200 ms of busy time. Bucket 0 alone is 100,000 pps.
            rig.backlog = [rig.threshold + 1, 0]
            for _ in 0..<400 {
                rig.consumed[0] += 50
                rig.tick([0: 100])
            }
            if strict {
                #expect(rig.scheduler.bucketsSpread == 0)
                #expect(rig.route(0) == 0)
                #expect(rig.published[0] > 90_000)
            } else {
                #expect(rig.scheduler.bucketsSpread == 1)
                #expect(rig.route(0) == Int(rig.scheduler.spread))
                #expect(rig.published == [0, 0])
            }
        }
    }

    @Test("on a full pool the drops say what was offered: an elephant capped at its consumer's pace is still spread, with no buddy to spare")
    func lossesScaleTheRatesUp() {
        let rig = Rig()
        rig.tick([:])
        // The pool is full: consumer 0 lets 50 packets a tick through (50,000 pps), 40 of
        // them the elephant's; as many again are dropped before they are recorded. Both
        // consumers are past half the threshold: no buddy has room for a move.
        rig.backlog = [rig.threshold + 1, rig.threshold]
        var perTick: [Int: UInt32] = [0: 40]
        for b in 1...5 { perTick[b] = 2 }
        for t in 1...400 {
            rig.consumed[0] += 50
            if t % 10 == 0 { rig.dropped += 500 }  // published every 10 ms, as a backend does
            rig.tick(perTick)
        }
        // Recorded, the elephant is 40,000 pps, under 90% of the 50,000 its consumer serves;
        // offered, it is 80,000: no consumer can take it.
        #expect(abs(rig.scheduler.offeredScale - 2) < 0.05)
        #expect(rig.scheduler.bucketsSpread == 1)
        #expect(rig.route(0) == Int(rig.scheduler.spread))
        let miceAtHome = (1...5).filter { rig.route($0) == 0 }.count
        #expect(miceAtHome == 5, "the mice stay: no buddy had room")
    }

    @Test("without losses the rates are the recorded ones")
    func noLossesNoScale() {
        let rig = Rig()
        rig.tick([:])
        for _ in 0..<50 { rig.tick([0: 10]) }
        #expect(rig.scheduler.offeredScale == 1)
        #expect(abs(rig.published[0] - 10_000) < 1)
    }
}
