import Foundation
import Testing
import WireCap

/// The pcap-style calls over a SyntheticCapture (WireCapCore only: no root, no kernel).
@Suite("pcap-style handle semantics")
struct PcapSemanticsTests {
    /// A one-queue synthetic capture with `packets` packets received (virtual time 1 µs apart).
    func capture(_ packets: Int, filter: PacketPredicate? = nil, snapLength: Int = 262_144,
                 readTimeoutNanoseconds: UInt64 = 2_000_000) throws -> SyntheticCapture {
        let c = try SyntheticCapture(queues: 1, configuration: Frames.small, filter: filter, snapLength: snapLength,
                                     readTimeoutNanoseconds: readTimeoutNanoseconds)
        for i in 0..<packets { c.receive(queue: 0, packet: Frames.udp(flow: i % 4, marker: UInt8(i & 0xFF)), timestamp: UInt64(i) * 1000) }
        return c
    }

    @Test("dispatch: at most one chunk, maxPackets respected, the rest kept for the next call")
    func dispatchCounts() throws {
        let c = try capture(16)           // two full chunks of M = 8
        let h = c.handles[0]
        var seen: [UInt8] = []
        #expect(h.dispatch(maxPackets: 3) { seen.append($0.bytes[0]) } == .processed(3))
        #expect(h.dispatch { seen.append($0.bytes[0]) } == .processed(5))    // rest of chunk 1 only
        #expect(h.dispatch(maxPackets: 100) { seen.append($0.bytes[0]) } == .processed(8))
        #expect(seen == (0..<16).map(UInt8.init))
        // Non-blocking, on a handle whose read timeout (60 s) is far longer than the
        // test: one that waited for it instead of returning at once cannot pass.
        let patient = try capture(0, readTimeoutNanoseconds: 60_000_000_000).handles[0]
        patient.isNonBlocking = true
        let start = Date()
        #expect(patient.dispatch { _ in } == .processed(0))
        #expect(Date().timeIntervalSince(start) < 30, "non-blocking returns at once, not after the read timeout")
        let t0 = Date()
        #expect(h.dispatch { _ in } == .processed(0), "blocking: 0 after the read timeout")
        #expect(Date().timeIntervalSince(t0) >= 0.0015)
        c.finish()
        #expect(h.dispatch { _ in } == .finished)
        #expect(h.stats().processed == 16)
        #expect(h.stats().received == 16)
    }

    @Test("a partly filled chunk arrives after the partial timeout (pcap's buffer timeout)")
    func partialTimeout() throws {
        let c = try capture(3)
        let h = c.handles[0]
        h.isNonBlocking = true
        #expect(h.dispatch { _ in } == .processed(0))
        c.flush(now: 10_000_000)           // virtual time past the 1 ms timeout
        #expect(h.dispatch { _ in } == .processed(3))
    }

    @Test("breakLoop: before a call → .broken and cleared; mid-chunk → count now, .broken next")
    func breakLoop() throws {
        let c = try capture(8)
        let h = c.handles[0]
        h.breakLoop()
        #expect(h.dispatch { _ in } == .broken)
        var n = 0
        let r = h.dispatch { _ in n += 1; if n == 2 { h.breakLoop() } }
        #expect(r == .processed(2))
        #expect(h.dispatch { _ in } == .broken)
        #expect(h.dispatch { _ in } == .processed(6))
        h.breakLoop()
        #expect(h.loop(count: 0) { _ in } == .broken)
        h.breakLoop()
        #expect(h.next().isBroken)
    }

    @Test("loop(count:) processes exactly count packets across chunks; breakLoop from another thread ends a waiting loop")
    func loopCount() throws {
        let c = try capture(24)
        let h = c.handles[0]
        var n = 0
        #expect(h.loop(count: 20) { _ in n += 1 } == .completed)
        #expect(n == 20)
        #expect(h.dispatch { _ in } == .processed(4))
        // Whether breakLoop lands before the loop starts waiting or while it waits,
        // the loop (which would otherwise never end) returns .broken.
        let t = Thread { h.breakLoop() }
        t.start()
        #expect(h.loop(count: 0) { _ in } == .broken)
        c.finish()
        #expect(h.loop(count: 5) { _ in } == .finished)
    }

    @Test("next(): a copy; withNext: in place; timeout in non-blocking mode; finished at the end")
    func next() throws {
        let c = try capture(8)
        let h = c.handles[0]
        guard case .packet(let p) = h.next() else { Issue.record("expected a packet"); return }
        #expect(p.bytes[0] == 0 && p.bytes.count == 64 && p.wireLength == 64 && p.queue == 0)
        guard case .packet(let second) = h.withNext({ $0.bytes[0] }) else { Issue.record("expected a packet"); return }
        #expect(second == 1)
        for _ in 2..<8 { _ = h.next() }
        h.isNonBlocking = true
        #expect(h.next().isTimeout)
        c.finish()
        #expect(h.next().isFinished)
    }

    @Test("withNextChunk: a whole chunk in place, recycled afterwards (the pool gets it back)")
    func chunkLevel() throws {
        let c = try capture(16)
        let h = c.handles[0]
        guard case .packet(let count) = h.withNextChunk({ chunk in chunk.forEach { _ in } }) else { Issue.record("no chunk"); return }
        #expect(count == 8)
        guard case .packet(let info) = h.withNextChunk({ ($0.count, $0.originQueue, $0.wasOffloaded) }) else { Issue.record("no chunk"); return }
        #expect(info.0 == 8 && info.1 == 0 && !info.2)
        c.flush(now: 1)
        #expect(c.group.statistics(queue: 0).recycled == 2)
    }

    @Test("stats: received, processed, drops when the pool is exhausted (ps_recv / ps_drop)")
    func stats() throws {
        let c = try capture(200)           // pool holds R·M = 128 packets; nothing consumed
        let h = c.handles[0]
        let s = h.stats()
        #expect(s.received == 128)
        #expect(s.dropped == 72)
        #expect(s.queue.dropsNoBuffer == 72)
        var n = 0
        while case .processed(let k) = h.dispatch(maxPackets: 0, { _ in }), k > 0 { n += k }
        #expect(n == 128)
        #expect(h.stats().processed == 128)
    }

    @Test("filter and snap length: rejected packets are counted, views are cut, wire length kept")
    func filterAndSnap() throws {
        let even = PacketPredicate(expression: "even marker") { $0[0] % 2 == 0 }
        let c = try capture(16, filter: even, snapLength: 20)
        let h = c.handles[0]
        var lengths: [Int] = []
        var wire: [Int] = []
        _ = h.loop(count: 8) { lengths.append($0.capturedLength); wire.append($0.wireLength) }
        #expect(lengths == Array(repeating: 20, count: 8))
        #expect(wire == Array(repeating: 64, count: 8))
        #expect(h.stats().filteredOut == 7 || h.stats().filteredOut == 8)
    }

    @Test("async sequence of chunks (copies) ends when the source finishes")
    func asyncChunks() async throws {
        let c = try capture(20)
        c.finish()
        var packets = 0
        var chunks = 0
        for try await chunk in c.handles[0].chunks() {
            chunks += 1
            packets += chunk.packets.count
        }
        #expect(packets == 20)
        #expect(chunks == 3)
    }
}

extension NextResult {
    var isBroken: Bool { if case .broken = self { true } else { false } }
    var isTimeout: Bool { if case .timeout = self { true } else { false } }
    var isFinished: Bool { if case .finished = self { true } else { false } }
}
