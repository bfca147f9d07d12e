import Testing
import WireCapCore

@Suite("BuddyGroup")
struct BuddyGroupTests {
    static let geometry = PoolGeometry(cellsPerChunk: 2, chunksPerPool: 10, fillRingSize: 8)

    /// Fills and delivers one whole chunk on queue `q` through its driver.
    @discardableResult
    func captureChunk(_ driver: CaptureDriver, now: UInt64) -> Int {
        var addrs: [UInt64] = []
        _ = driver.refill(room: 2) { addrs.append($0) }
        for a in addrs { _ = driver.record(address: a, length: 60, timestamp: now) }
        return driver.deliver(now: now)
    }

    @Test func basicModeNeverOffloads() throws {
        let group = try BuddyGroup(queueCount: 2, configuration: .init(geometry: Self.geometry, mode: .basic, offloadThresholdPercent: 10))
        let d0 = CaptureDriver(group: group, queue: 0)
        for _ in 0..<8 { captureChunk(d0, now: 1) }
        #expect(group.captureQueueLength(0) == 8)
        #expect(group.captureQueueLength(1) == 0)
        #expect(group.statistics(queue: 0).offloadedOut == 0)
    }

    @Test func advancedModeOffloadsAboveThresholdToTheLeastBusyBuddy() throws {
        // T = 30% of R=10 → offload once the own queue holds more than 3 handles.
        let group = try BuddyGroup(queueCount: 3, configuration: .init(geometry: Self.geometry, mode: .advanced, offloadThresholdPercent: 30))
        let d0 = CaptureDriver(group: group, queue: 0)
        let d2 = CaptureDriver(group: group, queue: 2)
        captureChunk(d2, now: 1)  // queue 2 is busier than queue 1
        for _ in 0..<3 { captureChunk(d0, now: 1) }
        #expect(group.captureQueueLength(0) == 3)  // at the threshold, not past it: stays home
        captureChunk(d0, now: 1)
        #expect(group.captureQueueLength(0) == 4)  // 3 is not above 3: still home
        captureChunk(d0, now: 1)                   // 4 > 3: offload to queue 1 (length 0 < queue 2's 1)
        #expect(group.captureQueueLength(1) == 1)
        captureChunk(d0, now: 1)                   // 1 vs 1: tie between buddies → lowest index
        #expect(group.captureQueueLength(1) == 2)
        #expect(group.offloadCount(from: 0, to: 1) == 2)
        #expect(group.statistics(queue: 0).offloadedOut == 2)
        #expect(group.statistics(queue: 1).offloadedIn == 2)
    }

    @Test func offloadedChunksGoHomeWhenRecycled() throws {
        let group = try BuddyGroup(queueCount: 2, configuration: .init(geometry: Self.geometry, mode: .advanced, offloadThresholdPercent: 10))
        let d0 = CaptureDriver(group: group, queue: 0)
        for _ in 0..<5 { captureChunk(d0, now: 1) }
        #expect(group.captureQueueLength(1) > 0)
        // Consumer 1 processes what was offloaded to it and recycles: the handles go to pool 0.
        var seen = 0
        while let h = group.nextChunk(consumer: 1) {
            #expect(h.queue == 0)
            #expect(group.descriptors(of: h).allSatisfy { $0.length == 60 })
            #expect(group.recycle(h, consumer: 1))
            seen += 1
        }
        while let h = group.nextChunk(consumer: 0) { #expect(group.recycle(h, consumer: 0)); seen += 1 }
        #expect(seen == 5)
        #expect(d0.reclaim() == 5)
        #expect(group.pools[0].freeChunks == 10)
        #expect(group.pools[1].freeChunks == 10)
        #expect(group.statistics(queue: 1).itemsConsumed > 0)
    }

    @Test func recycleIntoAnotherGroupIsRefused() throws {
        let a = try BuddyGroup(queueCount: 1, configuration: .init(geometry: Self.geometry))
        let b = try BuddyGroup(queueCount: 3, configuration: .init(geometry: Self.geometry))
        let d = CaptureDriver(group: b, queue: 2)
        captureChunk(d, now: 0)
        let h = b.nextChunk(consumer: 2)!
        // Queue 2 does not exist in group a: refused at the consumer, counted.
        #expect(!a.recycle(h, consumer: 0))
        // A handle from queue 0 of another group reaches a's pool 0 and is rejected there.
        let d0 = CaptureDriver(group: b, queue: 0)
        captureChunk(d0, now: 0)
        let h0 = b.nextChunk(consumer: 0)!
        let a0 = CaptureDriver(group: a, queue: 0)
        #expect(a.recycle(h0, consumer: 0))
        #expect(a0.reclaim() == 0)
        #expect(a.pools[0].counters.rejectedTotal == 1)
        #expect(a.pools[0].invariantViolations().isEmpty)
    }

    @Test func consumerReadsLanesRoundRobin() throws {
        let group = try BuddyGroup(queueCount: 2, configuration: .init(geometry: Self.geometry, mode: .advanced, offloadThresholdPercent: 10))
        let d0 = CaptureDriver(group: group, queue: 0)
        let d1 = CaptureDriver(group: group, queue: 1)
        // Queue 1 gets own chunks and offloaded ones from queue 0.
        for _ in 0..<3 { captureChunk(d1, now: 0) }
        for _ in 0..<8 { captureChunk(d0, now: 0) }
        let offloaded = Int(group.offloadCount(from: 0, to: 1))
        #expect(offloaded > 0)
        var origins: [UInt16] = []
        while let h = group.nextChunk(consumer: 1) { origins.append(h.queue) }
        // Offloaded handles are not starved behind local ones: both origins alternate early.
        #expect(Set(origins.prefix(2)) == [0, 1])
    }

    @Test func invalidQueueCount() {
        #expect(throws: ConfigurationError.self) { try BuddyGroup(queueCount: 0, configuration: .init(geometry: Self.geometry)) }
    }
}
