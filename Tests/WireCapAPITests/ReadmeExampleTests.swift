#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import WireCap
import WireCapTestSupport
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

// The README example, verbatim (Sources/WireCap/WireCap.swift shows the same text):
// it must compile here, and the live suite below runs it on a veth testbed.

/// Counts the IPv4 packets that reach every rx queue of `interface` while
/// `during` runs: one thread per queue runs a pcap-style loop over zero-copy
/// packet views. Nothing received is lost at the end: `stop()` drains the rings
/// into the queues and each loop returns once its queue is empty.
func countIPv4(on interface: String, during: () throws -> Void) throws -> Int {
    var settings = CaptureSettings()                  // M, R, N, T: the defaults
    settings.core.mode = .advanced                    // buddy-group offload between the queues
    let capture = try Capture.open([InterfaceSelection(interface)], configuration: settings)
    final class Total: Sendable { let packets = Atomic<Int>(0) }
    let total = Total()
    let finished = DispatchGroup()
    for handle in capture.handles {                   // one handle per rx queue
        finished.enter()
        Thread.detachNewThread {
            var ipv4 = 0
            _ = handle.loop { packet in               // the view lives only inside the closure
                let b = packet.bytes
                if b.count >= 14, b[12] == 0x08, b[13] == 0x00 { ipv4 += 1 }
            }                                         // returns .finished once stopped and drained
            total.packets.add(ipv4, ordering: .relaxed)
            finished.leave()
        }
    }
    try capture.start()                               // returns once every queue captures
    let outcome = Result { try during() }
    capture.stop()                                    // capture ends; what was received reaches the loops
    finished.wait()
    capture.close()                                   // sockets closed, pools freed, no XDP program left
    try outcome.get()
    return total.packets.load(ordering: .relaxed)
}

/// The pcap-style API on a real engine: a veth testbed (root; CI runs as root),
/// traffic from `wirecap generate --netns`, `Capture.open` + dispatch/loop/breakLoop.
@Suite("Live pcap-style API (veth)", .serialized, .enabled(if: LiveAPI.isRoot, "needs root (XDP, network namespaces)"))
struct LiveCaptureAPITests {
    @Test("the README example counts exactly the IPv4 packets sent")
    func readmeExample() throws {
        let binary = try #require(LiveAPI.wirecapBinary(), "build wirecap first")
        try LiveAPI.withTestbed(queues: 2) { bed in
            var n = 0
            // The traffic is sent while the example captures: start() has returned, so every packet is seen.
            let counted = try countIPv4(on: bed.captureInterface) {
                n = try LiveAPI.generate(binary, bed, count: 20_000, rate: 40_000)
            }
            #expect(n == 20_000)
            #expect(counted == n, "counted \(counted) of \(n) sent")
            #expect(try XSKRedirectProgram.attachedProgramID(interface: bed.captureInterface) == 0, "close() detached the program")
        }
    }

