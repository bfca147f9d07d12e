import Testing
import WireCapTrace
#if canImport(Glibc)
import Glibc
#endif

private func temporaryPath(_ name: String) -> String {
    "/tmp/wirecap-trace-test-\(getpid())-\(name)"
}

private func writeBytes(_ bytes: [UInt8], to path: String) {
    let f = fopen(path, "wb")!
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

/// Little helpers to build pcap / pcapng images by hand.
struct ImageBuilder {
    var bytes: [UInt8] = []
    var bigEndian = false
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { let x = bigEndian ? v.bigEndian : v.littleEndian; withUnsafeBytes(of: x) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { let x = bigEndian ? v.bigEndian : v.littleEndian; withUnsafeBytes(of: x) { bytes += $0 } }
    mutating func pad4() { while bytes.count % 4 != 0 { bytes.append(0) } }
}

let sampleTuple = FiveTuple(version: 4, proto: 17, source: IPAddress("131.225.2.7")!,
                                    destination: IPAddress("10.1.2.3")!, sourcePort: 5353, destinationPort: 53)

func pcapImage(nanosecond: Bool, bigEndian: Bool, packets: Int) -> [UInt8] {
    var b = ImageBuilder(bigEndian: bigEndian)
    b.u32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4); b.u16(2); b.u16(4); b.u32(0); b.u32(0); b.u32(65535); b.u32(1)
    let frame = FrameBuilder.frame(for: sampleTuple, length: 80)
    for k in 0..<packets {
        b.u32(1_700_000_000 + UInt32(k)); b.u32(nanosecond ? 123_456_789 : 123_456)
        b.u32(UInt32(frame.count)); b.u32(UInt32(frame.count))
        b.bytes += frame
    }
    return b.bytes
}

func pcapngImage(bigEndian: Bool, tsresol: UInt8?, packets: Int, vlan: Bool = false) -> [UInt8] {
    var b = ImageBuilder(bigEndian: bigEndian)
    // SHB
    b.u32(0x0A0D_0D0A); b.u32(28); b.u32(0x1A2B_3C4D); b.u16(1); b.u16(0); b.u32(0xFFFF_FFFF); b.u32(0xFFFF_FFFF); b.u32(28)
    // IDB with optional if_tsresol
    let idbLength: UInt32 = tsresol == nil ? 20 : 32
    b.u32(1); b.u32(idbLength); b.u16(1); b.u16(0); b.u32(0)
    if let r = tsresol { b.u16(9); b.u16(1); b.u8(r); b.u8(0); b.u8(0); b.u8(0); b.u16(0); b.u16(0) }
    b.u32(idbLength)
    var frame = FrameBuilder.frame(for: sampleTuple, length: 80)
    if vlan { frame.insert(contentsOf: [0x81, 0x00, 0x00, 0x64], at: 12) }
    for k in 0..<packets {
        let units: UInt64 = 1_700_000_000 * 1_000_000_000 + UInt64(k) * 1000  // ns when tsresol = 9
        let value = tsresol == nil ? units / 1000 : units
        let padded = (frame.count + 3) & ~3
        let length = UInt32(32 + padded)
        b.u32(6); b.u32(length); b.u32(0); b.u32(UInt32(value >> 32)); b.u32(UInt32(value & 0xFFFF_FFFF))
        b.u32(UInt32(frame.count)); b.u32(UInt32(frame.count)); b.bytes += frame; b.pad4(); b.u32(length)
    }
    // An SPB, which reuses the last timestamp.
    let padded = (frame.count + 3) & ~3
    b.u32(3); b.u32(UInt32(16 + padded)); b.u32(UInt32(frame.count)); b.bytes += frame; b.pad4(); b.u32(UInt32(16 + padded))
    return b.bytes
}

@Suite struct PcapRoundTripTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func pcapBothResolutionsBothByteOrders(_ nanosecond: Bool, _ bigEndian: Bool) throws {
        let image = pcapImage(nanosecond: nanosecond, bigEndian: bigEndian, packets: 5)
        let trace = try PacketTrace.parse(bytes: image, file: "mem")
        #expect(trace.count == 5)
        #expect(trace.startNanoseconds == 1_700_000_000 * 1_000_000_000 + (nanosecond ? 123_456_789 : 123_456_000))
        #expect(trace.timestamps == [0, 1, 2, 3, 4].map { $0 * 1_000_000_000 })
        #expect(trace.flowTuples.count == 1)
        #expect(trace.flowTuples[0] == sampleTuple)
        #expect(trace.flowHashes[0] == ToeplitzHasher().hash(sampleTuple))
    }

    @Test(arguments: [false, true])
    func pcapngWithResolutionsAndSimpleBlocks(_ bigEndian: Bool) throws {
        for resolution: UInt8? in [nil, 9] {
            let image = pcapngImage(bigEndian: bigEndian, tsresol: resolution, packets: 4, vlan: true)
            let trace = try PacketTrace.parse(bytes: image, file: "mem.pcapng")
            #expect(trace.count == 5)
            #expect(trace.timestamps == [0, 1000, 2000, 3000, 3000])
            #expect(trace.flowTuples == [sampleTuple])
        }
    }

    @Test func writerRoundTripThroughAFile() throws {
        let original = BorderRouterModel.shortened(to: 0.05).generate(seed: 3)
        let path = temporaryPath("roundtrip.pcap")
        defer { unlink(path) }
        try original.writePcap(path: path, snapLength: 128)
        let back = try PacketTrace.read(path: path)
        #expect(back.count == original.count)
        #expect(back.timestamps == original.timestamps)
        #expect(back.lengths == original.lengths)
        // Same flows, same hashes, packet by packet.
        for k in stride(from: 0, to: original.count, by: max(1, original.count / 200)) {
            #expect(back.flowHashes[Int(back.flows[k])] == original.flowHashes[Int(original.flows[k])])
            #expect(back.flowTuples[Int(back.flows[k])] == original.flowTuples[Int(original.flows[k])])
        }
    }

    @Test func truncatedPcapNamesTheRecordAndKeepsEarlierPackets() throws {
        let image = pcapImage(nanosecond: true, bigEndian: false, packets: 6)
        // Every cut point inside the records: never a crash, always an error naming a record.
        let recordSize = 16 + 80
        for cut in stride(from: 24 + 1, to: image.count, by: 7) where (cut - 24) % recordSize != 0 {
            let bytes = Array(image[0..<cut])
            do {
                _ = try PacketTrace.parse(bytes: bytes, file: "cut.pcap")
                Issue.record("cut at \(cut) parsed without error")
            } catch {
                let index = (cut - 24) / recordSize
                #expect(error.recordIndex == index)
                #expect(error.partial?.count == index)
                #expect(error.description.contains("cut.pcap"))
                #expect(error.description.contains("record \(index)"))
            }
        }
    }

    @Test func malformedRecordsAreErrorsNotCrashes() throws {
        var image = pcapImage(nanosecond: false, bigEndian: false, packets: 3)
        // Record 1's captured length → 0xFFFFFFF0.
        let field = 24 + 96 + 8
        image.replaceSubrange(field..<(field + 4), with: [0xF0, 0xFF, 0xFF, 0xFF])
        do {
            _ = try PacketTrace.parse(bytes: image, file: "bad.pcap")
            Issue.record("accepted an absurd captured length")
        } catch {
            #expect(error.kind == .malformedRecord)
            #expect(error.recordIndex == 1)
            #expect(error.partial?.count == 1)
        }
        for junk in [[UInt8](), [1, 2, 3], [0xD4, 0xC3, 0xB2, 0xA1, 0, 0], [0x0A, 0x0D, 0x0D, 0x0A, 0xFF]] {
            #expect(throws: TraceError.self) { try PacketTrace.parse(bytes: junk, file: "junk") }
        }
    }

    @Test func truncatedPcapngAtEveryByteNeverCrashes() {
        let image = pcapngImage(bigEndian: false, tsresol: 9, packets: 3)
        for cut in 0..<image.count {
            let bytes = Array(image[0..<cut])
            do {
                let t = try PacketTrace.parse(bytes: bytes, file: "cut.pcapng")
                #expect(cut == 0 || t.count <= 4)  // only whole-block boundaries can parse
            } catch {
                #expect(error.description.hasPrefix("cut.pcapng"))
                #expect((error.partial?.count ?? 0) <= 4)
            }
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: TraceError.self) { try PacketTrace.read(path: "/nonexistent/x.pcap") }
    }
}
