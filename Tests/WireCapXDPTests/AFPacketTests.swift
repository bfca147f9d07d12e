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

/// Live tests of the AF_PACKET TPACKET_V3 backend on veth testbeds. Serialized
/// (2 shared cores, network namespaces); every testbed is uniquely named and
/// always removed. Skipped, with the reason shown, when not root.
@Suite("Live AF_PACKET backend", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct AFPacketTests {
    /// Quiet AF_PACKET settings: `configuration` for mode, T and timeout, and the ring shape.
    static func settings(_ configuration: CaptureConfiguration, blocks: Int = 64, blockKiB: Int = 256,
                         fanout: FanoutMode = .qm) -> EngineSettings {
        var s = Live.settings(configuration)
        s.backend = .afpacket(fanout: fanout, rollover: false)
        s.afpacketGeometry = AFPacketGeometry(blockSize: blockKiB * 1024, blocks: blocks)
        return s
    }

    /// An AF_PACKET engine with a verifying session on the testbed, `generator` sent
    /// from the namespace, stopped once drained.
    static func capture(on bed: Testbed, _ settings: EngineSettings,
                        generator: GeneratorConfiguration, packetDelayNanoseconds: UInt64 = 0) throws -> Live.Run {
        let engine = try AFPacketEngine(interface: bed.captureInterface, sockets: bed.queues, settings: settings)
        let session = CaptureSession(engine: engine, verify: true, packetDelayNanoseconds: packetDelayNanoseconds)
        try session.start()
        let sent: GeneratorResult
        do { sent = try Generator.run(generator, inNamespace: bed.name) } catch {
            _ = session.stop()
            throw error
        }
        let report = session.run(until: StopCondition(duration: 60, idle: 0.3))
        return Live.Run(report: report, sent: sent)
    }

    // MARK: 1. Lossless through the CLI

    @Test("1. `capture --backend afpacket --verify`: 2 fanout sockets, 300,000 packets at 100 kpps, lossless and in order")
    func losslessCLI() throws {
        let binary = try #require(Live.wirecapBinary(), "wirecap binary not built")
        try Live.withTestbed(queues: 2) { bed in
            let p = try WirecapProcess([binary, "capture", "--backend", "afpacket", "--fanout", "qm", "-i", bed.captureInterface,
                                        "-q", "2", "--verify", "--idle-exit", "0.5", "--duration", "60", "--stats-interval", "0", "--json"])
            #expect(p.waitReady(), "every socket receives: \(p.stderr)")
            let sent = try Generator.run(Live.generator(bed, count: 300_000, rate: 100_000), inNamespace: bed.name)
            let (status, stdout, stderr) = p.finish()
            #expect(status == 0, "exit \(status): \(stderr)")
            let report = try Live.report(stdout)
            print("afpacket test 1: sent \(sent.sent), received \(report.received), drops \(report.drops), stopped by \(report.stoppedBy)")
            #expect(report.attachMode == "afpacket/qm")
            #expect(report.received == UInt64(sent.sent))
            #expect(report.consumed == report.received)
            #expect(report.drops == 0)
            let v = try #require(report.verification)
            #expect(v.clean, "verification: \(v)")
            #expect(v.origins.reduce(0) { $0 + $1.unique } == sent.sent)
            for q in report.queues {
                #expect(q.statistics.recycleRejected == 0)
                #expect(q.statistics.outstandingItems == 0, "every block back with the kernel")
            }
        }
    }

    // MARK: 2. Offload between consumers

    @Test("2. advanced mode, 90/10 share, slow consumers: blocks are offloaded between consumers and all come back")
    func offload() throws {
        try Live.withTestbed(queues: 2) { bed in
            let slow: UInt64 = 30_000   // ≈ 33 kpps per consumer
            let traffic = Live.generator(bed, count: 60_000, rate: 100_000, share: [0.9, 0.1])
            let geometry = PoolGeometry.default   // replaced by the ring's; mode, T and timeout count
            let basic = try Self.capture(on: bed, Self.settings(CaptureConfiguration(geometry: geometry, mode: .basic),
                                                                blocks: 16, blockKiB: 16),
                                         generator: traffic, packetDelayNanoseconds: slow)
            let advanced = try Self.capture(on: bed, Self.settings(CaptureConfiguration(geometry: geometry, mode: .advanced,
                                                                                        offloadThresholdPercent: 60),
                                                                   blocks: 16, blockKiB: 16),
                                            generator: traffic, packetDelayNanoseconds: slow)
            let b = basic.report, a = advanced.report
            print("afpacket test 2: basic drops \(b.drops) of \(basic.sent.sent); advanced drops \(a.drops) of \(advanced.sent.sent), offloads \(a.offloads)")
            #expect(b.offloads == 0)
            #expect(a.queues[0].statistics.offloadedOut > 0)
            #expect(a.queues[1].statistics.offloadedIn > 0)
            #expect(a.drops < b.drops, "advanced mode should lose less than basic mode")
            for run in [basic, advanced] {
                let r = run.report
                var consumed: UInt64 = 0, recycled: UInt64 = 0
                for q in r.queues {
                    let s = q.statistics
                    #expect(s.capturedChunks == 0 && s.outstandingItems == 0, "socket \(q.deviceQueue): blocks still out")
                    #expect(s.attachedChunks == 16)
                    #expect(s.recycleRejected == 0)
                    consumed += s.itemsConsumed
                    recycled += s.recycled
                }
                #expect(consumed == recycled, "every consumed block recycled exactly once")
                #expect(r.consumed == r.received)
                #expect(UInt64(run.sent.sent) - r.received == r.drops, "sent − captured == counted drops (tp_drops)")
                let v = try #require(r.verification)
                #expect(v.duplicates == 0 && v.checksumErrors == 0)
                #expect(v.origins.reduce(0) { $0 + $1.unique } == Int(r.received))
            }
        }
    }

    // MARK: 3. Recycle validation

    @Test("3. a duplicate, stale or out-of-range recycle is rejected and counted; the block still comes back")
    func rejectedRecycles() throws {
        try Live.withTestbed(queues: 2) { bed in
            let engine = try AFPacketEngine(interface: bed.captureInterface, sockets: 2,
                                            settings: Self.settings(CaptureConfiguration(geometry: .default, mode: .basic),
                                                                    blocks: 8, blockKiB: 64))
            defer { engine.close() }
            try engine.start()
            _ = try Generator.run(Live.generator(bed, count: 2_000, rate: 200_000), inNamespace: bed.name)
            let consumer = engine.consumer(0), other = engine.consumer(1)
            let arrived = consumer.waitChunk(timeoutNanoseconds: 2_000_000_000)
            let handle = try #require(arrived, "no block arrived")
            var packets = 0
            consumer.withPackets(of: handle) { p in
                packets += 1
                #expect(p.originQueue == 0 && p.queue == 0)
                #expect(p.capturedLength == 64 && p.wireLength == 64)
            }
            #expect(packets == Int(handle.count))
            // While the block is out: a stale generation and a block beyond the ring.
            consumer.recycle(ChunkHandle(queue: handle.queue, chunk: handle.chunk, generation: handle.generation &+ 7,
                                         start: 0, count: handle.count, group: handle.group))
            consumer.recycle(ChunkHandle(queue: handle.queue, chunk: 1_000, generation: handle.generation, start: 0, count: 1,
                                         group: handle.group))
            consumer.recycle(handle)       // accepted
            consumer.recycle(handle)       // duplicate
            // Everything else back, so the ring ends empty of user blocks.
            while let h = consumer.waitChunk(timeoutNanoseconds: 100_000_000) { consumer.recycle(h) }
            while let h = other.waitChunk(timeoutNanoseconds: 100_000_000) { other.recycle(h) }
            var s = engine.statistics()
            WirecapProcess.wait(seconds: 5) {
                s = engine.statistics()
                return s[0].recycleRejected >= 3 && !s.contains { $0.outstandingItems > 0 }
                    && s.reduce(0) { $0 + $1.packetsReceived + $1.captureDrops } >= 2_000
            }
            print("afpacket test 3: rejected \(s.map(\.recycleRejected)), recycled \(s.map(\.recycled)), received \(s.map(\.packetsReceived)), drops \(s.map(\.dropsNoBuffer)), freezes \(s.map(\.fillRingEmptyEvents))")
            #expect(s[0].recycleRejected == 3)
            #expect(s[1].recycleRejected == 0)
            #expect(s.allSatisfy { $0.outstandingItems == 0 }, "every block returned: \(s.map(\.outstandingItems))")
            // Nobody consumed while the generator ran: 8 small blocks fill up and the
            // rest is dropped by the kernel, counted (PACKET_STATISTICS tp_drops).
            #expect(s.reduce(0) { $0 + $1.packetsReceived + $1.captureDrops } == 2_000, "received + counted drops == sent")
        }
    }
}

/// Pure checks of the AF_PACKET backend's configuration (no root).
@Suite("AF_PACKET backend: configuration")
struct AFPacketConfigurationTests {
    @Test("ring geometry: power-of-two blocks of at least a page, at least 2 blocks")
    func geometry() {
        #expect(throws: Never.self) { try AFPacketGeometry.default.validate() }
        for bad in [AFPacketGeometry(blockSize: 2048, blocks: 8), AFPacketGeometry(blockSize: 12288, blocks: 8),
                    AFPacketGeometry(blockSize: 4096, blocks: 1)] {
            #expect(throws: XDPError.self) { try bad.validate() }
        }
        #expect(AFPacketGeometry(blockSize: 65536, blocks: 4).maxPacketsPerBlock == 1024)
    }

    @Test("pool geometry: M = N = packets per block (a valid pool shape for every valid ring), R = blocks; blocks > 4 MiB refused")
    func poolGeometry() throws {
        for kib in [4, 16, 256, 4096] {
            for blocks in [2, 64, 1024] {
                let g = AFPacketGeometry(blockSize: kib * 1024, blocks: blocks)
                try g.validate()
                let p = g.poolGeometry
                #expect(p.cellsPerChunk == g.maxPacketsPerBlock && p.fillRingSize == p.cellsPerChunk && p.chunksPerPool == blocks)
                #expect(throws: Never.self) { try p.validate() }
            }
        }
        #expect(throws: XDPError.self) { try AFPacketGeometry(blockSize: 8 << 20, blocks: 4).validate() }
    }

    @Test("fanout modes by name: hash, cpu, lb, qm")
    func fanoutModes() {
        #expect(FanoutMode.allCases.map(\.rawValue) == ["hash", "cpu", "lb", "qm"])
        #expect(FanoutMode(rawValue: "rollover") == nil)
    }

    @Test("opening a missing interface is a usage error, before any socket exists")
    func missingInterface() {
        guard geteuid() == 0 else { return }
        do {
            _ = try AFPacketEngine(interface: "wcnosuch0", sockets: 2, settings: AFPacketTests.settings(CaptureConfiguration(geometry: .default)))
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .usage)
        }
    }
}