    @Test("dispatch counts equal what was sent, stats agree, non-blocking returns at once, breakLoop ends a blocking loop promptly")
    func dispatchAndBreakLoop() throws {
        let binary = try #require(LiveAPI.wirecapBinary(), "build wirecap first")
        try LiveAPI.withTestbed(queues: 2) { bed in
            var settings = CaptureSettings()
            // The test is about the API's counts, not capacity: the fill ring holds 4,096
            // frames (≈ 120 ms of queue 0's 35 kpps), so a capture thread that a busy
            // 2-core machine (the rest of the suite) delays for a few ms loses nothing.
            // With 1,024 frames a ~30 ms delay once cost 622 no-frame drops.
            settings.core = CaptureConfiguration(
                geometry: PoolGeometry(cellsPerChunk: 64, chunksPerPool: 128, fillRingSize: 4096), mode: .advanced)
            // A read timeout far longer than the test: a dispatch that waited for it
            // instead of returning at once could not be mistaken for one that did.
            settings.readTimeoutNanoseconds = 60_000_000_000
            let capture = try Capture.open([InterfaceSelection(bed.captureInterface)], configuration: settings)
            defer { capture.close() }
            try capture.start()
            #expect(capture.handles.map(\.queue) == [0, 1])

            // Non-blocking: nothing waits, so dispatch returns .processed(0) at once.
            let h0 = capture.handles[0]
            h0.isNonBlocking = true
            let t0 = Date()
            #expect(h0.dispatch { _ in } == .processed(0))
            #expect(Date().timeIntervalSince(t0) < 30, "non-blocking dispatch waited for the 60 s read timeout")
            h0.isNonBlocking = false

            // An idle blocking loop (no traffic yet) ends promptly on breakLoop from another thread.
            let idle = capture.handles[1]
            final class Ended: Sendable { let at = Mutex<(LoopResult, Date)?>(nil) }
            let ended = Ended()
            let looper = Thread { let r = idle.loop { _ in }; ended.at.withLock { $0 = (r, Date()) } }
            looper.start()
            #expect(ended.at.withLock { $0 } == nil, "an idle blocking loop keeps waiting")
            let asked = Date()
            idle.breakLoop()
            var result: (LoopResult, Date)?
            WirecapProcess.wait(seconds: 10) { result = ended.at.withLock { $0 }; return result != nil }
            let r = try #require(result, "loop did not end after breakLoop")
            print("live API: breakLoop → loop returned \(r.0) after \(String(format: "%.1f", r.1.timeIntervalSince(asked) * 1000)) ms")
            #expect(r.0 == .broken)

            // Blocking dispatch on one thread per queue until the capture stops and drains.
            final class Counts: Sendable {
                let packets = Atomic<Int>(0), udp = Atomic<Int>(0), finished = Atomic<Int>(0), calls = Atomic<Int>(0)
            }
            let counts = Counts()
            let done = DispatchGroup()
            for handle in capture.handles {
                done.enter()
                Thread.detachNewThread {
                    var mine = 0, udp = 0
                    loop: while true {
                        counts.calls.add(1, ordering: .relaxed)
                        switch handle.dispatch(maxPackets: 100, { p in
                            mine += 1
                            let b = p.bytes
                            if b.count >= 24, b[12] == 0x08, b[13] == 0x00, b[23] == 17 { udp += 1 }
                        }) {
                        case .processed: continue
                        case .broken: break loop
                        case .finished: counts.finished.add(1, ordering: .relaxed); break loop
                        }
                    }
                    counts.packets.add(mine, ordering: .relaxed)
                    counts.udp.add(udp, ordering: .relaxed)
                    done.leave()
                }
            }
            let sent = try LiveAPI.generate(binary, bed, count: 30_000, rate: 50_000, share: "0.7,0.3")
            // stop(): the rings are drained into the queues; each loop takes the rest, then .finished.
            capture.stop()
            #expect(done.wait(timeout: .now() + 30) == .success, "the loops ended once the capture was drained")
            let stats = capture.handles.map { $0.stats() }
            print("live API: sent \(sent), dispatched \(counts.packets.load(ordering: .relaxed)), udp \(counts.udp.load(ordering: .relaxed)), calls \(counts.calls.load(ordering: .relaxed)), stats \(stats.map { ($0.received, $0.dropped, $0.queue.offloadedOut) })")
            #expect(counts.udp.load(ordering: .relaxed) == sent)
            #expect(counts.packets.load(ordering: .relaxed) == Int(stats.reduce(0) { $0 + $1.received }))
            #expect(stats.reduce(0) { $0 + $1.dropped } == 0)
            #expect(stats.reduce(0) { $0 + $1.processed } == UInt64(sent))
            #expect(counts.finished.load(ordering: .relaxed) == 2)
            let ledger = capture.ledger()[0]
            #expect(ledger.total.offered == UInt64(sent) && ledger.total.delivered == UInt64(sent) && ledger.total.unexplained == 0,
                    "\(ledger.compactJSON)")
        }
    }

    @Test("opened but not started while traffic flows: nothing captured, nothing counted as dropped, no program attached; start() then captures")
    func openedNotStarted() throws {
        let binary = try #require(LiveAPI.wirecapBinary(), "build wirecap first")
        try LiveAPI.withTestbed(queues: 2) { bed in
            let capture = try Capture.open([InterfaceSelection(bed.captureInterface)], configuration: CaptureSettings())
            defer { capture.close() }
            // About 1 s of traffic while the capture is only opened.
            let before = try LiveAPI.generate(binary, bed, count: 20_000, rate: 20_000)
            #expect(before == 20_000)
            #expect(try XSKRedirectProgram.attachedProgramID(interface: bed.captureInterface) == 0, "no program before start()")
            let ledger = capture.ledger()[0]
            #expect(ledger.total.offered == 0 && ledger.total.lost == 0 && ledger.total.unexplained == 0, "\(ledger.compactJSON)")
            #expect(capture.statistics().reduce(0) { $0 + $1.packetsReceived } == 0)
            #expect(capture.statistics().allSatisfy { $0.attachedChunks == 0 }, "no frame posted before start()")
            try capture.start()
            let sent = try LiveAPI.generate(binary, bed, count: 2_000, rate: 20_000)
            capture.stop()
            let after = capture.ledger()[0]
            #expect(after.total.offered == UInt64(sent), "\(after.compactJSON)")
        }
    }
}

/// Testbed and binary helpers of the live API tests.
enum LiveAPI {
    /// See ``LiveTestbeds`` (shared by every live test target).
    static var isRoot: Bool { LiveTestbeds.enabled }
    static func withTestbed<T>(queues: Int, _ body: (Testbed) throws -> T) throws -> T {
        try LiveTestbeds.withTestbed(queues: queues, prefix: "wa", body)
    }

    /// `wirecap generate --netns BED -i GEN --queue-count Q --json`: packets sent.
    static func generate(_ binary: String, _ bed: Testbed, count: Int, rate: Int, share: String? = nil) throws -> Int {
        var args = ["generate", "--netns", bed.name, "-i", bed.generatorInterface, "--queue-count", "\(bed.queues)",
                    "--count", "\(count)", "--rate", "\(rate)", "--json"]
        if let share { args += ["--share", share] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
              let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let queues = doc["queues"] as? [[String: Any]] else {
            throw CaptureError(.system, "wirecap generate failed (exit \(p.terminationStatus)): \(String(decoding: data, as: UTF8.self))")
        }
        return queues.compactMap { $0["sent"] as? Int }.reduce(0, +)
    }

    static func wirecapBinary() -> String? { TestTools.wirecapBinary() }
}
