import Foundation
import Testing
@_spi(Benchmarks) @testable import WireCapOutput
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

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

    /// The blocks of a pcapng file: (type, body) in order (little-endian, as written).
    static func blocks(_ path: String) throws -> [(UInt32, [UInt8])] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var out: [(UInt32, [UInt8])] = []
        var o = 0
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        while o + 12 <= bytes.count {
            let length = Int(u32(o + 4))
            guard length >= 12, o + length <= bytes.count, u32(o + length - 4) == UInt32(length) else { break }
            out.append((u32(o), Array(bytes[(o + 8)..<(o + length - 4)])))
            o += length
        }
        #expect(o == bytes.count, "the file is whole blocks to its end")
        return out
    }

    @Test("pcapng: an Interface Statistics Block per interface at every file's close, as dumpcap writes it")
    func statisticsBlocksAtClose() throws {
        let base = "/tmp/wirecap-of-\(getpid())-isb.pcapng"
        let policy = RotationPolicy(maximumNanoseconds: 1_000_000_000)
        defer { for k in 0..<3 { unlink(policy.path(base: base, index: k)) } }
        let file = CaptureFile(base: base, format: .pcapng, snapLength: 128, linkType: 1,
                               interfaceNames: ["x@q0", "x@q1"], rotation: policy, origins: 2)
        var closes = 0
        file.statisticsAtClose = { k in
            closes += 1
            var s = InterfaceStatistics()
            s.received = 100 + UInt64(k); s.interfaceDropped = 1; s.filterAccepted = 90; s.systemDropped = 7; s.delivered = 80
            return s
        }
        let data = Self.packets(4, size: 200)
        defer { data.deallocate() }
        let t0: UInt64 = 1_700_000_000_000_000_000
        try file.open(now: t0)
        for k in 0..<4 {   // two seconds: two files
            try file.append(UnsafeRawBufferPointer(rebasing: data[(k * 200)..<(k * 200 + 200)]),
                            timestamp: t0 + UInt64(k) * 500_000_000, interface: k % 2, origin: k % 2)
        }
        try file.close()
        #expect(file.filesOpened == 2)
        #expect(closes == 4, "two interfaces × two files")
        for index in 0..<2 {
            let blocks = try Self.blocks(policy.path(base: base, index: index))
            let isbs = blocks.filter { $0.0 == 5 }
            #expect(isbs.count == 2, "file \(index)")
            #expect(blocks.last?.0 == 5, "the statistics come after the last packet")
            for (k, isb) in isbs.enumerated() {
                func u32(_ at: Int) -> UInt32 { UInt32(isb.1[at]) | UInt32(isb.1[at + 1]) << 8 | UInt32(isb.1[at + 2]) << 16 | UInt32(isb.1[at + 3]) << 24 }
                func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
                #expect(u32(0) == UInt32(k), "interface id")
                // Options from offset 12: code, length 8, value; starttime(2), endtime(3), then counters 4…8.
                var options: [UInt16: UInt64] = [:]
                var o = 12
                while o + 4 <= isb.1.count {
                    let code = UInt16(isb.1[o]) | UInt16(isb.1[o + 1]) << 8
                    let length = Int(UInt16(isb.1[o + 2]) | UInt16(isb.1[o + 3]) << 8)
                    if code == 0 { break }
                    options[code] = code <= 3 ? UInt64(u32(o + 4)) << 32 | UInt64(u32(o + 8)) : u64(o + 4)
                    o += 4 + length
                }
                #expect(options[4] == 100 + UInt64(k) && options[5] == 1 && options[6] == 90 && options[7] == 7 && options[8] == 80)
                #expect(options[2] != nil && options[3] != nil && options[2]! <= options[3]!)
            }
            if Self.capinfos { #expect(try Self.count(policy.path(base: base, index: index)) == 2, "capinfos reads it") }
        }
    }
}
