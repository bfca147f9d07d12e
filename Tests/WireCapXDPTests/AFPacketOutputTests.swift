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

/// The AF_PACKET backend through the same writer and analyzer as AF_XDP, end to
/// end on veth testbeds (root): `capture --backend afpacket -w` checked with
/// capinfos/tshark and frame by frame against the replayed trace, and
/// `analyze --backend afpacket` live. Serialized; testbeds uniquely named and removed.
@Suite("AF_PACKET: capture writer and analyzer (live)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct AFPacketOutputTests {
    static let tools = ["/usr/bin/tshark", "/usr/bin/capinfos"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

    static func temporary(_ name: String) -> String { "/tmp/wirecap-afp-\(getpid())-\(name)" }

    /// Frames sorted bytewise (the merged file interleaves sockets by kernel timestamp).
    static func sorted(_ frames: [[UInt8]]) -> [[UInt8]] { frames.sorted { $0.lexicographicallyPrecedes($1) } }

    /// Runs `wirecap capture --backend afpacket … -w output` on the testbed while
    /// `wirecap replay` sends `input` from the namespace; returns the JSON report.
    static func captureToFile(_ binary: String, _ bed: Testbed, input: String, extra: [String]) throws -> CaptureReport {
        let p = try WirecapProcess([binary, "capture", "--backend", "afpacket", "--fanout", "qm", "-i", bed.captureInterface,
                                    "-q", "2", "--blocks", "32", "--block-size", "64",
                                    "--idle-exit", "0.5", "--duration", "60", "--stats-interval", "0", "--json"] + extra)
        #expect(p.waitReady(), "sockets in the fanout group: \(p.stderr)")
        let sent = try Live.run([binary, "replay", "-r", input, "-i", bed.generatorInterface, "--netns", bed.name])
        #expect(sent.status == 0, "\(sent.stderr)")
        let (status, stdout, stderr) = p.finish()
        #expect(status == 0, "exit \(status): \(stderr)")
        return try Live.report(stdout)
    }

    @Test("`capture --backend afpacket -w FILE`: capinfos/tshark count = packets sent, frames byte-identical to the trace",
          .enabled(if: tools, "needs tshark and capinfos (scripts/bootstrap)"))
    func writeMergedPcap() throws {
        let binary = try #require(Live.wirecapBinary(), "build the wirecap executable first")
        let input = try OutputReplayTests.trace("afp-in.pcap", packets: 5000, rate: 25_000)
        let output = Self.temporary("merged.pcap")
        defer { unlink(input); unlink(output) }
        try Live.withTestbed(queues: 2) { bed in
            let report = try Self.captureToFile(binary, bed, input: input, extra: ["-w", output])
            let written = try #require(report.output)
            print("afpacket -w: received \(report.received), drops \(report.drops), wrote \(written.packets) packets \(written.bytes) bytes, late \(written.late)")
            #expect(report.attachMode == "afpacket/qm")
            #expect(report.received == 5000)
            #expect(report.drops == 0)
            #expect(written.packets == 5000)
            #expect(written.failed == 0 && written.error == nil)
            #expect(try OutputReplayTests.capinfosCount(output) == 5000)
            let tshark = try Live.run(["/usr/bin/tshark", "-r", output, "-T", "fields", "-e", "frame.len"])
            #expect(tshark.status == 0)
            let lengths = tshark.stdout.split(separator: "\n").compactMap { Int($0) }
            let expected = try OutputReplayTests.frames(input)
            #expect(lengths.count == 5000)
            #expect(lengths.reduce(0, +) == expected.reduce(0) { $0 + $1.count }, "bytes of frames written = bytes sent")
            let frames = try OutputReplayTests.frames(output)
            let same = Self.sorted(frames) == Self.sorted(expected)   // a Bool: never print 5000 frames
            #expect(same, "written frames differ from the replayed ones")
            for q in report.queues { #expect(q.statistics.outstandingItems == 0 && q.statistics.recycleRejected == 0) }
        }
    }

    @Test("`capture --backend afpacket -w --per-queue-files --format pcapng` with a filter: per-socket files hold exactly the kept packets",
          .enabled(if: tools, "needs tshark and capinfos (scripts/bootstrap)"))
    func writePerQueuePcapngFiltered() throws {
        let binary = try #require(Live.wirecapBinary(), "build the wirecap executable first")
        let input = try OutputReplayTests.trace("afp-pq-in.pcap", packets: 4000, rate: 25_000)
        let base = Self.temporary("pq.pcapng")
        let files = (0..<2).map { Self.temporary("pq.q\($0).pcapng") }
        defer { unlink(input); files.forEach { unlink($0) } }
        try Live.withTestbed(queues: 2) { bed in
            let report = try Self.captureToFile(binary, bed, input: input,
                                                extra: ["-w", base, "--per-queue-files", "--format", "pcapng", "ip", "and", "udp"])
            let expected = try OutputReplayTests.frames(input)
            // `ip and udp` (the trace has no VLAN tags): EtherType 0x0800, protocol 17.
            let udp = expected.filter { $0.count >= 24 && $0[12] == 0x08 && $0[13] == 0x00 && $0[23] == 17 }
            var all: [[UInt8]] = []
            var counts: [Int] = []
            for f in files {
                let n = try OutputReplayTests.capinfosCount(f)
                counts.append(n ?? -1)
                all += try OutputReplayTests.frames(f)
            }
            print("afpacket -w per-queue: received \(report.received), filtered out \(report.filteredOut), files \(counts), udp in trace \(udp.count)")
            #expect(report.received == 4000 && report.drops == 0)
            #expect(report.output?.packets == udp.count)
            #expect(counts.reduce(0, +) == udp.count)
            #expect(report.filteredOut == 4000 - udp.count)
            let same = Self.sorted(all) == Self.sorted(udp)
            #expect(same, "the per-socket files hold other frames than the trace's IPv4 UDP ones")
        }
    }

    @Test("`analyze --backend afpacket` live, advanced mode, 90/10 share, slow workers: merged counters = packets consumed")
    func analyzeLive() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let p = try WirecapProcess([binary, "analyze", "--backend", "afpacket", "--fanout", "qm", "-i", bed.captureInterface,
                                        "-q", "2", "--blocks", "32", "--block-size", "16", "-T", "10", "--mode", "advanced",
                                        "--load", "300", "--duration", "6", "--json", "--stats-interval", "1"])
            #expect(p.waitReady(), "\(p.stderr)")
            var g = Live.generator(bed, count: 40_000, rate: 40_000, share: [0.9, 0.1])
            g.flows = 4   // per queue: 2 queues × 4 = 8 flows, all within the top 10
            let sent = try Generator.run(g, inNamespace: bed.name)
            let (status, stdoutText, stderr) = p.finish()
            let stdout = Data(stdoutText.utf8)
            #expect(status == 0, "stderr: \(stderr)")
            #expect(stderr.contains("afpacket/qm"))
            let doc = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
            let analyzers = try #require(doc["analyzers"] as? [[String: Any]])
            let counters = try #require(analyzers.first { $0["name"] as? String == "counters" }?["values"] as? [String: Any])
            let queues = try #require(doc["queues"] as? [[String: Any]])
            func sum(_ key: String) -> Int { queues.compactMap { ($0["statistics"] as? [String: Any])?[key] as? Int }.reduce(0, +) }
            let consumed = sum("packetsConsumed"), received = sum("packetsReceived")
            let rows = try #require(analyzers.first { $0["name"] as? String == "top-flows" }?["rows"] as? [[String]])
            let perFlow = rows.filter { $0[0] == "packets" }.compactMap { Int($0[2]) }.reduce(0, +)
            print("analyze afpacket: sent \(sent.sent), received \(received), consumed \(consumed), counters \(counters["packets"] ?? "?"), per-flow \(perFlow), offloaded in \(sum("offloadedIn")), drops \(sum("dropsNoBuffer")) + \(sum("dropsPoolExhausted"))")
            #expect(queues.count == 2)
            #expect(consumed > 0)
            #expect(counters["packets"] as? Int == consumed)
            #expect(perFlow == consumed, "8 flows ≤ top 10: the per-flow rows cover every packet")
            #expect(consumed == received, "every received packet analyzed")
            #expect(received + sum("dropsNoBuffer") + sum("dropsPoolExhausted") == sent.sent, "received + counted drops = sent")
        }
    }
}
