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
