import Foundation
import Testing
import WireCapCore
import WireCapEngine
import WireCapFilter
import WireCapTestSupport
import WireCapTestbed
import WireCapTrace
import WireCapXDP

/// The tcpdump filter translated into the XDP program (issue 17): its verdicts
/// against libpcap's own interpreter in the kernel (`BPF_PROG_TEST_RUN`, root),
/// what it refuses, and a live capture that filters in the kernel with an exact
/// ledger.
@Suite("Kernel filter", .serialized)
struct KernelFilterTests {
    /// The corpus expressions, and some that exercise what it does not: every ALU
    /// operation with K and X, shifts, division and modulo (by zero too), negation,
    /// scratch memory, `len`, and loads past the end of short packets.
    static let expressions = FilterCorpus.expressions + [
        "ip[2:2] / 4 > 100", "ip[2:2] % 7 == 3", "ip[2:2] - 20 > 100", "ip[8] * 3 > 150", "ip[6] & 0x20 != 0",
        "ip[1] | 3 == 3", "ether[0] ^ 0xff == 0", "ip[0] << 2 == 0x114", "ip[2:2] >> 4 > 10", "-ip[8] & 0xff > 200",
        "ip[8] / (ip[9] - 17) > 3", "ip[8] % (ip[9] - 17) == 0", "ip[8] << (ip[9] & 31) > 1000", "ip[8] >> (ip[9] - 1) == 0",
        "len - 14 > ip[2:2]", "udp[8:4] == 0", "ether[1500:4] != 0", "tcp[tcpflags] & tcp-fin != 0 and len > 100",
        "ip[0] & 0xf > 5", "(ip[2:2] + ip[8]) & 7 == 1",
    ]

    static func kernelVerdicts(_ filter: PacketFilter, _ packets: [[UInt8]]) throws -> [Bool] {
        let k = try KernelFilter(expression: filter.expression,
                                 classic: filter.packedInstructions.map(ClassicInstruction.init(packed:)))
        let fd = try XDPLib.loadXDPProgram(name: "wirecap_ftest", instructions: XSKRedirectProgram.filterTestInstructions(k))
        defer { close(fd) }
        return try packets.map { p in
            let action = try XDPLib.testRun(program: fd, packet: p)
            #expect(action == 2 || action == 1, "'\(filter.expression)': action \(action)")
            return action == 2
        }
    }

    /// Random frames: random bytes, most given an IPv4 or IPv6 Ethernet type and a
    /// plausible IP header start, so expressions get past their first test.
    static func randomFrames(_ count: Int) -> [[UInt8]] {
        var rng = SplitMix64(seed: 17)
        return (0..<count).map { i in
            let length = 14 + Int(rng.next() % 300)
            var f = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            switch i % 4 {
            case 0, 1:
                f[12] = 0x08; f[13] = 0x00
                if length > 23 { f[14] = 0x45; f[23] = [6, 17, 1][i % 3] }
            case 2:
                f[12] = 0x86; f[13] = 0xdd
                if length > 20 { f[14] = 0x60; f[20] = [6, 17][i % 2] }
            default: break
            }
            return f
        }
    }

    @Test("every corpus expression and the arithmetic ones give libpcap's verdict on every corpus and random packet",
          .enabled(if: Live.isRoot, Live.skipReason))
    func translationMatchesBpfFilter() throws {
        let packets = FilterCorpus.frames() + Self.randomFrames(300)
        var accepted = 0, total = 0
        for expression in Self.expressions {
            let filter = try PacketFilter(expression: expression)
            let kernel = try Self.kernelVerdicts(filter, packets)
            for (i, p) in packets.enumerated() {
                let expected = p.withUnsafeBytes { filter.matches($0) }
                if kernel[i] != expected {
                    Issue.record("'\(expression)', packet \(i) (\(p.count) B): kernel \(kernel[i]), bpf_filter \(expected)")
                    break
                }
                accepted += expected ? 1 : 0
                total += 1
            }
        }
        // The corpus must exercise both verdicts, or parity proves little.
        #expect(accepted > total / 20 && accepted < total - total / 20, "accepted \(accepted) of \(total)")
    }

