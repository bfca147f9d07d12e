import Foundation
import Testing
@_spi(Benchmarks) @testable import WireCapXDP

/// The file writer without a live engine: time and size rotation, the -W ring,
/// pcapng per-queue interfaces, and the write throughput from memory.
@Suite struct OutputFileTests {
    static let capinfos = FileManager.default.isExecutableFile(atPath: "/usr/bin/capinfos")

    static func packets(_ count: Int, size: Int) -> UnsafeMutableRawBufferPointer {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: count * size, alignment: 64)
        for i in 0..<b.count { b[i] = UInt8(truncatingIfNeeded: i &* 31) }
        for k in 0..<count { b[k * size + 12] = 0x08; b[k * size + 13] = 0x00 }
        return b
    }

    static func count(_ path: String) throws -> Int? {
        let out = try Live.run(["/usr/bin/capinfos", "-c", "-M", path])
        guard out.status == 0, let line = out.stdout.split(separator: "\n").first(where: { $0.contains("Number of packets") }) else { return nil }
        return Int(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
    }

    @Test(.enabled(if: capinfos, "needs capinfos"))
    func timeRotationWithARingOfThreeFiles() throws {
        let base = "/tmp/wirecap-of-\(getpid())-g.pcapng"
        let policy = RotationPolicy(maximumNanoseconds: 1_000_000_000, fileCount: 3)
        defer { for k in 0..<3 { unlink(policy.path(base: base, index: k)) } }
        let file = CaptureFile(base: base, format: .pcapng, snapLength: 128, linkType: 1,
                               interfaceNames: ["x@q0", "x@q1"], rotation: policy)
        let data = Self.packets(50, size: 300)
        defer { data.deallocate() }
        let t0: UInt64 = 1_700_000_000_000_000_000
        try file.open(now: t0)
        // 5 seconds of packets, 10 per second: files for seconds 0..4, the ring keeps 3 (seconds 2, 3, 4).
        for k in 0..<50 {
            let p = UnsafeRawBufferPointer(rebasing: data[(k * 300)..<(k * 300 + 300)])
            try file.append(p, timestamp: t0 + UInt64(k) * 100_000_000, interface: k % 2)
        }
        try file.close()
        #expect(file.filesOpened == 5)
        #expect(policy.path(base: base, index: 4) == base + "1")
        var total = 0
        for k in 0..<3 { total += try #require(try Self.count(policy.path(base: base, index: k))) }
        #expect(total == 30)
    }

    @Test func aFullDiskIsAnErrorNotACrash() throws {
        let data = Self.packets(4, size: 100)
        defer { data.deallocate() }
        let file = CaptureFile(base: "/dev/full", format: .pcap, snapLength: 65535, linkType: 1, interfaceNames: ["x"],
                               rotation: RotationPolicy())
        try file.open(now: 0)
        for k in 0..<4 { try file.append(UnsafeRawBufferPointer(rebasing: data[(k * 100)..<(k * 100 + 100)]), timestamp: 0, interface: 0) }
        #expect(throws: XDPError.self) { try file.flush() }
        #expect(file.lost == 4)
        #expect(file.packets == 0)
        try file.close()
    }
}
