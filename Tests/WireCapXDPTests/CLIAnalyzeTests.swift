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

/// `wirecap analyze` end to end on a veth testbed (root): offload exactness of the
/// merged analyzers, the Prometheus endpoint, -Z privilege drop, one-line errors.
@Suite("CLI analyze (live)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct CLIAnalyzeTests {
    @Test("advanced mode, 90/10 share, slow workers: merged counts equal consumed packets; metrics scraped; runs as nobody after setup")
    func analyzeLive() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let port = 20_000 + Int(getpid() % 20_000)
            let p = try WirecapProcess([binary, "analyze", "-i", bed.captureInterface, "-M", "64", "-R", "64", "-N", "1024", "-T", "10",
                                        "--mode", "advanced", "--load", "1500", "--duration", "6", "--json", "--stats-interval", "1",
                                        "--metrics", "127.0.0.1:\(port)", "-Z", "nobody"])
            #expect(p.waitReady(), "\(p.stderr)")
            var g = Live.generator(bed, count: 40_000, rate: 40_000, share: [0.9, 0.1])
            g.flows = 4   // per queue: 2 queues × 4 = 8 flows, all within the top 10
            let sent = try Generator.run(g, inNamespace: bed.name)
            let status = (try? String(contentsOfFile: "/proc/\(p.process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
            let scrape = TestTools.httpGet(port: UInt16(port), path: "/metrics")
            let (exit, stdoutText, stderr) = p.finish()
            let stdout = Data(stdoutText.utf8)
            print("analyze: sent \(sent.sent); \(uidLine); stderr:\n\(stderr)")
            #expect(exit == 0, "stderr: \(stderr)")
            #expect(uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "65534" }, "\(uidLine)")
            #expect(stderr.contains("dropped privileges to nobody (uid 65534"))
            #expect(scrape?.hasPrefix("HTTP/1.1 200 OK") == true)
            #expect(scrape?.contains("wirecap_received_packets_total{interface=\"\(bed.captureInterface)\",queue=\"0\"}") == true)
            #expect(try Live.attachedProgram(bed.captureInterface) == 0, "XDP program detached after -Z")

            let doc = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
            let analyzers = try #require(doc["analyzers"] as? [[String: Any]])
            let counters = try #require(analyzers.first { $0["name"] as? String == "counters" }?["values"] as? [String: Any])
            let queues = try #require(doc["queues"] as? [[String: Any]])
            let consumed = queues.compactMap { ($0["statistics"] as? [String: Any])?["packetsConsumed"] as? Int }.reduce(0, +)
            let offloadedIn = queues.compactMap { ($0["statistics"] as? [String: Any])?["offloadedIn"] as? Int }.reduce(0, +)
            let rows = try #require(analyzers.first { $0["name"] as? String == "top-flows" }?["rows"] as? [[String]])
            let perFlow = rows.filter { $0[0] == "packets" }.compactMap { Int($0[2]) }.reduce(0, +)
            print("analyze: consumed \(consumed), counters \(counters["packets"] ?? "?"), per-flow sum \(perFlow), offloaded in \(offloadedIn)")
            #expect(counters["packets"] as? Int == consumed)
            #expect(perFlow == consumed, "8 flows ≤ top 10: the per-flow rows cover every packet")
            #expect(offloadedIn > 0, "the 90/10 share with slow workers must offload")
        }
    }

    @Test("one-line errors with exit codes: unknown interface (2), program already attached (1), parse error (2)")
    func errors() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let unknown = try Live.run([binary, "analyze", "-i", "nosuch9"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "wirecap: error: unknown interface nosuch9: check the name with `ip link`\n")
        let parse = try Live.run([binary, "analyze", "-i", "lo", "-M", "abc"])
        #expect(parse.status == 2)
        let user = try Live.run([binary, "analyze", "-i", "lo", "-Z", "no-such-user-x"])
        #expect(user.status == 2)
        #expect(user.stderr.contains("unknown user 'no-such-user-x' for -Z"))
        try Live.withTestbed(queues: 1) { bed in
            // The first analysis runs until told to stop: the second is tried while it
            // is surely attached (after its readiness line), whatever the machine's load.
            let first = try WirecapProcess([binary, "analyze", "-i", bed.captureInterface, "--duration", "600",
                                            "--stats-interval", "0", "-N", "1024", "-R", "8"])
            #expect(first.waitReady(), "\(first.stderr)")
            let attached = ((try? Live.attachedProgram(bed.captureInterface)) ?? 0) != 0
            let second = try Live.run([binary, "analyze", "-i", bed.captureInterface, "--duration", "1", "-N", "1024", "-R", "8"])
            first.signal(SIGINT)
            #expect(first.finish().status == 0)
            #expect(attached)
            #expect(second.status == 1)
            #expect(second.stderr.hasPrefix("wirecap: error: XDP program \"wirecap_rx\" (id "), "\(second.stderr)")
            #expect(second.stderr.contains(" on \(bed.captureInterface) is held by pid \(first.process.processIdentifier) through BPF link "))
            #expect(second.stderr.hasSuffix("another capture is running; stop it first (--force cannot replace a link)\n"))
        }
    }
}

