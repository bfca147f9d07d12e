import Foundation
import Testing
import WireCapCore
import WireCapTestSupport
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// Live AF_XDP tests on veth testbeds. Serialized (they share 2 cores and
/// create network namespaces); each test makes uniquely named testbeds and
/// always removes them. Skipped, with the reason shown, when not root.
@Suite("Live AF_XDP engine", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct LiveEngineTests {
    // MARK: 1. Lossless at full speed

    @Test("1. lossless: 2 queues, 1,000,000 packets at the generator's max rate, x = 0")
    func losslessAtFullSpeed() throws {
        try Live.withTestbed(queues: 2) { bed in
            // N = 16384: the kernel's window of posted frames must cover the capture
            // thread's worst scheduling delay on a 2-core box shared with the generator
            // (8192 suffices on an otherwise idle machine; 16384 leaves room for other load).
            let config = CaptureConfiguration(
                geometry: PoolGeometry(cellsPerChunk: 256, chunksPerPool: 256, fillRingSize: 16384), mode: .basic)
            let run = try Live.capture(on: bed, config, generator: Live.generator(bed, count: 1_000_000))
            let r = run.report
            let v = try #require(r.verification)
            print("test 1: sent \(run.sent.sent) at \(Int(run.sent.packetsPerSecond)) pps; captured \(r.received), drops \(r.drops)")
            #expect(run.sent.sent == 1_000_000)
            for (i, q) in r.queues.enumerated() {
                let sent = run.sent.queues[i].sent
                #expect(q.statistics.packetsReceived == UInt64(sent), "queue \(i): captured \(q.statistics.packetsReceived) of \(sent)")
                #expect(q.statistics.packetsConsumed == UInt64(sent))
                #expect(v.unique(queue: i) == sent, "queue \(i): \(v.unique(queue: i)) distinct sequence numbers of \(sent)")
                #expect(q.statistics.captureDrops == 0)
            }
            #expect(v.checksumErrors == 0)
            #expect(v.duplicates == 0)
            #expect(v.outOfOrder == 0)
            #expect(v.wrongQueue == 0)
            #expect(v.clean)
        }
    }

    // MARK: 2. Burst buffering (basic mode)

    @Test("2. burst buffering: a burst below R·M is lossless, a larger one loses exactly the counted drops")
    func burstBuffering() throws {
        try Live.withTestbed(queues: 1) { bed in
            // Pool: R·M = 256 · 64 = 16384 packets; the kernel's window N = 4096.
            let geometry = PoolGeometry(cellsPerChunk: 64, chunksPerPool: 256, fillRingSize: 4096)
            let config = CaptureConfiguration(geometry: geometry, mode: .basic)
            // A slow consumer: 30 µs per packet ≈ 33 kpps, far below the burst rate.
            let slow: UInt64 = 30_000

            let small = try Live.capture(on: bed, config, generator: Live.generator(bed, count: 12_000), packetDelayNanoseconds: slow)
            let s = small.report.queues[0].statistics
            print("test 2 small burst (12000 < R·M = 16384): sent \(small.sent.sent) at \(Int(small.sent.packetsPerSecond)) pps, captured \(s.packetsReceived), drops \(s.captureDrops)")
            #expect(small.sent.sent == 12_000)
            #expect(s.packetsReceived == 12_000)
            #expect(s.captureDrops == 0)
            #expect(small.report.verification?.clean == true)

            let large = try Live.capture(on: bed, config, generator: Live.generator(bed, count: 80_000), packetDelayNanoseconds: slow)
            let l = large.report.queues[0].statistics
            let lost = UInt64(large.sent.sent) - l.packetsReceived
            print("test 2 large burst (80000): sent \(large.sent.sent) at \(Int(large.sent.packetsPerSecond)) pps, captured \(l.packetsReceived), lost \(lost), counted drops \(l.captureDrops) (no buffer \(l.dropsNoBuffer), ring full \(l.dropsRxRingFull)), pool exhausted \(l.exhaustionEpisodes)×")
            #expect(large.sent.sent == 80_000)
            #expect(lost > 0)
            #expect(lost == l.captureDrops, "sent − captured must equal the kernel-counted drops")
            #expect(l.packetsConsumed == l.packetsReceived)
            let v = try #require(large.report.verification)
            #expect(v.duplicates == 0 && v.checksumErrors == 0)
            #expect(v.unique(queue: 0) == Int(l.packetsReceived))
        }
    }

    // MARK: 3. Offload (advanced mode)

    @Test("3. offload: 90/10 share with slow consumers loses less in advanced mode; every chunk returns to its pool")
    func offload() throws {
        try Live.withTestbed(queues: 2) { bed in
            let geometry = PoolGeometry(cellsPerChunk: 64, chunksPerPool: 64, fillRingSize: 1024)
            let slow: UInt64 = 30_000   // ≈ 33 kpps per consumer
            let traffic = Live.generator(bed, count: 60_000, rate: 100_000, share: [0.9, 0.1])

            let basic = try Live.capture(on: bed, CaptureConfiguration(geometry: geometry, mode: .basic),
                                         generator: traffic, packetDelayNanoseconds: slow)
            let advanced = try Live.capture(on: bed, CaptureConfiguration(geometry: geometry, mode: .advanced, offloadThresholdPercent: 60),
                                            generator: traffic, packetDelayNanoseconds: slow)
            let b = basic.report, a = advanced.report
            print("test 3: basic drops \(b.drops) of \(basic.sent.sent); advanced drops \(a.drops) of \(advanced.sent.sent), offloads \(a.offloads)")
            #expect(a.drops < b.drops, "advanced mode should lose less than basic mode")
            #expect(b.offloads == 0)
            #expect(a.queues[0].statistics.offloadedOut > 0)
            #expect(a.queues[1].statistics.offloadedIn > 0)
            for run in [basic, advanced] {
                let r = run.report
                #expect(UInt64(run.sent.sent) - r.received == r.drops, "sent − captured == counted drops")
                var consumed: UInt64 = 0, recycled: UInt64 = 0
                for q in r.queues {
                    let s = q.statistics
                    // Every chunk back: none captured or outstanding, all free or attached.
                    #expect(s.capturedChunks == 0, "queue \(q.deviceQueue): \(s.capturedChunks) chunks still captured")
                    #expect(s.outstandingItems == 0)
                    #expect(s.freeChunks + s.attachedChunks == UInt64(geometry.chunksPerPool))
                    #expect(s.recycleRejected == 0, "no chunk recycled twice or to the wrong pool")
                    consumed += s.itemsConsumed
                    recycled += s.recycled
                }
                #expect(consumed == recycled, "every consumed chunk was recycled exactly once")
                let v = try #require(r.verification)
                #expect(v.duplicates == 0 && v.checksumErrors == 0)
                #expect(v.origins.reduce(0) { $0 + $1.unique } == Int(r.received))
            }
        }
    }

    // MARK: 4. Partial chunks

    @Test("4. partial chunks: 10 packets with M = 256 arrive within the timeout bound")
    func partialChunks() throws {
        try Live.withTestbed(queues: 1) { bed in
            let timeout: UInt64 = 1_000_000
            let config = CaptureConfiguration(
                geometry: PoolGeometry(cellsPerChunk: 256, chunksPerPool: 16, fillRingSize: 1024),
                mode: .basic, partialTimeoutNanoseconds: timeout)
            let engine = try CaptureEngine(interface: bed.captureInterface, queues: [0], settings: Live.settings(config))
            defer { engine.close() }
            try engine.start()
            let consumer = engine.consumer(0)
            final class Seen: @unchecked Sendable { var got = 0; var worst: UInt64 = 0 }
            let seen = Seen()
            // The consumer runs before and while the generator sends.
            let reader = try SystemThread(name: "test4-consumer") {
                let deadline = Date().addingTimeInterval(10)
                while seen.got < 10, Date() < deadline {
                    guard let handle = consumer.waitChunk(timeoutNanoseconds: 100_000_000) else { continue }
                    var now = timespec()
                    clock_gettime(CLOCK_REALTIME, &now)
                    let t = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
                    consumer.withPackets(of: handle) { p in
                        seen.got += 1
                        seen.worst = max(seen.worst, t > p.timestamp ? t - p.timestamp : 0)
                    }
                    consumer.recycle(handle)
                }
            }
            let sent = try Generator.run(Live.generator(bed, count: 10), inNamespace: bed.name)
            reader.join()
            #expect(sent.sent == 10)
            let got = seen.got, worst = seen.worst
            let s = engine.statistics()[0]
            print("test 4: \(got) packets in \(s.partialSlices) partial slice(s); worst capture→consumer latency \(Double(worst) / 1e6) ms (timeout \(Double(timeout) / 1e6) ms)")
            #expect(got == 10)
            #expect(s.partialSlices >= 1)
            // Bound: the timeout, plus one capture-thread sleep and one consumer back-off
            // (each ≤ the timeout), plus scheduling slack on a loaded 2-core machine.
            #expect(worst <= 3 * timeout + 10_000_000)
        }
    }

    // MARK: 5. Teardown

    @Test("5a. teardown: after close() no XDP program stays on the interface")
    func teardownAfterClose() throws {
        try Live.withTestbed(queues: 2) { bed in
            let config = CaptureConfiguration(geometry: PoolGeometry(cellsPerChunk: 64, chunksPerPool: 16, fillRingSize: 256))
            let engine = try CaptureEngine(interface: bed.captureInterface, queues: [0, 1], settings: Live.settings(config))
            try engine.start()
            #expect(try Live.attachedProgram(bed.captureInterface) != 0)
            // A second engine on the same interface is refused with a clear message…
            #expect {
                _ = try CaptureEngine(interface: bed.captureInterface, queues: [0], settings: Live.settings(config))
            } throws: { error in
                // …naming the process that holds it (this one) and why --force cannot help.
                (error as? XDPError)?.kind == .busy && "\(error)".contains("on \(bed.captureInterface) is held by pid \(getpid()) through BPF link")
                    && "\(error)".contains("another capture is running")
            }
            _ = try Generator.run(Live.generator(bed, count: 5000), inNamespace: bed.name)
            engine.close()
            #expect(try Live.attachedProgram(bed.captureInterface) == 0)
            #expect(try Live.ipLinkShowsNoXDP(bed.captureInterface))
        }
    }

    @Test("5b. teardown: a program left behind is detected; --force replaces it and removes it at close")
    func leftoverProgramAndForce() throws {
        try Live.withTestbed(queues: 1) { bed in
            // Leave a program behind as a crashed run would (attach via ip, generic mode).
            let config = CaptureConfiguration(geometry: PoolGeometry(cellsPerChunk: 64, chunksPerPool: 16, fillRingSize: 256))
            let leftover = try XSKRedirectProgram(interface: bed.captureInterface, ifindex: if_nametoindex(bed.captureInterface), entries: 1)
            try leftover.attach(force: false, preferredMode: .generic, attachment: .netlink, quiet: true)
            let id = try Live.attachedProgram(bed.captureInterface)
            #expect(id != 0)
            #expect {
                _ = try CaptureEngine(interface: bed.captureInterface, queues: [0], settings: Live.settings(config))
            } throws: { error in
                "\(error)" == "XDP program \"wirecap_rx\" (id \(id)) is attached to \(bed.captureInterface) by netlink, left behind by a WireCap that did not exit cleanly: use --force to replace it (or `ip link set dev \(bed.captureInterface) xdp off`)"
            }
            let engine = try CaptureEngine(interface: bed.captureInterface, queues: [0], settings: Live.settings(config, force: true))
            #expect(try Live.attachedProgram(bed.captureInterface) == id, "opened: nothing attached or replaced yet")
            try engine.start()
            #expect(try Live.attachedProgram(bed.captureInterface) != id)
            engine.close()
            #expect(try Live.attachedProgram(bed.captureInterface) == 0)
            leftover.detach()
        }
    }

    @Test("5c. teardown: SIGINT to `wirecap capture` detaches, prints statistics, exits 0")
    func sigintTeardown() throws {
        let binary = try #require(Live.wirecapBinary(), "wirecap binary not found next to the tests or under .build*/")
        try Live.withTestbed(queues: 2) { bed in
            let p = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-M", "64", "-R", "64", "-N", "2048",
                                        "--duration", "60", "--json"])
            #expect(p.waitReady(), "\(p.stderr)")
            #expect(try Live.attachedProgram(bed.captureInterface) != 0)
            let sent = try Generator.run(Live.generator(bed, count: 20_000, rate: 100_000), inNamespace: bed.name)
            // No settling wait: the stop drains the rings and flushes partial chunks.
            p.signal(SIGINT)
            let (status, stdout, stderr) = p.finish()
            print("test 5c: wirecap capture after SIGINT:\n\(stdout)")
            #expect(status == 0, "stderr: \(stderr)")
            let report = try Live.report(stdout)
            #expect(report.stoppedBy == "SIGINT")
            let total = report.ledger.total
            #expect(total.offered == UInt64(sent.sent) && total.delivered == UInt64(sent.sent), "\(report.ledger.compactJSON)")
            #expect(total.unexplained == 0 && total.lost == 0 && report.ledger.isFinal)
            #expect(report.received == UInt64(sent.sent) && report.consumed == UInt64(sent.sent))
            #expect(try Live.attachedProgram(bed.captureInterface) == 0)
            #expect(try Live.ipLinkShowsNoXDP(bed.captureInterface))
        }
    }

    // MARK: 6. Bad input

    @Test("6. bad input: one clear line and a non-zero exit each")
    func badInput() throws {
        let binary = try #require(Live.wirecapBinary(), "wirecap binary not found next to the tests or under .build*/")
        try Live.withTestbed(queues: 2) { bed in
            let cap = bed.captureInterface
            let cases: [(args: [String], expect: String, status: Int32?)] = [
                (["capture", "-i", "nosuchif0", "--duration", "1"], "unknown interface nosuchif0", 2),
                (["capture", "-i", cap, "-q", "5", "--duration", "1"], "queue 5 is beyond \(cap)'s 2 rx queues", 2),
                (["capture", "-i", cap, "-M", "300", "--duration", "1"], "M (300) must divide N (16384)", 2),
                (["capture", "-i", cap, "-M", "256", "-R", "2", "-N", "16384", "--spill", "off", "--duration", "1"], "R (2) must be greater than N/M = 64", 2),
                (["capture", "-i", cap, "-N", "1000", "--duration", "1"], "N (fill ring size) must be a power of two", 2),
                (["capture", "-i", cap, "-T", "0", "--duration", "1"], "T (offload threshold) must be a percentage", 2),
                (["capture", "-i", cap, "--mode", "turbo", "--duration", "1"], "--mode must be basic or advanced", 2),
            ]
            for c in cases {
                let r = try Live.run([binary] + c.args)
                let lines = r.stderr.split(separator: "\n")
                #expect(r.status != 0, "\(c.args): exit \(r.status)")
                if let s = c.status { #expect(r.status == s, "\(c.args): exit \(r.status)") }
                #expect(lines.count == 1, "\(c.args): stderr must be one line, got:\n\(r.stderr)")
                #expect(r.stderr.contains(c.expect), "\(c.args): stderr was: \(r.stderr)")
            }
            // Not root: the same command as nobody.
            let nobody = try Live.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                       "--inh-caps=-all", binary, "capture", "-i", cap, "--duration", "1"])
            #expect(nobody.status != 0)
            #expect(nobody.stderr.split(separator: "\n").count == 1, "stderr: \(nobody.stderr)")
            #expect(nobody.stderr.contains("needs root or CAP_NET_ADMIN+CAP_NET_RAW+CAP_BPF"), "stderr: \(nobody.stderr)")
            #expect(try Live.attachedProgram(cap) == 0)
        }
    }
}
