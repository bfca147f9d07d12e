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

/// `wirecap capture` end to end on veth testbeds (root): several -i, the live
/// statistics line, the Prometheus endpoint, -Z, --queues/--hugepages spellings,
/// and every error the CLI names as one line with a fix and its exit code.
@Suite("CLI capture (live)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct CLICaptureTests {
    @Test("two -i (one engine each): both captured in full; stats lines per interface; metrics for both; runs as nobody after setup; programs detached")
    func severalInterfaces() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { a in
            try Live.withTestbed(queues: 1) { b in
                let port = 20_000 + Int((getpid() &+ 7) % 20_000)
                let p = try WirecapProcess([binary, "capture", "-i", a.captureInterface, "-i", b.captureInterface, "--queues", "0",
                                            "--hugepages", "-M", "64", "-R", "64", "-N", "1024", "--duration", "5",
                                            "--stats-interval", "0.5", "--metrics", "127.0.0.1:\(port)", "-Z", "nobody"])
                #expect(p.waitFor("capturing on \(b.captureInterface)"), "both interfaces ready: \(p.stderr)")
                var ga = Live.generator(a, count: 5_000, rate: 20_000)
                ga.queues = [0]
                let sentA = try Generator.run(ga, inNamespace: a.name)
                let sentB = try Generator.run(Live.generator(b, count: 3_000, rate: 20_000), inNamespace: b.name)
                // The privileges are dropped and the endpoint counts what was received.
                WirecapProcess.wait(seconds: 4) {
                    let scrape = TestTools.httpGet(port: UInt16(port), path: "/metrics") ?? ""
                    return p.stderr.contains("dropped privileges")
                        && scrape.contains("wirecap_received_packets_total{interface=\"\(a.captureInterface)\",queue=\"0\"} \(sentA.sent)")
                        && scrape.contains("wirecap_received_packets_total{interface=\"\(b.captureInterface)\",queue=\"0\"} \(sentB.sent)")
                }
                let status = (try? String(contentsOfFile: "/proc/\(p.process.processIdentifier)/status", encoding: .utf8)) ?? ""
                let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
                let scrape = TestTools.httpGet(port: UInt16(port), path: "/metrics") ?? ""
                let (exit, stdout, stderr) = p.finish()
                print("capture -i -i: sent \(sentA.sent)+\(sentB.sent); \(uidLine)\nstdout:\n\(stdout)\nstderr:\n\(stderr)")
                #expect(exit == 0)
                #expect(uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "65534" }, "\(uidLine)")
                for (bed, sent) in [(a, sentA.sent), (b, sentB.sent)] {
                    let cap = bed.captureInterface
                    #expect(stderr.contains("capturing on \(cap) queues 0 "))
                    let lines = stderr.split(separator: "\n").filter { $0.hasPrefix("wirecap: [") && $0.contains(" \(cap) q0 ") }
                    #expect(lines.count >= 3, "a statistics line for \(cap) every 0.5 s")
                    #expect(lines.allSatisfy { $0.contains(" pps lost ") && $0.contains(" px ") && $0.contains(" ?0 ") && $0.contains("| off out ") && $0.contains("| pool ") && $0.count <= 100 },
                            "rate, ledger losses (px: pool exhausted, ?: unexplained), offloads, pool occupancy; fits a terminal")
                    #expect(scrape.contains("wirecap_received_packets_total{interface=\"\(cap)\",queue=\"0\"}"))
                    #expect(stdout.contains(cap))
                    #expect(stdout.contains("\(sent)"), "the report of \(cap) shows its \(sent) packets")
                    #expect(try Live.attachedProgram(cap) == 0, "program detached from \(cap) after -Z")
                }
            }
        }
    }

    @Test("errors: one line naming the fault and a fix, exit 2 for usage, 1 for runtime")
    func errors() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let cap = bed.captureInterface
            let cases: [(args: [String], expect: String, status: Int32)] = [
                (["-i", "nosuchif9"], "wirecap: error: unknown interface nosuchif9: check the name with `ip link`", 2),
                (["-i", cap, "--queues", "7"], "wirecap: error: queue 7 is beyond \(cap)'s 2 rx queues (valid: 0...1)", 2),
                (["-i", cap, "-N", "1024", "-M", "300"], "M (300) must divide N (1024)", 2),
                (["-i", cap, "-N", "1024", "-M", "256", "-R", "2"], "R (2) must be greater than N/M = 4", 2),
                (["-i", cap, "-N", "1000"], "N (fill ring size) must be a power of two", 2),
                (["-i", cap, "-T", "101"], "T (offload threshold) must be a percentage", 2),
                (["-i", cap, "--buffer", "64XB"], "--buffer '64XB': expected a size such as 256MiB or 2GiB", 2),
                (["-i", cap, "--buffer", "64MiB", "-R", "100"], "-R and --buffer both size the memory per queue", 2),
                (["-i", cap, "--spill", "maybe"], "--spill must be on or off", 2),
                (["-i", cap, "--filter-in", "nic", "udp"], "--filter-in must be kernel or user", 2),
                (["-i", cap, "--filter-rejected", "keep", "udp"], "--filter-rejected must be pass or drop", 2),
                (["-i", cap, "--bypass-after", "0"], "--bypass-after '0': expected a size of at least 1 byte", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--backend", "afpacket"], "--bypass-after needs the AF_XDP backend", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--verify"], "--bypass-after and --verify", 2),
                (["-i", cap, "--bypass-idle", "5"], "need --bypass-after", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--bypass-action", "keep"], "--bypass-action must be drop or pass", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--bypass-entries", "1"], "the bypass table takes 1,024 to 16,777,216 entries, got 1", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--forward", "lo"], "--bypass-after and --forward", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--bypass-idle", "inf"], "--bypass-idle must be > 0 seconds and at most a year", 2),
                (["-i", cap, "--bypass-after", "1MiB", "--bypass-timeout", "0"], "--bypass-timeout must be > 0 seconds", 2),
                (["-i", cap, "-M", "abc"], "wirecap: error: The value 'abc' is invalid for '-M <cells>' (see `wirecap capture --help`)", 2),
                (["-i", cap, "-Z", "no-such-user-y"], "unknown user 'no-such-user-y' for -Z: name an existing account", 2),
                (["-i", cap, "--metrics", "localhost:x"], "--metrics 'localhost:x': expected HOST:PORT", 2),
                (["-i", cap, "-i", "lo", "-w", "/tmp/x.pcap"], "-w takes one -i", 2),
                ([], "name an interface with -i", 2),
                // A pool larger than the machine is refused before anything is allocated.
                (["-i", cap, "-R", "10000000"], "and this machine has", 2),
                // Negative numbers reach validation (they are not taken for options).
                (["-i", cap, "--timeout", "-1"], "--timeout must be > 0 ms, got -1.0", 2),
                (["-i", cap, "-c", "-5"], "--count must be at least 1, got -5", 2),
            ]
            for c in cases {
                let r = try Live.run([binary, "capture"] + c.args + ["--duration", "1"])
                #expect(r.status == c.status, "\(c.args): exit \(r.status), stderr: \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(c.args): one line, got:\n\(r.stderr)")
                #expect(r.stderr.hasPrefix("wirecap: error: ") && r.stderr.contains(c.expect), "\(c.args): \(r.stderr)")
            }
            let nobody = try Live.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                       "--inh-caps=-all", binary, "capture", "-i", cap, "--duration", "1"])
            #expect(nobody.status == 1)
            #expect(nobody.stderr == "wirecap: error: needs root or CAP_NET_ADMIN+CAP_NET_RAW+CAP_BPF (missing CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF), and CAP_IPC_LOCK or a memlock limit as large as the pools: run as root or `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep wirecap`\n", "\(nobody.stderr)")
            // The minimal set: with exactly these the capture runs; without CAP_NET_RAW the missing one is named.
            func asNobody(_ caps: String) throws -> Live.Output {
                try Live.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=\(caps)",
                              "--ambient-caps=\(caps)", binary, "capture", "-i", cap, "--duration", "0.2", "--stats-interval", "0"])
            }
            let minimal = try asNobody("+net_admin,+net_raw,+bpf,+ipc_lock")
            #expect(minimal.status == 0 && minimal.stdout.contains("no packets lost"), "\(minimal.stderr)")
            let noRaw = try asNobody("+net_admin,+bpf,+ipc_lock")
            #expect(noRaw.status == 1 && noRaw.stderr.contains("(missing CAP_NET_RAW)"), "\(noRaw.stderr)")
            let noLock = try asNobody("+net_admin,+net_raw,+bpf")
            #expect(noLock.status == 1 && noLock.stderr.contains("RLIMIT_MEMLOCK allows") && noLock.stderr.contains("CAP_IPC_LOCK"), "\(noLock.stderr)")

            // Already attached: a second capture on the same interface is refused with the fix.
            // The first capture runs until told to stop: the second is tried while it is
            // surely attached (after its readiness line), whatever the machine's load.
            let first = try WirecapProcess([binary, "capture", "-i", cap, "--duration", "600", "--stats-interval", "0",
                                            "-N", "1024", "-R", "8"])
            #expect(first.waitReady(), "\(first.stderr)")
            let id = (try? Live.attachedProgram(cap)) ?? 0
            let second = try Live.run([binary, "capture", "-i", cap, "--duration", "1", "-N", "1024", "-R", "8"])
            first.signal(SIGINT)
            #expect(first.finish().status == 0)
            #expect(id != 0)
            #expect(second.status == 1)
            // It names the program and the process holding it, and why --force cannot help.
            #expect(second.stderr.hasPrefix("wirecap: error: XDP program \"wirecap_rx\" (id \(id)) on \(cap) is held by pid \(first.process.processIdentifier) through BPF link"), "\(second.stderr)")
            #expect(second.stderr.hasSuffix("another capture is running; stop it first (--force cannot replace a link)\n"), "\(second.stderr)")
            #expect(try Live.attachedProgram(cap) == 0)
        }
    }
}
