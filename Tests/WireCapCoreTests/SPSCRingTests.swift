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
        var received: UInt64 = 0
        var ordered = true
        let consumer = TestThread {
            var expected: UInt64 = 0
            var ok = true
            while expected < total {
                if let item = ring.dequeue() {
                    if item.seq != expected || item.check != expected &* 0x9E37_79B9_7F4A_7C15 { ok = false }
                    expected += 1
                } else {
                    sched_yield()
                }
            }
            received = expected
            ordered = ok
        }
        producer.join()
        consumer.join()
        #expect(received == total)
        #expect(ordered)
        #expect(ring.isEmpty)
    }
}

extension Int {
    var nextPowerOfTwoForTest: Int {
        var p = 1
        while p < self { p <<= 1 }
        return p
    }
}
