import Testing
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

@Suite("Flow-split tracker")
struct FlowSplitTrackerTests {
    /// A 64-byte generator packet of flow `flow`.
    static func packet(flow: Int) -> [UInt8] {
        var p = TestPacket.header(flow: flow, size: 64)
        p += [UInt8](repeating: 0, count: 22)
        return p
    }

    @Test("flows seen by two consumers are counted as split, others not; non-IPv4 is ignored")
    func countsSplitFlows() {
        let tracker = FlowSplitTracker(workers: 3, capacity: 1 << 10)
        for f in 0..<100 {
            Self.packet(flow: f).withUnsafeBytes { tracker.record($0, worker: 0) }
            if f % 10 == 0 { Self.packet(flow: f).withUnsafeBytes { tracker.record($0, worker: 2) } }
        }
        for f in 100..<150 { Self.packet(flow: f).withUnsafeBytes { tracker.record($0, worker: 1) } }
        var arp = Self.packet(flow: 7)
        arp[12] = 0x08; arp[13] = 0x06
        arp.withUnsafeBytes { tracker.record($0, worker: 1) }
        let r = tracker.report()
        #expect(r.flowsTotal == 150)
        #expect(r.flowsSplit == 10)
        #expect(!r.overflowed)
    }

    @Test("a full set stops taking flows and says the counts are lower bounds")
    func overflowIsReported() {
        let tracker = FlowSplitTracker(workers: 1, capacity: 64)
        for f in 0..<100 { Self.packet(flow: f).withUnsafeBytes { tracker.record($0, worker: 0) } }
        let r = tracker.report()
        #expect(r.flowsTotal == 32)
        #expect(r.overflowed)
    }
}

@Suite("Flow order")
struct FlowOrderTests {
    /// A whole generator packet of generator queue `queue`, flow `flow`, sequence `seq`.
    static func packet(queue: Int, flow: Int, seq: UInt64, size: Int = 64) -> [UInt8] {
        let header = TestPacket.header(flow: flow, size: size)
        var p = [UInt8](repeating: 0, count: size)
        header.withUnsafeBytes { h in
            p.withUnsafeMutableBytes {
                TestPacket.write(into: $0.baseAddress!, size: size, header: h.baseAddress!,
                                 queue: UInt16(queue), flow: UInt16(flow), sequence: seq)
            }
        }
        return p
    }

    func check(_ order: FlowOrder, queue: Int = 0, flow: Int, seq: UInt64, consumer: Int) {
        Self.packet(queue: queue, flow: flow, seq: seq).withUnsafeBytes { order.check($0, consumer: consumer) }
    }

    @Test("a packet processed after a later one of its flow is out of order, by any consumer")
    func countsLatePackets() {
        let order = FlowOrder(origins: 2, consumers: 2)
        check(order, flow: 0, seq: 0, consumer: 0)
        check(order, flow: 0, seq: 2, consumer: 0)
        check(order, flow: 0, seq: 1, consumer: 1)   // late: 2 was processed first, elsewhere
        check(order, flow: 0, seq: 3, consumer: 1)
        check(order, flow: 0, seq: 1, consumer: 0)   // late again (and a duplicate: not this type's count)
        check(order, flow: 0, seq: 4, consumer: 0)   // in order after the late ones: the flag does not hide the sequence
        check(order, flow: 0, seq: 3, consumer: 1)   // late once more
        #expect(order.outOfOrder == 3)
        #expect(order.flowsReordered == 1, "one flow, however many of its packets were late")
        // A flow that moves whole (consumer 0 done before consumer 1 begins) is not reordered.
        for seq in UInt64(0)..<5 { check(order, flow: 7, seq: seq, consumer: 0) }
        for seq in UInt64(5)..<9 { check(order, flow: 7, seq: seq, consumer: 1) }
        check(order, flow: 8, seq: 3, consumer: 1)
        check(order, flow: 8, seq: 2, consumer: 0)
        #expect(order.outOfOrder == 4 && order.flowsReordered == 2)
    }

    @Test("flows and generator queues are ordered apart; gaps (losses) are not reordering")
    func flowsAreIndependent() {
        let order = FlowOrder(origins: 2, consumers: 1)
        check(order, flow: 1, seq: 10, consumer: 0)
        check(order, flow: 2, seq: 5, consumer: 0)             // another flow: its own order
        check(order, queue: 1, flow: 1, seq: 7, consumer: 0)   // same flow id, other queue
        check(order, flow: 1, seq: 50, consumer: 0)            // a gap: lost packets, in order
        check(order, flow: 65535, seq: 1, consumer: 0)
        check(order, flow: 65535, seq: 0, consumer: 0)         // late, at the last flow slot
        #expect(order.outOfOrder == 1)
    }

    @Test("other packets and untracked generator queues are ignored")
    func ignoresOthers() {
        let order = FlowOrder(origins: 1, consumers: 1)
        check(order, flow: 0, seq: 5, consumer: 0)
        check(order, queue: 1, flow: 0, seq: 1, consumer: 0)   // queue 1 not tracked
        var foreign = Self.packet(queue: 0, flow: 0, seq: 1)
        foreign[42] = 0                                          // no magic
        foreign.withUnsafeBytes { order.check($0, consumer: 0) }
        [UInt8](repeating: 0, count: 20).withUnsafeBytes { order.check($0, consumer: 0) }
        #expect(order.outOfOrder == 0)
    }
}
