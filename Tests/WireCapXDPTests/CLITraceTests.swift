import Foundation
import Testing
import WireCapTestSupport

/// `wirecap trace info`, `analyze -r` and `replay` on damaged or odd files (no root):
/// spans that never wrap, one exit status (1) for damaged input everywhere.
@Suite("CLI on odd trace files")
struct CLITraceTests {
    /// A little-endian pcap (Ethernet) with 60-byte frames stamped `seconds` (+ `fraction`).
    static func pcap(_ name: String, seconds: [UInt32], cutLastBy: Int = 0, version: (UInt16, UInt16) = (2, 4),
                     linkType: UInt32 = 1, nanosecond: Bool = false, fraction: UInt32 = 0) throws -> String {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4); u16(version.0); u16(version.1); u32(0); u32(0); u32(65535); u32(linkType)
        for s in seconds {
            u32(s); u32(fraction); u32(60); u32(60)
            var frame = [UInt8](repeating: 0, count: 60)
            frame[12] = 0x08; frame[14] = 0x45
            b += frame
        }
        b.removeLast(cutLastBy)
        let path = NSTemporaryDirectory() + "wirecap-cli-\(getpid())-\(name).pcap"
        try Data(b).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("trace info: a file whose clock goes backwards has a true span, first/last stamps, never a wrapped duration")
    func backwardsTimestamps() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let path = try Self.pcap("backwards", seconds: [1_000, 999, 1_002])
        defer { unlink(path) }
        let r = try Live.run([binary, "trace", "info", path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("3 packets") && r.stdout.contains("3.000000 s"), "\(r.stdout)")
        #expect(r.stdout.contains("first 1000.000000000, last 1002.000000000 (timestamps out of order)"), "\(r.stdout)")
    }

