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

/// The capture lifecycle and the loss ledger, end to end through the CLI on veth
/// testbeds (root): every way a capture ends and every way it loses packets must
/// leave a ledger whose identity holds exactly (unexplained = 0), a valid file
/// holding exactly the delivered packets, and no XDP program on the interface.
/// Every wait is for something the process says (readiness, a statistics
/// line), never a fixed sleep.
@Suite("Lifecycle and loss ledger (live)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct LifecycleLedgerTests {
    /// The final report's ledger, from `--json` output (the ready and stats events first, the report last).
    static func finalLedger(_ stdout: String) throws -> CaptureLedger {
        guard let start = stdout.range(of: "\n{\n") else { throw LedgerMissing(stdout: stdout) }
        let report = try JSONDecoder().decode(ReportLedger.self, from: Data(stdout[start.lowerBound...].utf8))
        return report.ledger
    }
    struct ReportLedger: Decodable { var ledger: CaptureLedger; var stoppedBy: String }
    struct LedgerMissing: Error { var stdout: String }

    static func stoppedBy(_ stdout: String) -> String? {
        guard let start = stdout.range(of: "\n{\n") else { return nil }
        return try? JSONDecoder().decode(ReportLedger.self, from: Data(stdout[start.lowerBound...].utf8)).stoppedBy
    }

    /// Every `{"event":"stats"}` ledger on stdout, oldest first.
    static func statsEvents(_ stdout: String) -> [CaptureLedger] {
        struct Event: Decodable { var event: String; var ledger: CaptureLedger? }
        return stdout.split(separator: "\n").filter { $0.hasPrefix("{\"event\":\"stats\"") }.compactMap {
            (try? JSONDecoder().decode(Event.self, from: Data($0.utf8)))?.ledger
        }
    }

    /// The newest `{"event":"stats"}` ledger on stdout, if any.
    static func latestStats(_ stdout: String) -> CaptureLedger? {
        struct Event: Decodable { var event: String; var ledger: CaptureLedger? }
        for line in stdout.split(separator: "\n").reversed() where line.hasPrefix("{\"event\":\"stats\"") {
            if let e = try? JSONDecoder().decode(Event.self, from: Data(line.utf8)) { return e.ledger }
        }
        return nil
    }

    /// `capinfos -M -c FILE`: the exact packet count, and whether capinfos read the file without error.
    static func capinfos(_ path: String) throws -> (packets: Int, clean: Bool) {
        let out = try Live.run(["/usr/bin/env", "capinfos", "-M", "-c", path])
        let line = out.stdout.split(separator: "\n").first { $0.hasPrefix("Number of packets:") } ?? ""
        let n = Int(line.split(separator: " ").last ?? "") ?? -1
        return (n, out.status == 0 && !out.stderr.contains("cut short"))
    }

    /// Every row's identity holds and nothing is abandoned.
    static func expectExact(_ l: CaptureLedger, _ context: String) {
        for row in l.queues + [l.interfaceRow] {
            #expect(row.unexplained == 0, "queue \(row.queue): unexplained \(row.unexplained) — \(context)")
            #expect(row.abandoned == 0, "queue \(row.queue): abandoned \(row.abandoned) — \(context)")
        }
        #expect(l.isFinal)
    }

    @Test("SIGINT/SIGTERM/SIGHUP while traffic flows, at three moments: ledger exact, file holds exactly the delivered packets, no program left",
          arguments: [(SIGINT, 1), (SIGTERM, 100_000), (SIGHUP, 250_000)])
    func signalDuringTraffic(signal: Int32, afterOffered: Int) throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let dir = try Live.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = dir + "/cap.pcap"
            let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "-w", file,
                                              "--json", "--stats-interval", "0.02"])
            #expect(capture.waitReady(), "ready: \(capture.stderr)")
            // 600,000 packets at 300 kpps: about 2 s of traffic; the signal comes well inside it.
            let generator = try WirecapProcess([binary, "generate", "--netns", bed.name, "-i", bed.generatorInterface,
                                                "-q", "0,1", "--count", "600000", "--rate", "300000"])
            let reached = WirecapProcess.wait(seconds: 60) {
                (Self.latestStats(capture.stdout)?.total.offered ?? 0) >= UInt64(afterOffered)
            }
            #expect(reached, "the capture saw \(afterOffered) packets")
            capture.signal(signal)
            let (status, stdout, stderr) = capture.finish()
            let gen = generator.finish()
            #expect(gen.status == 0, "\(gen.stderr)")
            #expect(status == 0, "\(stderr)")
            let ledger = try Self.finalLedger(stdout)
            print("signal \(signal) after \(afterOffered): \(ledger.compactJSON)\n\(stderr)")
            #expect(Self.stoppedBy(stdout) == Signals.name(signal))
            Self.expectExact(ledger, "signal \(signal)")
            #expect(ledger.total.offered >= UInt64(afterOffered))
            #expect(ledger.total.offered < 600_000, "the signal came while traffic still flowed")
            let info = try Self.capinfos(file)
            #expect(info.clean, "capinfos reads the file to its end")
            #expect(UInt64(info.packets) == ledger.total.delivered, "the file holds exactly the delivered packets")
            #expect(try Live.attachedProgram(bed.captureInterface) == 0)
        }
    }

    @Test("SIGKILL during traffic leaves no XDP program (BPF link); with netlink forced the next start names the leftover and --force")
    func sigkill() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            for attach in ["link", "netlink"] {
                let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1",
                                                  "--xdp-attach", attach, "--json", "--stats-interval", "0.02"])
                #expect(capture.waitReady(), "ready: \(capture.stderr)")
                let generator = try WirecapProcess([binary, "generate", "--netns", bed.name, "-i", bed.generatorInterface,
                                                    "-q", "0,1", "--count", "200000", "--rate", "200000"])
                #expect(WirecapProcess.wait(seconds: 60) { (Self.latestStats(capture.stdout)?.total.offered ?? 0) > 1_000 })
                capture.signal(SIGKILL)
                #expect(capture.finish().status == 128 + SIGKILL)
                _ = generator.finish()
                let left = try Live.attachedProgram(bed.captureInterface)
                if attach == "link" {
                    #expect(left == 0, "the kernel removed the program with the link")
                } else {
                    #expect(left != 0, "a netlink attachment outlives its process")
                    let again = try Live.run([binary, "capture", "-i", bed.captureInterface, "--duration", "0.1"])
                    #expect(again.status == 1)
                    let line = again.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(!line.contains("\n"), "one line: \(line)")
                    #expect(line.contains("id \(left)") && line.contains("left behind") && line.contains("--force"), "\(line)")
                    let forced = try Live.run([binary, "capture", "-i", bed.captureInterface, "--force", "--duration", "0.1"])
                    #expect(forced.status == 0, "\(forced.stderr)")
                    #expect(try Live.attachedProgram(bed.captureInterface) == 0, "--force replaced it, and the exit removed ours")
                }
            }
        }
    }

    @Test("promiscuous mode is on while capturing (both backends), off again after a clean stop and after SIGKILL; -p leaves it off")
    func promiscuousMode() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let interface = bed.captureInterface
            #expect(PromiscuousMode.isOn(interface) == false, "the testbed starts without promiscuous mode")
            for (backend, stop) in [("xdp", SIGINT), ("xdp", SIGKILL), ("afpacket", SIGINT), ("afpacket", SIGKILL)] {
                let capture = try WirecapProcess([binary, "capture", "-i", interface, "--backend", backend, "--json",
                                                  "--stats-interval", "0"])
                #expect(capture.waitReady(), "ready: \(capture.stderr)")
                #expect(PromiscuousMode.isOn(interface) == true, "\(backend): promiscuous while capturing")
                capture.signal(stop)
                _ = capture.finish()
                #expect(PromiscuousMode.isOn(interface) == false, "\(backend), signal \(stop): restored")
            }
            let plain = try WirecapProcess([binary, "capture", "-i", interface, "-p", "--json", "--stats-interval", "0"])
            #expect(plain.waitReady(), "ready: \(plain.stderr)")
            #expect(PromiscuousMode.isOn(interface) == false, "-p: left off")
            plain.signal(SIGINT)
            #expect(plain.finish().status == 0)
        }
    }

    @Test("a 1 MiB filesystem as -w target: one error line, writer drops counted, no 'no packets lost', exit 1, file readable to where it stopped")
    func fullDisk() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let dir = try Live.temporaryDirectory()
            defer { _ = try? Live.run(["/usr/bin/umount", dir]); try? FileManager.default.removeItem(atPath: dir) }
            #expect(try Live.run(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]).status == 0)
            let file = dir + "/full.pcap"
            let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "-w", file,
                                              "--json", "--stats-interval", "0", "--idle-exit", "1"])
            #expect(capture.waitReady())
            let sent = try Generator.run(Live.generator(bed, count: 50_000, rate: 100_000), inNamespace: bed.name)
            let (status, stdout, stderr) = capture.finish()
            let ledger = try Self.finalLedger(stdout)
            print("full disk: \(ledger.compactJSON)\n\(stderr)")
            #expect(status == 1)
            let errors = stderr.split(separator: "\n").filter { $0.contains("error:") }
            #expect(errors.count == 1 && errors[0].contains("No space left on device"), "\(stderr)")
            #expect(!stdout.contains("no packets lost"))
            Self.expectExact(ledger, "full disk")
            #expect(ledger.total.offered == UInt64(sent.sent))
            #expect(ledger.total.writer > 0)
            #expect(!ledger.isLossless)
            let info = try Self.capinfos(file)
            #expect(info.clean, "the file ends on a record boundary")
            #expect(UInt64(info.packets) == ledger.total.delivered)
        }
    }

    @Test("a consumer stalled on purpose: pool-exhausted drops counted live (statistics events) and in the final report")
    func stalledConsumer() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "-R", "12",
                                              "-N", "2048", "--consumer-delay", "20000", "--json", "--stats-interval", "0.05",
                                              "--idle-exit", "1"])
            #expect(capture.waitReady())
            let sent = try Generator.run(Live.generator(bed, count: 200_000, rate: 200_000), inNamespace: bed.name)
            let (status, stdout, _) = capture.finish()
            #expect(status == 0)
            let ledger = try Self.finalLedger(stdout)
            print("stalled consumer: \(ledger.compactJSON)")
            Self.expectExact(ledger, "stalled consumer")
            #expect(ledger.total.offered == UInt64(sent.sent))
            #expect(ledger.total.poolExhausted > 0)
            #expect(!stdout.contains("no packets lost"))
            let live = Self.statsEvents(stdout)
            #expect(live.contains { !$0.isFinal && $0.total.poolExhausted > 0 },
                    "a live statistics event already shows pool-exhausted drops")
        }
    }

    @Test("an overloaded veth (generator at its maximum, a small pool without spill, busy consumers): every loss has a cause, nothing is unexplained, offered = sent")
    func overloaded() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "-R", "70",
                                              "-N", "4096", "--spill", "off", "--consumer-cost", "30", "--cpus", "0", "--consumer-cpus", "0",
                                              "--json", "--stats-interval", "0", "--idle-exit", "1"])
            #expect(capture.waitReady())
            let sent = try Generator.run(Live.generator(bed, count: 1_000_000), inNamespace: bed.name)
            let (status, stdout, _) = capture.finish()
            #expect(status == 0)
            let ledger = try Self.finalLedger(stdout)
            print("overloaded: sent \(sent.sent) in \(sent.seconds) s: \(ledger.compactJSON)")
            Self.expectExact(ledger, "overloaded")
            #expect(ledger.total.offered == UInt64(sent.sent), "every packet the generator sent is in the ledger")
            #expect(ledger.total.lost > 0, "the overload really lost packets")
            #expect(ledger.total.delivered + ledger.total.lost == UInt64(sent.sent))
        }
    }
}
