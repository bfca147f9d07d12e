import Foundation
import Testing
import WireCap
import WireCapCore
import WireCapTestbed
import WireCapTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Debian's tcpdump, tshark and dumpcap, and two small C programs, capturing
/// through `wirecap exec` on veth testbeds (root): every generated packet in
/// the files, the programs' statistics equal to WireCap's ledger.
///
/// Readiness: the library's `capturing on …` line (stderr), printed once the
/// capture is started; the generator starts only after it.
@Suite(.serialized, .enabled(if: Shim.isRoot, Shim.skipReason),
       .enabled(if: Shim.haveTools, "needs tcpdump, tshark and dumpcap (scripts/bootstrap)"))
struct PcapLibraryLiveTests {
    @Test("wirecap exec -- tcpdump -w F -c 50000: every generated packet in F; 'captured', 'received by filter', 'dropped by kernel' are the ledger's")
    func tcpdumpWritesEveryPacket() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LiveTestbeds.withTestbed(queues: 2, prefix: "wp") { bed in
            let file = "\(dir)/all.pcap", ledger = "\(dir)/ledger.json"
            _ = try Shim.library()
            let p = try Shim.exec(["--ledger", ledger], [Shim.tcpdump, "-i", bed.captureInterface, "-w", file, "-c", "50000"])
            #expect(p.waitReady(), "\(p.stderr)")
            #expect(p.stderr.contains("capturing on \(bed.captureInterface) queues 0,1"))
            let sent = try Shim.generate(bed, count: 50_000, rate: 200_000)
            let (status, _, err) = p.finish(seconds: 180)
            #expect(status == 0, "\(err)")
            #expect(sent.sent == 50_000)
            let (report, _) = try Shim.verify(file, queues: 2)
            #expect(report.packets == 50_000, "\(report)")
            for q in 0..<2 { #expect(report.unique(queue: q) == sent.queues[q].sent, "queue \(q): \(report)") }
            #expect(report.duplicates == 0 && report.checksumErrors == 0 && report.foreign == 0, "\(report)")
            #expect(report.outOfOrder == 0, "each queue's packets in arrival order: \(report)")
            let counts = try #require(Shim.tcpdumpCounts(err), "tcpdump's closing lines: \(err)")
            let (_, t) = try Shim.ledger(ledger)
            #expect(counts.captured == 50_000)
            #expect(UInt64(counts.captured) == t.delivered, "\(t)")
            #expect(UInt64(counts.received) == t.offered - t.filtered - t.beforeSocket, "\(t)")
            #expect(UInt64(counts.dropped) == t.lost - t.beforeSocket, "\(t)")
            #expect(t.offered == 50_000 && t.lost == 0 && t.unexplained == 0, "\(t)")
            #expect(try !Shim.hasXDP(bed.captureInterface))
        }
    }

    @Test("a filter (udp and dst port 9, and greater 100) and -s 96: only the 200-byte packets, cut to 96 bytes; the 64-byte ones are the ledger's filtered")
    func filterAndSnapLength() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LiveTestbeds.withTestbed(queues: 2, prefix: "wf") { bed in
            let file = "\(dir)/filtered.pcap", ledger = "\(dir)/ledger.json"
            let p = try Shim.exec(["--ledger", ledger], [Shim.tcpdump, "-i", bed.captureInterface, "-s", "96", "-w", file,
                                                         "-c", "20000", "udp and dst port 9 and greater 100"])
            #expect(p.waitReady(), "\(p.stderr)")
            let small = try Shim.generate(bed, count: 10_000, rate: 200_000, size: 64)
            let large = try Shim.generate(bed, count: 20_000, rate: 200_000, size: 200)
            let (status, _, err) = p.finish(seconds: 180)
            #expect(status == 0, "\(err)")
            #expect(small.sent == 10_000 && large.sent == 20_000)
            let (_, packets) = try Shim.verify(file, queues: 2)
            #expect(packets.count == 20_000)
            #expect(packets.allSatisfy { $0.captured == 96 && $0.wire == 200 }, "every packet cut to 96 of 200 bytes")
            var seen = [Set<UInt64>](repeating: [], count: 2)
            for s in packets { if let id = s.identity { seen[id.queue].insert(id.sequence) } }
            for q in 0..<2 { #expect(seen[q].count == large.queues[q].sent, "queue \(q)") }
            let counts = try #require(Shim.tcpdumpCounts(err), "\(err)")
            let (_, t) = try Shim.ledger(ledger)
            #expect(t.filtered == 10_000, "\(t)")
            #expect(t.delivered == 20_000, "\(t)")
            #expect(UInt64(counts.received) == t.offered - t.filtered - t.beforeSocket, "\(t)")
            #expect(counts.received == 20_000 && counts.dropped == 0)
        }
    }