    @Test("damaged input is a runtime failure (exit 1) for trace info, analyze -r and replay alike")
    func damagedInputExitsOne() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let garbage = NSTemporaryDirectory() + "wirecap-cli-\(getpid())-garbage.pcap"
        try Data([UInt8](repeating: 0x42, count: 100)).write(to: URL(fileURLWithPath: garbage))
        defer { unlink(garbage) }
        for argv in [["trace", "info", garbage], ["analyze", "-r", garbage]] {
            let r = try Live.run([binary] + argv)
            #expect(r.status == 1, "\(argv): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("wirecap: error: "), "\(argv): \(r.stderr)")
        }
    }

    @Test("a file without packets still names the link type its header declares")
    func emptyFileLinkType() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let path = try Self.pcap("empty", seconds: [], linkType: 113)
        defer { unlink(path) }
        let r = try Live.run([binary, "trace", "info", path])
        #expect(r.status == 0 && r.stdout.contains("link types 113, 0 packets"), "\(r.stdout)\(r.stderr)")
    }

    @Test("a file cut short: the whole packets are read and one warning printed (exit 0); --strict makes it an error")
    func cutShort() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let path = try Self.pcap("cut", seconds: [1, 2, 3], cutLastBy: 8)
        defer { unlink(path) }
        let info = try Live.run([binary, "trace", "info", path])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("2 packets"), "\(info.stdout)")
        #expect(info.stderr.split(separator: "\n").count == 1 && info.stderr.contains("warning:") && info.stderr.contains("cut short")
                && info.stderr.contains("2 complete packets"), "\(info.stderr)")
        let strict = try Live.run([binary, "trace", "info", "--strict", path])
        #expect(strict.status == 1 && strict.stderr.split(separator: "\n").count == 1 && strict.stderr.hasPrefix("wirecap: error: "), "\(strict.stderr)")
        let analyze = try Live.run([binary, "analyze", "-r", path])
        #expect(analyze.status == 0 && analyze.stdout.contains("2 packets read"), "\(analyze.stdout)\(analyze.stderr)")
        #expect(analyze.stderr.contains("warning:") && analyze.stderr.split(separator: "\n").count == 1, "\(analyze.stderr)")
        #expect(try Live.run([binary, "analyze", "-r", path, "--strict"]).status == 1)
    }

    @Test("file headers follow libpcap's rules: archaic/unknown versions and reserved link-type bits refused, a nanosecond field of 1e9 read as tcpdump reads it")
    func headerRules() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let refused: [(String, String, String)] = [
            (try Self.pcap("v14", seconds: [1], version: (1, 4)), "archaic pcap savefile format 1.4", "1.4"),
            (try Self.pcap("v664", seconds: [1], version: (66, 4)), "unsupported pcap savefile version 66.4", "66.4"),
            (try Self.pcap("lt", seconds: [1], linkType: 0x0001_0001), "reserved bits", "reserved"),
        ]
        for (path, message, label) in refused {
            defer { unlink(path) }
            let r = try Live.run([binary, "trace", "info", path])
            #expect(r.status == 1 && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(label): \(r.stderr)")
            let tcpdump = try Live.run(["/usr/bin/env", "tcpdump", "-r", path])
            #expect(tcpdump.status != 0, "\(label): libpcap refuses it too")
        }
        // pcapng section version 0.1: refused, as libpcap does.
        var ng: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { ng += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { ng += $0 } }
        u32(0x0A0D_0D0A); u32(28); u32(0x1A2B_3C4D); u16(0); u16(1); u32(0xFFFF_FFFF); u32(0xFFFF_FFFF); u32(28)
        let ngPath = NSTemporaryDirectory() + "wirecap-cli-\(getpid())-v01.pcapng"
        try Data(ng).write(to: URL(fileURLWithPath: ngPath))
        defer { unlink(ngPath) }
        let r = try Live.run([binary, "trace", "info", ngPath])
        #expect(r.status == 1 && r.stderr.contains("unsupported pcapng section version 0.1"), "\(r.stderr)")
        // A nanosecond sub-second field of exactly 1,000,000,000: read (libpcap does not range-check it).
        let ns = try Self.pcap("ns", seconds: [5, 6], nanosecond: true, fraction: 1_000_000_000)
        defer { unlink(ns) }
        let ok = try Live.run([binary, "trace", "info", ns])
        #expect(ok.status == 0 && ok.stdout.contains("2 packets"), "\(ok.stdout)\(ok.stderr)")
        #expect(try Live.run(["/usr/bin/env", "tcpdump", "--count", "-r", ns]).stdout.hasPrefix("2 packets"))
    }

    @Test("inputs that never yield a capture fail at once with one line: /dev/zero, a directory")
    func hopelessInputs() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        for (argv, message) in [(["trace", "info", "/dev/zero"], "not a pcap or pcapng file"),
                                (["analyze", "-r", "/dev/zero"], "not a pcap or pcapng file"),
                                (["trace", "info", NSTemporaryDirectory()], "is a directory")] {
            // Read whole /dev/zero, this would run until memory is gone; it must stop after the magic.
            let p = try WirecapProcess([binary] + argv)
            let (status, _, stderr) = p.finish(seconds: 60)
            #expect(status == 1, "\(argv): exit \(status)")
            #expect(stderr.split(separator: "\n").count == 1 && stderr.contains(message), "\(argv): \(stderr)")
        }
    }
    @Test("simulate --scenario refuses engine options it would ignore, naming them, before running anything")
    func scenarioRefusesIgnoredOptions() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let p = try WirecapProcess([binary, "simulate", "--scenario", "table1", "-M", "128", "--nic-buffer", "0", "--no-plot"])
        let (status, _, stderr) = p.finish(seconds: 60)
        #expect(status == 2, "exit \(status): \(stderr)")
        #expect(stderr.split(separator: "\n").count == 1 && stderr.contains("-M, --nic-buffer would be ignored"), "\(stderr)")
    }

    /// A capture larger than the memory the reader may use, through a pipe:
    /// `trace info` and `analyze -r` stream it under a 128 MiB data limit (reading
    /// the whole file first, as before, died at its allocation with exit 134).
    @Test("a pipe larger than the process's memory limit is read whole by trace info and analyze -r")
    func pipeLargerThanMemoryLimit() throws {
        let binary = try #require(Live.wirecapBinary(), "build wirecap first")
        let path = NSTemporaryDirectory() + "wirecap-cli-\(getpid())-big.pcap"
        defer { unlink(path) }
        let packets = 2_500_000   // 60-byte frames: 190 MB of pcap
        let made = try Live.run([binary, "trace", "synth", "--kind", "burst", "--packets", "\(packets)", "-o", path])
        #expect(made.status == 0, "\(made.stderr)")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let limit = 128 << 20
        #expect(size > limit + (limit >> 2))
        for argv in [["trace", "info", "/dev/stdin"], ["analyze", "-r", "/dev/stdin"]] {
            let command = "cat '\(path)' | prlimit --data=\(limit) -- '\(binary)' " + argv.joined(separator: " ")
            let r = try Live.run(["/bin/sh", "-c", command])
            #expect(r.status == 0, "\(argv): exit \(r.status): \(r.stderr.suffix(300))")
            #expect(r.stdout.contains("\(packets) p"), "\(argv): \(r.stdout.prefix(300))")
        }
    }
}
