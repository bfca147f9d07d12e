#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import WireCap
import WireCapCore
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// The pcap-style API on the AF_PACKET backend (`CaptureSettings.backend = .afpacket`):
/// the same handles, dispatch/loop/breakLoop and counters as on AF_XDP, reading
/// TPACKET_V3 blocks through the descriptors the capture thread writes. Live on a
/// veth testbed (root; CI runs as root); every testbed uniquely named and removed.
@Suite("Live pcap-style API on AF_PACKET (veth)", .serialized, .enabled(if: LiveAPI.isRoot, "needs root (AF_PACKET, network namespaces)"))
struct AFPacketAPITests {
    final class Counts: Sendable {
        let packets = Atomic<Int>(0), udp = Atomic<Int>(0), bad = Atomic<Int>(0), broken = Atomic<Int>(0), first = Atomic<Int>(0)
    }

    /// Opens the capture with 2 fanout sockets (qm: device queue q → socket q) and small blocks.
    static func open(_ bed: Testbed, mode: CaptureMode) throws -> Capture {
        var settings = CaptureSettings()
        settings.backend = .afpacket(fanout: .qm, rollover: false)
        settings.afpacketGeometry = AFPacketGeometry(blockSize: 64 * 1024, blocks: 32)
        settings.core.mode = mode
        settings.readTimeoutNanoseconds = 50_000_000
        return try Capture.open([InterfaceSelection(bed.captureInterface, queues: [0, 1])], configuration: settings)
    }

    /// Stops the capture (the kernel's partial blocks retired and placed), so every
    /// handle's loop takes what is queued and returns `.finished`; waits for them.
    static func stopAndWait(_ capture: Capture, _ done: DispatchGroup) -> Bool {
        capture.stop()
        return done.wait(timeout: .now() + 30) == .success
    }

    @Test("dispatch on one thread per handle: counts equal what was sent, every frame intact, breakLoop ends the loops")
    func dispatchCounts() throws {
        let binary = try #require(LiveAPI.wirecapBinary(), "build wirecap first")
        try LiveAPI.withTestbed(queues: 2) { bed in
            let capture = try Self.open(bed, mode: .advanced)
            defer { capture.close() }
            #expect(capture.engines.count == 1 && capture.engines[0] is AFPacketEngine)
            #expect(capture.engines[0].attachDescription == "afpacket/qm")
            try capture.start()
            #expect(capture.handles.map(\.queue) == [0, 1])
            let counts = Counts()
            let done = DispatchGroup()
            for handle in capture.handles {
                done.enter()
                Thread.detachNewThread {
                    var mine = 0, udp = 0, bad = 0
                    loop: while true {
                        switch handle.dispatch(maxPackets: 100, { p in
                            mine += 1
                            let b = p.bytes
                            if b.count >= 24, b[12] == 0x08, b[13] == 0x00, b[23] == 17 { udp += 1 }
                            // The generator's frames are 64 bytes; views are whole frames.
                            if p.bytes.count != 64 || p.wireLength != 64 || p.timestamp == 0 { bad += 1 }
                        }) {
                        case .processed: continue
                        case .broken: break loop
                        case .finished: counts.broken.add(1, ordering: .relaxed); break loop
                        }
                    }
                    counts.packets.add(mine, ordering: .relaxed)
                    counts.udp.add(udp, ordering: .relaxed)
                    counts.bad.add(bad, ordering: .relaxed)
                    done.leave()
                }
            }
            let sent = try LiveAPI.generate(binary, bed, count: 30_000, rate: 50_000, share: "0.7,0.3")
            #expect(Self.stopAndWait(capture, done), "stop() ended the blocking dispatch loops once drained")
            let stats = capture.handles.map { $0.stats() }
            print("afpacket API: sent \(sent), dispatched \(counts.packets.load(ordering: .relaxed)), stats \(stats.map { ($0.received, $0.dropped, $0.queue.offloadedOut) })")
            #expect(sent == 30_000)
            #expect(counts.packets.load(ordering: .relaxed) == sent)
            #expect(counts.udp.load(ordering: .relaxed) == sent)
            #expect(counts.bad.load(ordering: .relaxed) == 0)
            #expect(stats.reduce(0) { $0 + $1.received } == UInt64(sent))
            #expect(stats.reduce(0) { $0 + $1.dropped } == 0)
            #expect(capture.handles.map { $0.stats() }.reduce(0) { $0 + $1.processed } == UInt64(sent))
            #expect(counts.broken.load(ordering: .relaxed) == 2, "both loops returned .finished")
            let ledger = capture.ledger()[0]
            #expect(ledger.total.offered == UInt64(sent) && ledger.total.delivered == UInt64(sent) && ledger.total.unexplained == 0,
                    "\(ledger.compactJSON)")
        }
    }

    @Test("loop(count:) per handle returns after exactly its share; the rest by loop until breakLoop: totals equal sent")
    func loopCounts() throws {
        let binary = try #require(LiveAPI.wirecapBinary(), "build wirecap first")
        try LiveAPI.withTestbed(queues: 2) { bed in
            let capture = try Self.open(bed, mode: .basic)
            defer { capture.close() }
            try capture.start()
            let counts = Counts()
            let done = DispatchGroup()
            for handle in capture.handles {
                done.enter()
                Thread.detachNewThread {
                    var mine = 0
                    // pcap_loop with a count: returns once 1,000 packets were processed.
                    let r = handle.loop(count: 1_000) { _ in mine += 1 }
                    if r == .completed { counts.first.add(mine, ordering: .relaxed) }
                    let again = handle.loop { _ in mine += 1 }
                    if again == .finished { counts.broken.add(1, ordering: .relaxed) }
                    counts.packets.add(mine, ordering: .relaxed)
                    done.leave()
                }
            }
            // basic mode, qm fanout, an even share: each socket gets ~10,000 ≥ 1,000.
            let sent = try LiveAPI.generate(binary, bed, count: 20_000, rate: 40_000)
            #expect(Self.stopAndWait(capture, done))
            print("afpacket API loop: sent \(sent), looped \(counts.packets.load(ordering: .relaxed)), first \(counts.first.load(ordering: .relaxed))")
            #expect(counts.first.load(ordering: .relaxed) == 2_000, "loop(count: 1000) processed exactly 1000 per handle")
            #expect(counts.packets.load(ordering: .relaxed) == sent)
            #expect(counts.broken.load(ordering: .relaxed) == 2)
        }
    }

    @Test("a bad AF_PACKET ring geometry is a usage error, before any socket")
    func badGeometry() {
        guard LiveAPI.isRoot else { return }
        var settings = CaptureSettings()
        settings.backend = .afpacket(fanout: .hash, rollover: false)
        settings.afpacketGeometry = AFPacketGeometry(blockSize: 8 << 20, blocks: 4)
        do {
            _ = try Capture.open([InterfaceSelection("lo")], configuration: settings)
            Issue.record("expected a usage error")
        } catch {
            #expect(error.kind == .usage)
        }
    }
}
