import Foundation
import Testing
import WireCap
import WireCapAnalyzer
import WireCapFilter

/// Offline filters compiled for each file's link type, compared with `tcpdump --count`
/// on the same file (not with counted output lines): every link type the reader
/// takes, and `greater`/`less` on snapped captures (the wire length, as tcpdump).
@Suite("Offline filters per link type (tcpdump parity)",
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump"), "needs tcpdump (scripts/bootstrap)"))
struct LinkTypeFilterTests {
    /// Counts the packets it sees.
    struct Count: Analyzer {
        struct State: AnalyzerState {
            var packets = 0
            mutating func process(packet: Packet) { packets += 1 }
            mutating func merge(_ other: State) { packets += other.packets }
        }
        var name: String { "count" }
        func makeState(worker: Int) -> State { State() }
        func report(_ merged: State) -> AnalysisReport { AnalysisReport(name: name, lines: []) }
    }

    /// An IPv4 packet: TCP (port 80 → 1000+i) or UDP (53), with `payload` bytes.
    static func ipv4(tcp: Bool, i: Int, payload: Int) -> [UInt8] {
        let l4 = tcp ? 20 : 8
        let total = 20 + l4 + payload
        var p = [UInt8](repeating: 0, count: total)
        p[0] = 0x45; p[2] = UInt8(total >> 8); p[3] = UInt8(total & 0xff); p[8] = 64; p[9] = tcp ? 6 : 17
        p[12] = 10; p[15] = 1; p[16] = 10; p[19] = 2
        let sport = tcp ? 80 : 53, dport = 1000 + i
        p[20] = UInt8(sport >> 8); p[21] = UInt8(sport & 0xff); p[22] = UInt8(dport >> 8); p[23] = UInt8(dport & 0xff)
        if tcp { p[32] = 0x50; p[33] = 0x10 } else { p[24] = UInt8((8 + payload) >> 8); p[25] = UInt8((8 + payload) & 0xff) }
        return p
    }

    /// The link-layer header of LINKTYPE `linkType` in front of an IPv4 packet.
    static func frame(linkType: UInt32, _ ip: [UInt8]) -> [UInt8] {
        switch linkType {
        case 1: return [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00] + ip                         // Ethernet
        case 113: return [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, 0x08, 0x00] + ip                 // Linux SLL
        case 276: return [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0] + ip     // Linux SLL2
        case 101: return ip                                                                        // raw IP
        case 0: return [2, 0, 0, 0] + ip                                                           // BSD null, AF_INET, little-endian
        case 108: return [0, 0, 0, 2] + ip                                                         // loopback (AF in network order)
        case 9: return [0xff, 0x03, 0x00, 0x21] + ip                                               // PPP, IPv4
        default: preconditionFailure("no frame for link type \(linkType)")
        }
    }

    /// A microsecond pcap of link type `linkType`: 40 packets, TCP and UDP, sizes
    /// 40…1500, snapped to `snap` bytes (the wire length is kept).
    static func file(linkType: UInt32, snap: Int) throws -> String {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(UInt32(snap)); u32(linkType)
        for i in 0..<40 {
            let f = frame(linkType: linkType, ipv4(tcp: i % 3 != 0, i: i, payload: (i * 37) % 1400))
            let captured = min(f.count, snap)
            u32(1_700_000_000 + UInt32(i)); u32(0); u32(UInt32(captured)); u32(UInt32(f.count))
            b += f.prefix(captured)
        }
        let path = NSTemporaryDirectory() + "wirecap-lt-\(getpid())-\(linkType)-\(snap).pcap"
        try Data(b).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `tcpdump --count -r FILE EXPR`: "N packets".
    static func tcpdumpCount(_ path: String, _ expression: String) throws -> Int? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tcpdump")
        p.arguments = ["--count", "-r", path] + expression.split(separator: " ").map(String.init)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return text.split(separator: " ").first.flatMap { Int($0) }
    }

    static let expressions = ["tcp", "udp", "ip", "tcp port 80", "udp and dst port 1003", "greater 600", "less 200",
                              "ip[9] = 6", "not tcp"]

    @Test("every link type: WireCap's count equals tcpdump --count", arguments: [UInt32(1), 113, 276, 101, 0, 108, 9])
    func parity(linkType: UInt32) throws {
        for snap in [65_535, 64] {
            let path = try Self.file(linkType: linkType, snap: snap)
            defer { unlink(path) }
            for expression in Self.expressions {
                guard let expected = try Self.tcpdumpCount(path, expression) else {
                    Issue.record("tcpdump refused \(expression) on link type \(linkType)"); continue
                }
                let result = try OfflineAnalysis.run(Count(), path: path) { (lt: UInt32) throws(CaptureError) -> PacketPredicate in
                    do {
                        let f = try PacketFilter(expression: expression, linkType: lt, snapLength: snap)
                        return PacketPredicate(expression: expression, matchesWire: f.wirePredicate)
                    } catch { throw CaptureError(.usage, "\(error)") }
                }
                #expect(result.state.packets == expected, "link type \(linkType), snap \(snap), '\(expression)': WireCap \(result.state.packets), tcpdump \(expected)")
            }
        }
    }
}
