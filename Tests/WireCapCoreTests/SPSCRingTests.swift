import Testing
import WireCapCore
import WireCapTestSupport
import struct WireCapTrace.SplitMix64
#if canImport(Glibc)
import Glibc
#endif

@Suite("SPSCRing")
struct SPSCRingTests {
    /// Every capacity × start index (including just before the UInt32 wrap) × fill count:
    /// FIFO order, exact full/empty behaviour and count.
    @Test func exhaustiveSmallRings() {
        let starts: [UInt32] = [0, 1, UInt32.max - 2, UInt32.max - 1, UInt32.max]
        for capacity in [1, 2, 3, 4, 8] {
            for start in starts {
                let ring = SPSCRing<UInt64>.allocate(capacity: capacity, initialIndex: start)
                defer { ring.deallocate() }
                let cap = ring.capacity
                #expect(cap == capacity.nextPowerOfTwoForTest)
                var next: UInt64 = 0
                var expected: UInt64 = 0
                // Several rounds of fill-to-k then drain-to-j, crossing the wrap.
                for round in 0..<(3 * cap + 3) {
                    let fill = round % (cap + 1)
                    for _ in 0..<fill {
                        if ring.count < cap {
                            #expect(ring.enqueue(next))
                            next += 1
                        }
                    }
                    if ring.count == cap { #expect(!ring.enqueue(999_999)) }
                    #expect(ring.count == Int(next - expected))
                    let drain = (round * 7) % (cap + 1)
                    for _ in 0..<drain {
                        if let v = ring.dequeue() {
                            #expect(v == expected)
                            expected += 1
                        } else {
                            #expect(next == expected)
                        }
                    }
                }
                while let v = ring.dequeue() {
                    #expect(v == expected)
                    expected += 1
                }
                #expect(expected == next)
                #expect(ring.isEmpty)
                #expect(ring.dequeue() == nil)
            }
        }
    }

    /// In place: every capacity × start index (across the UInt32 wrap) × burst sizes,
    /// against a model queue; bulk reserves are all or nothing, bursts take what is
    /// free; reserving twice before committing gives the same slots; peek sees only
    /// what was committed; mixing with enqueue/dequeue keeps FIFO order.
    @Test func reserveCommitPeekReleaseAgainstAModel() {
        var rng = SplitMix64(seed: 77)
        for capacity in [1, 2, 4, 8] {
            for start: UInt32 in [0, UInt32.max - 2, UInt32.max] {
                let ring = SPSCRing<UInt64>.allocate(capacity: capacity, initialIndex: start)
                defer { ring.deallocate() }
                var model: [UInt64] = []
                var next: UInt64 = 0
                for _ in 0..<400 {
                    let want = 1 + Int(rng.next() % UInt64(capacity + 1))
                    let bulk = rng.next() % 2 == 0
                    let free = capacity - model.count
                    let (index, count) = ring.reserve(want, bulk: bulk)
                    #expect(count == (bulk ? (want <= free ? want : 0) : min(want, free)), "cap \(capacity) want \(want) free \(free) bulk \(bulk)")
                    #expect(ring.reserve(want, bulk: bulk) == (index, count), "reserving again gives the same slots")
                    #expect(ring.peek().count == model.count, "uncommitted slots are not visible")
                    let committed = count == 0 ? 0 : Int(rng.next() % UInt64(count + 1))
                    for i in 0..<committed { ring.slot(index &+ UInt32(i)).pointee = next; model.append(next); next += 1 }
                    ring.commit(committed)
                    if rng.next() % 4 == 0, ring.enqueue(next) { model.append(next); next += 1 }
                    let (head, ready) = ring.peek(Int(rng.next() % UInt64(capacity + 1)))
                    #expect(ready <= model.count)
                    for i in 0..<ready { #expect(ring.slot(head &+ UInt32(i)).pointee == model[i]) }
                    let freed = ready == 0 ? 0 : Int(rng.next() % UInt64(ready + 1))
                    ring.release(freed)
                    model.removeFirst(freed)
                    if rng.next() % 4 == 0, let v = ring.dequeue() { #expect(v == model.removeFirst()) }
                    #expect(ring.count == model.count)
                }
            }
        }
    }

    /// Two threads moving bursts in place, producer and consumer at different
    /// burst sizes: nothing lost, duplicated, reordered or torn (under TSan in `make test`).
    @Test func twoThreadBurstsInPlace() {
        let ring = SPSCRing<UInt64>.allocate(capacity: 64, initialIndex: UInt32.max - 100)
        defer { ring.deallocate() }
        let total: UInt64 = 200_000
        let producer = TestThread {
            var i: UInt64 = 0
            while i < total {
                let (index, count) = ring.reserve(min(7, Int(total - i)))
                if count == 0 { sched_yield(); continue }
                for k in 0..<count { ring.slot(index &+ UInt32(k)).pointee = (i + UInt64(k)) &* 0x9E37_79B9_7F4A_7C15 }
                ring.commit(count)
                i += UInt64(count)
            }
        }
        let (received, ordered) = Self.consume(total, joining: producer) { expected in
            let (head, count) = ring.peek(5)
            guard count > 0 else { return nil }
            var ok = true
            for k in 0..<count where ring.slot(head &+ UInt32(k)).pointee != (expected + UInt64(k)) &* 0x9E37_79B9_7F4A_7C15 { ok = false }
            ring.release(count)
            return (count, ok)
        }
        #expect(received == total && ordered)
        #expect(ring.isEmpty)
    }

    @Test func freeSpaceTracksConsumer() {
        let ring = SPSCRing<UInt32>.allocate(capacity: 8, initialIndex: UInt32.max - 3)
        defer { ring.deallocate() }
        #expect(ring.freeSpace() == 8)
        for i in 0..<8 { #expect(ring.enqueue(UInt32(i))) }
        #expect(ring.freeSpace() == 0)
        _ = ring.dequeue()
        _ = ring.dequeue()
        #expect(ring.freeSpace() == 2)
    }

    /// Two OS threads, a bounded count, each producer value a pattern the consumer checks:
    /// nothing lost, duplicated, reordered or torn. Waiting sides call sched_yield (no
    /// lock, so ThreadSanitizer sees only the ring's own acquire/release edges). Runs
    /// under ThreadSanitizer in `make test`.
    @Test func twoThreadStress() {
        struct Item: Equatable { var seq: UInt64; var check: UInt64 }
        let ring = SPSCRing<Item>.allocate(capacity: 64, initialIndex: UInt32.max - 1000)
        defer { ring.deallocate() }
        let total: UInt64 = 300_000
        let producer = TestThread {
            var i: UInt64 = 0
            while i < total {
                if ring.enqueue(Item(seq: i, check: i &* 0x9E37_79B9_7F4A_7C15)) { i += 1 } else { sched_yield() }
            }
        }
        let (received, ordered) = Self.consume(total, joining: producer) { expected in
            guard let item = ring.dequeue() else { return nil }
            return (1, item.seq == expected && item.check == expected &* 0x9E37_79B9_7F4A_7C15)
        }
        #expect(received == total)
        #expect(ordered)
        #expect(ring.isEmpty)
    }
}

extension SPSCRingTests {
    /// Runs a consumer on its own thread until `total` items were taken: `take(expected)`
    /// returns how many it took and whether they were the expected ones (nil: nothing
    /// waiting; it then yields, never locks). Joins `producer` too.
    static func consume(_ total: UInt64, joining producer: TestThread,
                        _ take: @escaping (UInt64) -> (Int, Bool)?) -> (received: UInt64, ordered: Bool) {
        final class Outcome: @unchecked Sendable { var received: UInt64 = 0; var ordered = true }
        let outcome = Outcome()
        let consumer = TestThread {
            var expected: UInt64 = 0
            var ok = true
            while expected < total {
                guard let (n, right) = take(expected) else { sched_yield(); continue }
                if !right { ok = false }
                expected += UInt64(n)
            }
            outcome.received = expected
            outcome.ordered = ok
        }
        producer.join()
        consumer.join()
        return (outcome.received, outcome.ordered)
    }
}

extension Int {
    var nextPowerOfTwoForTest: Int {
        var p = 1
        while p < self { p <<= 1 }
        return p
    }
}
