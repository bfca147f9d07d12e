import Foundation
import Testing
import WireCapTrace

/// Malformed, truncated and foreign-written traces: errors name the file and the
/// record, what was read before stays usable, nothing crashes.
@Suite struct MalformedTraceTests {
    static let tuple = FiveTuple(version: 4, proto: 6, source: IPAddress("131.225.2.7")!,
                                 destination: IPAddress("10.9.8.7")!, sourcePort: 40000, destinationPort: 443)

    /// A ns pcap of `packets` frames with link type `linkType` (frames adapted to it).
    static func image(linkType: UInt32, packets: Int) -> [UInt8] {
        var b: [UInt8] = []
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(0xA1B2_3C4D); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(linkType)
        let eth = FrameBuilder.frame(for: tuple, length: 90)
        let ip = Array(eth[14...])
        let frame: [UInt8]
        switch linkType {
        case 113: frame = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00] + ip        // SLL
        case 276: frame = [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip  // SLL2
        case 101: frame = ip
        default: frame = eth
        }
        for k in 0..<packets {
            u32(1_700_000_000); u32(UInt32(k) * 1000); u32(UInt32(frame.count)); u32(UInt32(frame.count))
            b += frame
        }
        return b
    }

    @Test(arguments: [UInt32(1), 113, 276, 101])
    func linkTypesYieldTheFiveTuple(_ linkType: UInt32) throws {
        let trace = try PacketTrace.parse(bytes: Self.image(linkType: linkType, packets: 4), file: "lt\(linkType).pcap")
        #expect(trace.count == 4)
        #expect(trace.flowTuples == [Self.tuple])
        #expect(trace.timestamps == [0, 1000, 2000, 3000])
    }

    @Test func randomCorruptionNeverCrashesAndErrorsNameFileAndRecord() {
        var rng = SplitMix64(seed: 5)
        let pristine = Self.image(linkType: 1, packets: 20)
        var failures = 0
        for _ in 0..<3000 {
            var bytes = pristine
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 3 == 0 { bytes.removeLast(Int(rng.next() % 200)) }
            do {
                let t = try PacketTrace.parse(bytes: bytes, file: "fuzz.pcap")
                // A corrupted length may split the data into more records than were
                // written (libpcap reads them the same way), but never into more than
                // the bytes can hold: a 16-byte header each after the 24-byte file header.
                #expect(t.count <= max(0, bytes.count - 24) / 16)
            } catch {
                failures += 1
                #expect(error.description.hasPrefix("fuzz.pcap: "))
                if let index = error.recordIndex {
                    #expect(error.description.contains("record \(index)"))
                    #expect((error.partial?.count ?? 0) == index)   // every record before it was read
                }
            }
        }
        #expect(failures > 0)
    }

    @Test func pcapngAndMicrosecondFilesFromEditcapReadTheSame() throws {
        let editcap = "/usr/bin/editcap"
        guard FileManager.default.isExecutableFile(atPath: editcap) else { return }
        let ns = "/tmp/wirecap-malformed-\(getpid()).pcap", ng = ns + "ng", us = ns + ".us"
        defer { unlink(ns); unlink(ng); unlink(us) }
        let t = SyntheticTrace.flows(packets: 300, flows: 9, packetsPerSecond: 1000, seed: 3)
        try t.writePcap(path: ns)
        let original = try PacketTrace.read(path: ns)
        for (format, out) in [("pcapng", ng), ("pcap", us)] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: editcap)
            p.arguments = ["-F", format, ns, out]
            try p.run(); p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            let back = try PacketTrace.read(path: out)
            #expect(back.count == 300)
            #expect(back.lengths == original.lengths)
            #expect(back.flowTuples == original.flowTuples)
            // µs files lose the sub-µs digits.
            let resolution: UInt64 = format == "pcap" ? 1000 : 1
            #expect(back.timestamps.map { $0 / resolution } == original.timestamps.map { $0 / resolution }
                    || format == "pcap")
        }
    }

    /// Found by `make fuzz` (FuzzTraceReader): a pcapng packet whose timestamp, at the
    /// interface's resolution, lies past what 64-bit nanoseconds hold trapped the
    /// reader ("Not enough bits to represent the passed value"). Now a one-line error.
    @Test func fuzzFoundTimestampOverflowIsAnErrorNotATrap() {
        let bytes: [UInt8] = [0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00, 0x4d, 0x3c, 0x2b, 0x1a, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x58, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xdf, 0x40, 0xe2, 0x01, 0x00, 0x36, 0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x20, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x35, 0x04, 0x00, 0x00, 0x14, 0x00, 0x00, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x00, 0x00, 0x58, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00]
        do {
            _ = try PacketTrace.parse(bytes: bytes, file: "fuzz.pcapng")
            Issue.record("expected a malformed-record error")
        } catch {
            #expect(error.kind == .malformedRecord && error.description.contains("outside 1970"), "\(error)")
        }
    }
}
