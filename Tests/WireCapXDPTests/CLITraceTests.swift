import Foundation
import Testing

/// `wirecap trace info`, `analyze -r` and `replay` on damaged or odd files (no root):
/// spans that never wrap, one exit status (1) for damaged input everywhere.
@Suite("CLI on odd trace files")
struct CLITraceTests {
    /// A little-endian microsecond pcap (Ethernet) with 60-byte frames stamped `seconds`.
    static func pcap(_ name: String, seconds: [UInt32], cutLastBy: Int = 0) throws -> String {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(1)
        for s in seconds {
            u32(s); u32(0); u32(60); u32(60)
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
}
