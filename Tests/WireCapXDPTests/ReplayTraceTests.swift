import Foundation
import Testing
import WireCapTrace
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// Replay preparation without root: synthetic Ethernet headers for non-Ethernet
/// link types, Toeplitz and round-robin steering, malformed files.
@Suite struct ReplayTraceTests {
    static func write(_ bytes: [UInt8], _ name: String) -> String {
        let path = "/tmp/wirecap-replaytrace-\(getpid())-\(name)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static func pcap(linkType: UInt32, frames: [[UInt8]]) -> [UInt8] {
        var b: [UInt8] = []
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(linkType)
        for (k, f) in frames.enumerated() { u32(1_700_000_000); u32(UInt32(k) * 10); u32(UInt32(f.count)); u32(UInt32(f.count)); b += f }
        return b
    }

    /// What a replay would send, in order (bytes copied out).
    struct Sent { var bytes: [UInt8]; var timestamp: UInt64; var queue: Int }
    static func frames(_ trace: ReplayTrace) throws -> [Sent] {
        var out: [Sent] = []
        while let f = try trace.next() { out.append(Sent(bytes: f.bytes, timestamp: f.timestamp, queue: f.queue)) }
        return out
    }

    static let tuples = (0..<64).map { i in
        FiveTuple(version: 4, proto: 17, source: IPAddress("10.0.0.\(i + 1)")!, destination: IPAddress("131.225.2.9")!,
                  sourcePort: UInt16(2000 + i), destinationPort: 53)
    }

    @Test(arguments: [UInt32(101), 113, 276])
    func nonEthernetGetsASyntheticEthernetHeader(_ linkType: UInt32) throws {
        let eth = FrameBuilder.frame(for: Self.tuples[0], length: 100)
        let ip = Array(eth[14...])
        let frame: [UInt8] = switch linkType {
        case 113: [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00] + ip
        case 276: [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip
        default: ip
        }
        let path = Self.write(Self.pcap(linkType: linkType, frames: [frame, frame]), "lt\(linkType).pcap")
        defer { unlink(path) }
        let trace = try ReplayTrace(path: path, queueCount: 1, steering: .roundRobin)
        let frames = try Self.frames(trace)
        #expect(frames.count == 2)
        let first = frames[0].bytes
        #expect(first[12] == 0x08 && first[13] == 0x00)
        #expect(Array(first[14...]) == ip)
        #expect(frames.map(\.timestamp) == [0, 10_000])   // µs file: 10 µs apart
    }

    @Test func toeplitzSteeringFollowsTheHashAndRoundRobinAlternates() throws {
        let frames = Self.tuples.map { FrameBuilder.frame(for: $0, length: 80) }
        let path = Self.write(Self.pcap(linkType: 1, frames: frames), "steer.pcap")
        defer { unlink(path) }
        let rss = try ReplayTrace(path: path, queueCount: 4, steering: .toeplitz(key: ToeplitzHasher.microsoftKey))
        let hasher = ToeplitzHasher()
        let queues = try Self.frames(rss).map(\.queue)
        for (k, t) in Self.tuples.enumerated() {
            #expect(queues[k] == Steering.rssQueue(hash: hasher.hash(t), queues: 4))
        }
        #expect(Set(queues).count > 1)
        let rr = try ReplayTrace(path: path, queueCount: 3, steering: .roundRobin)
        #expect(try Self.frames(rr).map(\.queue) == (0..<64).map { $0 % 3 })
    }

    @Test("a file cut short keeps its whole packets and names the record where it was cut")
    func truncatedFileNamesTheRecord() throws {
        let frames = Self.tuples.prefix(5).map { FrameBuilder.frame(for: $0, length: 80) }
        var image = Self.pcap(linkType: 1, frames: Array(frames))
        image.removeLast(30)
        let path = Self.write(image, "cut.pcap")
        defer { unlink(path) }
        let trace = try ReplayTrace(path: path, queueCount: 2, steering: .roundRobin)
        #expect(try Self.frames(trace).count == 4, "the four whole packets before the cut")
        let cut = try #require(trace.truncation, "the cut is reported")
        #expect(cut.recordIndex == 4)
        #expect(cut.description.contains(path))
        // Damage that is not a cut still fails.
        var bad = Self.pcap(linkType: 1, frames: Array(frames))
        bad[24 + 8] = 0xff; bad[24 + 9] = 0xff; bad[24 + 10] = 0xff   // a captured length beyond any limit
        let badPath = Self.write(bad, "bad.pcap")
        defer { unlink(badPath) }
        let damaged = try ReplayTrace(path: badPath, queueCount: 2, steering: .roundRobin)
        #expect(throws: TraceError.self) { try Self.frames(damaged) }
    }

    @Test func rotationNamesFollowTcpdump() {
        let one = RotationPolicy()
        #expect(one.path(base: "cap", index: 0) == "cap")
        let c = RotationPolicy(maximumBytes: 1_000_000)
        #expect([0, 1, 2].map { c.path(base: "cap", index: $0) } == ["cap", "cap1", "cap2"])
        let ring = RotationPolicy(maximumBytes: 1_000_000, fileCount: 10)
        #expect([0, 9, 10, 11].map { ring.path(base: "cap", index: $0) } == ["cap00", "cap09", "cap00", "cap01"])
        var o = CaptureOutput(path: "/tmp/x/cap.pcap")
        #expect(o.path(forQueue: 3) == "/tmp/x/cap.q3.pcap")
        o.path = "/tmp/x.y/cap"
        #expect(o.path(forQueue: 0) == "/tmp/x.y/cap.q0")
    }
}