    @Test("filters that always accept or always reject load, alone and in the engine's whole program",
          .enabled(if: Live.isRoot, Live.skipReason))
    func degenerateFiltersPassTheVerifier() throws {
        // `ret #k` alone, `ret #0` alone (the verifier refuses unreachable code, so the
        // reject or accept path must not be emitted), and an out-of-bounds MSH.
        let programs: [(String, [ClassicInstruction], Bool)] = [
            ("always", [ClassicInstruction(code: 0x06, k: 262_144)], true),
            ("never", [ClassicInstruction(code: 0x06, k: 0)], false),
            ("msh past 0xFFFF", [ClassicInstruction(code: 0xb1, k: 0xFFFF), ClassicInstruction(code: 0x06, k: 1)], false),
        ]
        let packet = FilterCorpus.frames()[0]
        for (name, classic, accepts) in programs {
            let k = try KernelFilter(expression: name, classic: classic)
            let fd = try XDPLib.loadXDPProgram(name: "wirecap_ftest", instructions: XSKRedirectProgram.filterTestInstructions(k))
            #expect(try XDPLib.testRun(program: fd, packet: packet) == (accepts ? 2 : 1), "\(name)")
            close(fd)
            for rejected in [KernelFilter.Rejected.pass, .drop] {
                var f = k
                f.rejected = rejected
                _ = try XSKRedirectProgram(interface: "lo", ifindex: 1, entries: 2, filter: f)
            }
        }
        _ = try XSKRedirectProgram(interface: "lo", ifindex: 1, entries: 2, filter: nil)
    }

    @Test func whatDoesNotTranslateIsRefusedWithAReason() {
        // A Linux ancillary load (SKF_AD_OFF + SKF_AD_PROTOCOL), scratch word 16, an
        // empty program, a jump past the end, an unknown opcode.
        let cases: [(String, [ClassicInstruction])] = [
            ("ancillary", [ClassicInstruction(code: 0x28, k: 0xFFFF_F000), ClassicInstruction(code: 0x06, k: 1)]),
            ("scratch", [ClassicInstruction(code: 0x60, k: 16), ClassicInstruction(code: 0x06, k: 1)]),
            ("empty", []),
            ("past the end", [ClassicInstruction(code: 0x15, jt: 5, jf: 0, k: 1), ClassicInstruction(code: 0x06, k: 1)]),
            ("opcode", [ClassicInstruction(code: 0xff), ClassicInstruction(code: 0x06, k: 1)]),
        ]
        for (name, program) in cases {
            #expect(throws: KernelFilter.Untranslatable.self, "\(name)") {
                try KernelFilter(expression: name, classic: program)
            }
        }
        do {
            _ = try KernelFilter(expression: "anc", classic: cases[0].1)
        } catch {
            #expect(error.reason.contains("SKF_AD_OFF") && !error.reason.contains("\n"))
        }
    }

    /// One capture of `count` packets over 16 flows per queue with `udp and src port
    /// 10000 or src port 10016` (one flow per queue): its final ledger.
    static func filteredCapture(_ binary: String, _ bed: Testbed, count: Int, place: String) throws -> (CaptureLedger, String) {
        let capture = try WirecapProcess([binary, "capture", "-i", bed.captureInterface, "-q", "0,1", "--buffer", "64MiB",
                                          "--json", "--stats-interval", "0", "--idle-exit", "1", "--filter-in", place,
                                          "udp and (src port 10000 or src port 10016)"])
        #expect(capture.waitReady())
        let sent = try Generator.run(Live.generator(bed, count: count, rate: 100_000), inNamespace: bed.name)
        let (status, stdout, stderr) = capture.finish()
        #expect(status == 0, "\(stderr)")
        let ledger = try LifecycleLedgerTests.finalLedger(stdout)
        #expect(ledger.total.offered == UInt64(sent.sent))
        return (ledger, stderr)
    }

    @Test("live: the filter runs in the XDP program, rejects are counted as filtered in the kernel, the same packets as the user-space filter",
          .enabled(if: Live.isRoot, Live.skipReason))
    func liveKernelFilter() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        try Live.withTestbed(queues: 2) { bed in
            let (kernel, kernelNotes) = try Self.filteredCapture(binary, bed, count: 64_000, place: "kernel")
            let (user, _) = try Self.filteredCapture(binary, bed, count: 64_000, place: "user")
            LifecycleLedgerTests.expectExact(kernel, "kernel filter")
            LifecycleLedgerTests.expectExact(user, "user filter")
            #expect(kernel.isLossless && user.isLossless)
            #expect(!kernelNotes.contains("user space"), "the expression translates: \(kernelNotes)")
            #expect(kernel.total.delivered > 0 && kernel.total.delivered * 8 < kernel.total.offered, "one flow in 16 kept")
            #expect(kernel.total.delivered == user.total.delivered, "the same packets pass either way")
            #expect(kernel.total.filtered == kernel.total.offered - kernel.total.delivered)
            #expect(kernel.total.filteredInKernel == kernel.total.filtered, "every reject was in the kernel")
            #expect(user.total.filteredInKernel == 0 && user.total.filtered == kernel.total.filtered)
        }
    }
}
