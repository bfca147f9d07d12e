import Foundation
import Testing
import WireCapCore
import WireCapTrace
import WireCapTestSupport
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// Replay → capture → write → tshark/capinfos, end to end on veth testbeds (root).
@Suite(.serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct OutputReplayTests {
    static let tools = ["/usr/bin/tshark", "/usr/bin/capinfos"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

    static func temporary(_ name: String) -> String { "/tmp/wirecap-io-\(getpid())-\(name)" }

    /// A seeded many-flow trace written to a pcap.
    static func trace(_ name: String, packets: Int, rate: Double) throws -> String {
        let path = temporary(name)
        var t = SyntheticTrace.flows(packets: packets, flows: 40, packetsPerSecond: rate, seed: 11)
        t.startNanoseconds = 1_700_000_000_000_000_000
        try t.writePcap(path: path)
        return path
    }

    /// `capinfos -c -M` packet count of a file (nil when capinfos rejects it).
    static func capinfosCount(_ path: String) throws -> Int? {
        let out = try Live.run(["/usr/bin/capinfos", "-c", "-M", path])
        guard out.status == 0, let line = out.stdout.split(separator: "\n").first(where: { $0.contains("Number of packets") }) else { return nil }
        return Int(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
    }

    /// The frames a Toeplitz-steered replay of `path` sends on each of `queues` queues, in order.
    static func replayedFrames(_ path: String, queues: Int) throws -> [[[UInt8]]] {
        let trace = try ReplayTrace(path: path, queueCount: queues, steering: .toeplitz(key: ToeplitzHasher.microsoftKey))
        var out = [[[UInt8]]](repeating: [], count: queues)
        while let frame = try trace.next() { out[frame.queue].append(frame.bytes) }
        return out
    }

    /// Frames of a file in file order, read by the pure-Swift reader.
    static func frames(_ path: String) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try TraceReader.forEachPacket(path: path) { out.append(Array($0.data)) }
        return out
    }

    @Test(.enabled(if: tools, "needs tshark and capinfos (scripts/bootstrap)"))
    func replayCaptureMergedPcapngMatchesTrace() throws {
        let input = try Self.trace("merged-in.pcap", packets: 3000, rate: 20_000)
        let output = Self.temporary("merged-out.pcapng")
        defer { unlink(input); unlink(output) }
        try Live.withTestbed(queues: 2) { bed in
            let replay = try ReplayTrace(path: input, queueCount: 2, steering: .toeplitz(key: ToeplitzHasher.microsoftKey))
            let engine = try CaptureEngine(interface: bed.captureInterface, queues: [0, 1],
                                           settings: Live.settings(CaptureConfiguration()))
            var o = CaptureOutput(path: output)
            o.format = .pcapng
            let writer = try CaptureWriter(output: o, engine: engine)
            let session = CaptureSession(engine: engine, writer: writer)
            try session.start()
            let sent: ReplayResult
            do { sent = try Replayer.run(replay, ReplayConfiguration(interface: bed.generatorInterface, queues: [0, 1]),
                                         inNamespace: bed.name) } catch { _ = session.stop(); throw error }
            let report = session.run(until: StopCondition(duration: 60, idle: 0.5))
            let pacing = try #require(sent.pacing)
            print(String(format: "replay pacing error at speed 1.0: mean |e| %.1f µs, median %.1f µs, p99 %.1f µs, max %.1f µs (%d packets)",
                         pacing.meanAbsolute / 1e3, pacing.median / 1e3, pacing.p99 / 1e3, pacing.maximum / 1e3, pacing.packets))
            #expect(sent.sent == 3000)
            // Both queues used, as the Toeplitz hash steered them.
            let replayed = try Self.replayedFrames(input, queues: 2)
            for q in 0..<2 { #expect(sent.queues[q].sent == replayed[q].count) }
            #expect(report.output?.packets == 3000)
            #expect(try Self.capinfosCount(output) == 3000)
            // Per queue (pcapng interface id): timestamps monotonic, and the frames are
            // exactly the ones replayed on that queue, in order.
            let fields = try Live.run(["/usr/bin/tshark", "-r", output, "-T", "fields", "-e", "frame.interface_id", "-e", "frame.time_epoch"])
            #expect(fields.status == 0)
            let rows = fields.stdout.split(separator: "\n").map { $0.split(separator: "\t") }
            #expect(rows.count == 3000)
            let written = try Self.frames(output)
            var last = [Decimal](repeating: 0, count: 2)
            var perQueue = [[[UInt8]]](repeating: [], count: 2)
            for (k, row) in rows.enumerated() {
                let q = Int(row[0])!
                let t = Decimal(string: String(row[1]))!
                #expect(t >= last[q], "queue \(q) timestamp went back at frame \(k)")
                last[q] = t
                perQueue[q].append(written[k])
            }
            for q in 0..<2 {
                #expect(perQueue[q] == replayed[q], "queue \(q): written frames differ from the replayed ones")
            }
        }
    }

    @Test(.enabled(if: tools, "needs tshark and capinfos (scripts/bootstrap)"))
    func sigintLeavesCompleteRotatedPerQueueFiles() throws {
        let binary = try #require(Live.wirecapBinary(), "build the wirecap executable first")
        let input = try Self.trace("rotate-in.pcap", packets: 8000, rate: 40_000)
        let base = Self.temporary("rot.pcap")
        defer {
            unlink(input)
            for q in 0..<2 { for k in 0..<20 { unlink(RotationPolicy(maximumBytes: 1).path(base: "\(Self.temporary("rot")).q\(q).pcap", index: k)) } }
        }
        try Live.withTestbed(queues: 2) { bed in
            let p = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-w", base, "--per-queue-files", "-C", "1"])
            #expect(p.waitReady(), "\(p.stderr)")
            let sent = try Live.run([binary, "replay", "-r", input, "-i", bed.generatorInterface, "--netns", bed.name])
            #expect(sent.status == 0, "\(sent.stderr)")
            // No settling wait: the stop drains the rings and flushes partial chunks into the files.
            p.signal(SIGINT)
            let (status, logText, _) = p.finish()
            #expect(status == 0)
            var total = 0
            for q in 0..<2 {
                var files = 0
                for k in 0..<20 {
                    let path = RotationPolicy(maximumBytes: 1).path(base: "\(Self.temporary("rot")).q\(q).pcap", index: k)
                    guard FileManager.default.fileExists(atPath: path) else { break }
                    files += 1
                    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
                    #expect(size <= 1_000_000, "\(path) has \(size) bytes over -C 1")
                    let n = try #require(try Self.capinfosCount(path), "capinfos rejects \(path)")
                    total += n
                }
                #expect(files >= 2, "queue \(q): no rotation")
            }
            #expect(total == 8000, "capture said: \(logText) replay said: \(sent.stdout)")
        }
    }

    /// Replay streams its input: 180 MB of trace through a pipe into a replay
    /// limited to 128 MiB of data (its UMEMs and thread stacks count too) (loading it whole, as before, died at the
    /// allocation), every packet sent and captured; `--loop 2` from a pipe is
    /// refused before anything is sent.
    @Test func replayStreamsAPipeLargerThanItsMemoryLimit() throws {
        let binary = try #require(Live.wirecapBinary(), "build the wirecap executable first")
        let packets = 280_000
        let input = try Self.trace("stream-in.pcap", packets: packets, rate: 50_000)
        defer { unlink(input) }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: input)[.size] as? Int)
        let limit = 128 << 20
        #expect(size > limit + (limit >> 2), "the trace must be larger than the limit: \(size) bytes")
        try Live.withTestbed(queues: 2) { bed in
            let c = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-c", "\(packets)"])
            #expect(c.waitReady(), "\(c.stderr)")
            let replay = "cat '\(input)' | prlimit --data=\(limit) -- '\(binary)' replay -r /dev/stdin -i \(bed.generatorInterface) --netns \(bed.name)"
            let sent = try Live.run(["/bin/sh", "-c", replay])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(sent.stdout.contains("total: sent \(packets) of \(packets) packets"), "\(sent.stdout)")
            let captured = c.finish()
            #expect(captured.status == 0 && captured.stdout.contains("no packets lost"), "\(captured.stdout)\(captured.stderr)")
            let looped = try Live.run(["/bin/sh", "-c", replay + " --loop 2"])
            #expect(looped.status == 2 && looped.stderr.contains("not a pipe"), "exit \(looped.status): \(looped.stderr)")
            #expect(!looped.stdout.contains("sent"), "nothing is sent before the refusal")
        }
    }

    @Test(.enabled(if: tools, "needs tshark and capinfos (scripts/bootstrap)"))
    func countFilterAndDurationGiveCompleteFiles() throws {
        let binary = try #require(Live.wirecapBinary(), "build the wirecap executable first")
        let input = try Self.trace("count-in.pcap", packets: 4000, rate: 40_000)
        let counted = Self.temporary("count.pcap"), timed = Self.temporary("timed.pcapng")
        defer { unlink(input); unlink(counted); unlink(timed) }
        try Live.withTestbed(queues: 2) { bed in
            // -c 500 with a filter: exactly 500 packets, all UDP, in one merged file.
            let c = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-w", counted, "-c", "500", "-s", "200", "udp"])
            #expect(c.waitReady(), "\(c.stderr)")
            let sent = try Live.run([binary, "replay", "-r", input, "-i", bed.generatorInterface, "--netns", bed.name])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(c.finish().status == 0)
            #expect(try Self.capinfosCount(counted) == 500)
            let nonUDP = try Live.run(["/usr/bin/tshark", "-r", counted, "-Y", "not udp"])
            #expect(nonUDP.status == 0 && nonUDP.stdout.isEmpty)
            #expect(try Self.frames(counted).allSatisfy { $0.count <= 200 })   // -s 200
            // Then, on the same interface after the first detached: --duration with pcapng and --sample 2.
            let t = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-w", timed, "--format", "pcapng",
                                        "--duration", "3", "--sample", "2"])
            #expect(t.waitReady(), "\(t.stderr)")
            let again = try Live.run([binary, "replay", "-r", input, "-i", bed.generatorInterface, "--netns", bed.name, "--speed", "max"])
            #expect(again.status == 0)
            #expect(t.finish().status == 0)
            // --sample 2 per consumer: the first of every two packets of each queue.
            let expected = try Self.replayedFrames(input, queues: 2).map { ($0.count + 1) / 2 }.reduce(0, +)
            #expect(try Self.capinfosCount(timed) == expected)
        }
    }

    /// A writer that cannot write (a FIFO nobody reads yet) costs delivery drops,
    /// counted, while capture goes on losing nothing; once the "disk" drains, the
    /// file holds exactly the packets not dropped.
    @Test func aStalledDiskCostsDeliveryDropsNotCapture() throws {
        let fifo = Self.temporary("stall.fifo")
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let readFD = open(fifo, O_RDONLY | O_NONBLOCK)   // a reader exists, so the writer's open does not block
        #expect(readFD >= 0)
        try Live.withTestbed(queues: 2) { bed in
            let engine = try CaptureEngine(interface: bed.captureInterface, queues: [0, 1],
                                           settings: Live.settings(CaptureConfiguration()))
            var o = CaptureOutput(path: fifo)
            o.queueCapacity = 4
            let writer = try CaptureWriter(output: o, engine: engine)
            let session = CaptureSession(engine: engine, writer: writer)
            try session.start()
            let sent = try Generator.run(Live.generator(bed, count: 20_000, rate: 100_000), inNamespace: bed.name)
            // Wait until everything sent was received (capture keeps going while the writer is stuck).
            var stats = engine.statistics()
            WirecapProcess.wait(seconds: 20) {
                stats = engine.statistics()
                return stats.reduce(0, { $0 + $1.packetsReceived }) >= UInt64(sent.sent)
                    && stats.reduce(0, { $0 + $1.packetsConsumed }) >= UInt64(sent.sent)
            }
            #expect(stats.reduce(0) { $0 + $1.packetsReceived } == UInt64(sent.sent))
            #expect(stats.reduce(0) { $0 + $1.captureDrops } == 0)
            #expect(stats.reduce(0) { $0 + $1.deliveryDrops } > 0)
            // Now the disk drains: read the FIFO to its end on another thread.
            _ = fcntl(readFD, F_SETFL, 0)
            final class Sink: @unchecked Sendable { var bytes: [UInt8] = [] }
            let sink = Sink()
            let drainer = Thread {
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    sink.bytes += buffer[0..<n]
                }
                close(readFD)
            }
            drainer.start()
            let report = session.stop()
            #expect(WirecapProcess.wait(seconds: 30) { drainer.isFinished }, "the FIFO drained to its end")
            let output = try #require(report.output)
            let dropped = report.queues.reduce(0) { $0 + Int($1.statistics.deliveryDrops) }
            #expect(output.packets + dropped == sent.sent)
            var parsed = 0
            _ = try sink.bytes.withUnsafeBytes { raw in try TraceReader.forEachPacket(in: raw, file: fifo) { _ in parsed += 1 } }
            #expect(parsed == output.packets)
            print("stalled writer: \(dropped) delivery drops, \(output.packets) written, 0 capture drops")
        }
    }

    /// A live capture with a filter writes exactly what tcpdump selects from the
    /// replayed trace and counts the rest as filtered out.
    @Test(.enabled(if: tools, "needs tshark and capinfos (scripts/bootstrap)"))
    func liveFilterMatchesTcpdumpOnTheReplayedTrace() throws {
        let binary = try #require(Live.wirecapBinary(), "build the wirecap executable first")
        let input = try Self.trace("filter-in.pcap", packets: 3000, rate: 30_000)
        let output = Self.temporary("filter-out.pcap")
        defer { unlink(input); unlink(output) }
        let expression = "udp and not port 53 or tcp[tcpflags] & tcp-ack != 0"
        let expected = try Live.run(["/usr/bin/env", "tcpdump", "-nn", "-r", input, expression]).stdout
            .split(separator: "\n").count
        try Live.withTestbed(queues: 2) { bed in
            let p = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-w", output, "--idle-exit", "1", "--json", expression])
            #expect(p.waitReady(), "\(p.stderr)")
            let sent = try Live.run([binary, "replay", "-r", input, "-i", bed.generatorInterface, "--netns", bed.name])
            #expect(sent.status == 0, "\(sent.stderr)")
            let (status, stdout, _) = p.finish()
            #expect(status == 0)
            let report = try Live.report(stdout)
            // The filter runs in the XDP program: rejected packets are never received.
            #expect(report.ledger.total.offered == 3000)
            #expect(report.received + report.ledger.total.filteredInKernel == 3000)
            #expect(report.ledger.total.filteredInKernel == UInt64(3000 - expected))
            #expect(report.filteredOut == 3000 - expected)
            #expect(report.output?.packets == expected)
            #expect(try Self.capinfosCount(output) == expected)
        }
    }
}