    @Test("-G 1 -W 100 rotation: 3 s of traffic over several files, none lost, every file valid")
    func timeRotation() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LiveTestbeds.withTestbed(queues: 2, prefix: "wr") { bed in
            let p = try Shim.exec([], [Shim.tcpdump, "-i", bed.captureInterface, "-G", "1", "-W", "100",
                                       "-w", "\(dir)/rot-%s.pcap", "-c", "30000"])
            #expect(p.waitReady(), "\(p.stderr)")
            // 10 kpps: the traffic lasts 3 s of wall clock however busy the machine is.
            let sent = try Shim.generate(bed, count: 30_000, rate: 10_000)
            let (status, _, err) = p.finish(seconds: 180)
            #expect(status == 0, "\(err)")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("rot-") }.sorted()
                .map { "\(dir)/\($0)" }
            #expect(files.count >= 2, "no rotation: \(files)")
            let (report, _) = try Shim.verify(files, queues: 2)
            #expect(report.packets == 30_000)
            for q in 0..<2 { #expect(report.unique(queue: q) == sent.queues[q].sent) }
            #expect(report.duplicates == 0 && report.checksumErrors == 0)
        }
    }

    @Test("Ctrl-C of tcpdump mid-traffic: exit 0, a valid file of exactly the packets it counted, no XDP program left")
    func interruptMidTraffic() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LiveTestbeds.withTestbed(queues: 2, prefix: "wi") { bed in
            let file = "\(dir)/cut.pcap", ledger = "\(dir)/ledger.json"
            let p = try Shim.exec(["--ledger", ledger], [Shim.tcpdump, "-i", bed.captureInterface, "-w", file])
            #expect(p.waitReady(), "\(p.stderr)")
            let generator = TestThread { _ = try? Shim.generate(bed, count: 1_000_000, rate: 200_000) }
            // Mid-traffic: once the file holds more than 1 MB (about 12,000 packets).
            let growing = WirecapProcess.wait(seconds: 120) {
                ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int ?? 0) > 1_000_000
            }
            #expect(growing, "the file never grew: \(p.stderr)")
            p.signal(SIGINT)
            let (status, _, err) = p.finish(seconds: 120)
            generator.join()
            #expect(status == 0, "\(err)")
            #expect(try !Shim.hasXDP(bed.captureInterface), "an XDP program was left on \(bed.captureInterface)")
            let counts = try #require(Shim.tcpdumpCounts(err), "\(err)")
            let (report, _) = try Shim.verify(file, queues: 2)
            #expect(report.packets == counts.captured, "the file holds what tcpdump counted")
            #expect(report.duplicates == 0 && report.checksumErrors == 0)
            #expect(counts.captured > 10_000 && counts.captured < 1_000_000)
            let (_, t) = try Shim.ledger(ledger)
            #expect(UInt64(counts.captured) == t.delivered, "\(t)")
            // What it never read: still queued (abandoned) or the rest of the chunk it
            // stopped in (delivery); nothing unaccounted for.
            #expect(t.unexplained == 0, "\(t)")
        }
    }

    @Test("tshark -i CAP -c N -w F and dumpcap -i CAP -a packets:N -w F: every generated packet in the pcapng file")
    func tsharkAndDumpcap() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LiveTestbeds.withTestbed(queues: 2, prefix: "wt") { bed in
            // Readiness: the library's own line, in a --log file: tshark's dumpcap child
            // has its parent's message pipe as stderr (and tshark's "Capturing on"
            // comes before the child opens the interface).
            for (name, argv) in [("tshark", [Shim.tshark, "-i", bed.captureInterface, "-c", "20000", "-w", "\(dir)/tshark.pcapng"]),
                                 ("dumpcap", [Shim.dumpcap, "-i", bed.captureInterface, "-a", "packets:20000", "-w", "\(dir)/dumpcap.pcapng"])] {
                let log = "\(dir)/\(name).log"
                let p = try Shim.exec(["--log", log], argv)
                let ready = WirecapProcess.wait(seconds: 120) {
                    (try? String(contentsOfFile: log, encoding: .utf8))?.contains("capturing on \(bed.captureInterface) queues") == true || !p.process.isRunning
                }
                #expect(ready, "\(name): \(p.stderr)")
                let sent = try Shim.generate(bed, count: 20_000, rate: 100_000)
                let (status, _, err) = p.finish(seconds: 180)
                #expect(status == 0, "\(name): \(err)")
                let (report, _) = try Shim.verify("\(dir)/\(name).pcapng", queues: 2)
                #expect(report.packets == 20_000, "\(name): \(report)")
                for q in 0..<2 { #expect(report.unique(queue: q) == sent.queues[q].sent, "\(name) queue \(q)") }
                #expect(report.duplicates == 0 && report.checksumErrors == 0, "\(name)")
                if name == "dumpcap" { #expect(err.contains("20000/0"), "dumpcap's received/dropped line: \(err)") }
                if name == "tshark" {
                    #expect(err.contains("20000 packets captured"), "\(err)")
                    #expect(!err.contains("Unknown message from dumpcap"), "the library wrote into tshark's pipe: \(err)")
                }
                #expect(try !Shim.hasXDP(bed.captureInterface))
            }
        }
    }

    @Test("C programs: pcap_next_ex non-blocking with poll() on the selectable fd; pcap_loop ended by pcap_breakloop from another thread while it waits")
    func cPrograms() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let nonBlocking = try CPrograms.build("nonblock", CPrograms.nonBlocking, in: dir)
        let breakLoop = try CPrograms.build("breakloop", CPrograms.breakLoop, in: dir)
        try LiveTestbeds.withTestbed(queues: 2, prefix: "wc") { bed in
            let a = try Shim.exec([], [nonBlocking, bed.captureInterface, "30000"])
            #expect(a.waitFor("ready fd", seconds: 120), "\(a.stderr)")
            _ = try Shim.generate(bed, count: 30_000, rate: 100_000)
            let (sa, outA, errA) = a.finish(seconds: 120)
            #expect(sa == 0, "\(errA)")
            #expect(outA.contains("packets 30000 "), "\(outA)")
            #expect(outA.contains("recv 30000 drop 0 ifdrop 0"), "\(outA)")
            // The program reads only after poll() said readable: every packet came
            // through the selectable fd's wake-ups (at most one per packet).
            let readable = outA.split(separator: " ").drop { $0 != "readable" }.dropFirst().first.flatMap { Int($0) }
            #expect(readable.map { (1...30_000).contains($0) } == true, "\(outA)")

            let b = try Shim.exec([], [breakLoop, bed.captureInterface, "20000"])
            #expect(b.waitFor("ready datalink 1 snapshot 262144", seconds: 120), "\(b.stderr)")
            _ = try Shim.generate(bed, count: 20_000, rate: 100_000)
            let (sb, outB, errB) = b.finish(seconds: 120)
            #expect(sb == 0, "\(errB)")
            #expect(outB.contains("loop returned -2 after 20000 packets"), "\(outB) \(errB)")
            #expect(try !Shim.hasXDP(bed.captureInterface))
        }
    }

    @Test("loopback and 'any' go to the system libpcap with one line on stderr saying so")
    func fallbacks() throws {
        let dir = try Shim.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let open = try CPrograms.build("open", CPrograms.open, in: dir)
        for (device, reason, linkType) in [("lo", "(loopback)", 1), ("any", "(the 'any' pseudo-device)", 113)] {
            let (status, out, err) = try Shim.run([try Shim.wirecap(), "exec", "--", open, device])
            #expect(status == 0, "\(device): \(err)")
            #expect(out.contains("datalink \(linkType)"), "\(device): \(out)")
            let lines = err.split(separator: "\n").filter { $0.hasPrefix("wirecap:") }
            #expect(lines.count == 1 && lines[0].contains("not captured through WireCap \(reason)"), "\(device): \(err)")
        }
    }
}
