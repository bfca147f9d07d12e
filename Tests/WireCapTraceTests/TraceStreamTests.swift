import Foundation
import Testing
import WireCapTrace

/// The streaming reader: the same packets and the same errors whether an image is
/// read in place or through the window in pieces of any size (as a pipe delivers
/// it), bounded memory over inputs far larger than the window, and libpcap's
/// record-size limits instead of allocations sized by a damaged length field.
@Suite struct TraceStreamTests {
    /// Every packet (bytes, stamp, lengths, link type) and the error that ended the read.
    struct Reading: Equatable {
        var packets: [[UInt8]] = []
        var stamps: [UInt64] = []
        var error: String?
        var declared: [UInt32] = []
    }

    static func read(_ image: [UInt8], piece: Int?) -> Reading {
        var out = Reading()
        image.withUnsafeBytes { raw in
            do throws(TraceError) {
                var stream = if let piece { try TraceStream(bytes: raw, file: "img", piece: piece) } else { try TraceStream(bytes: raw, file: "img") }
                do throws(TraceError) {
                    while let p = try stream.next() {
                        out.packets.append(Array(p.data))
                        out.stamps.append(p.timestamp &+ UInt64(p.originalLength) &+ UInt64(p.linkType))
                    }
                } catch { out.error = error.description }
                out.declared = stream.declaredLinkTypes
            } catch { out.error = error.description }
        }
        return out
    }

    static let images: [[UInt8]] = [
        pcapImage(nanosecond: false, bigEndian: false, packets: 40),
        pcapImage(nanosecond: true, bigEndian: true, packets: 40),
        pcapngImage(bigEndian: false, tsresol: nil, packets: 40),
        pcapngImage(bigEndian: true, tsresol: 9, packets: 40, vlan: true),
    ]

    @Test("pieces of 1 to 97 bytes read exactly what reading in place reads", arguments: [1, 2, 3, 7, 16, 97])
    func piecesReadTheSame(_ piece: Int) {
        for image in Self.images {
            let inPlace = Self.read(image, piece: nil)
            #expect(inPlace.packets.count == 41 || inPlace.packets.count == 40)
            #expect(inPlace.error == nil)
            #expect(Self.read(image, piece: piece) == inPlace)
        }
    }

    @Test("damaged and cut images fail at the same record with the same words, in place or in pieces")
    func damageReadsTheSame() {
        var rng = SplitMix64(seed: 12)
        for round in 0..<1500 {
            var bytes = Self.images[round % Self.images.count]
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 2 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
            let piece = 1 + Int(rng.next() % 300)
            #expect(Self.read(bytes, piece: piece) == Self.read(bytes, piece: nil), "round \(round), pieces of \(piece)")
        }
    }

    @Test("a length field of gigabytes is refused by libpcap's limits, not allocated")
    func hugeLengthsAreRefused() {
        var pcap = pcapImage(nanosecond: false, bigEndian: false, packets: 2)
        pcap.replaceSubrange(24 + 8..<24 + 12, with: [0x00, 0x00, 0x00, 0x40])   // 1 GiB captured length
        let r = Self.read(pcap, piece: 4096)
        #expect(r.error?.contains("exceeds the limit 262144") == true, "\(r.error ?? "no error")")
        var ng = pcapngImage(bigEndian: false, tsresol: nil, packets: 2)
        ng.replaceSubrange(28 + 20 + 4..<28 + 20 + 8, with: [0x00, 0x00, 0x00, 0x40])  // first EPB's length: 1 GiB
        let n = Self.read(ng, piece: 4096)
        #expect(n.error?.contains("exceeds the limit 16777216") == true, "\(n.error ?? "no error")")
    }

    /// 600 MB of packets through a pipe: every one read, the window never above
    /// 1 MiB (the records are small), so memory does not grow with the input.
    @Test("a pipe far larger than the window is read with the window's memory")
    func pipeStreamsWithBoundedMemory() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let (readEnd, writeEnd) = (ends[0], ends[1])
        let packets = 400_000
        let writer = Thread {
            var header: [UInt8] = []
            func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
            u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(1)
            var record: [UInt8] = []
            func r32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { record += $0 } }
            r32(1_700_000_000); r32(0); r32(1500); r32(1500)
            record += [UInt8](repeating: 0xAB, count: 1500)
            let block = (0..<100).flatMap { _ in record }
            func put(_ b: [UInt8]) {
                b.withUnsafeBytes { raw in
                    var done = 0
                    while done < raw.count {
                        let n = write(writeEnd, raw.baseAddress! + done, raw.count - done)
                        if n <= 0 { return }
                        done += n
                    }
                }
            }
            put(header)
            for _ in 0..<(packets / 100) { put(block) }
            close(writeEnd)
        }
        writer.start()
        defer { close(readEnd) }
        var stream = try TraceStream(path: "/proc/self/fd/\(readEnd)")
        var count = 0, bytes = 0, widest = 0
        while let p = try stream.next() {
            count += 1
            bytes += p.data.count
            widest = max(widest, stream.windowCapacity)
        }
        #expect(count == packets && bytes == packets * 1500)
        #expect(widest == TraceStream.windowBytes, "window grew to \(widest)")
        // A pipe cannot be read again: rewinding says so instead of replaying nothing.
        #expect(throws: TraceError.self) { try stream.rewind() }
    }

    @Test("a record larger than the window grows it to that record only, and rewind reads a file again")
    func bigRecordAndRewind() throws {
        var b = ImageBuilder()
        b.u32(0xA1B2_C3D4); b.u16(2); b.u16(4); b.u32(0); b.u32(0); b.u32(4 << 20); b.u32(1)
        for size in [100, 3 << 20, 100] {
            b.u32(1_700_000_000); b.u32(0); b.u32(UInt32(size)); b.u32(UInt32(size))
            b.bytes += [UInt8](repeating: UInt8(size & 0xFF), count: size)
        }
        let path = NSTemporaryDirectory() + "wirecap-stream-\(getpid()).pcap"
        try Data(b.bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        var stream = try TraceStream(path: path)
        var sizes: [Int] = []
        while let p = try stream.next() { sizes.append(p.data.count); #expect(p.data.allSatisfy { $0 == UInt8(p.data.count & 0xFF) }) }
        #expect(sizes == [100, 3 << 20, 100])
        #expect(stream.windowCapacity == 16 + (3 << 20), "grown to the one record")
        try stream.rewind()
        var again = 0
        while try stream.next() != nil { again += 1 }
        #expect(again == 3 && stream.packetsRead == 3)
    }
}
