import Foundation
import Testing
import WireCapFilter
import WireCapTrace
import WireCapTestSupport

/// Runs a command and returns its standard output.
func shell(_ argv: [String]) throws -> (status: Int32, stdout: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = argv
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite struct FilterParityTests {
    static let tcpdumpAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump")
        || FileManager.default.isExecutableFile(atPath: "/usr/sbin/tcpdump")

    @Test(.enabled(if: tcpdumpAvailable, "needs tcpdump (scripts/bootstrap installs it)"))
    func matchCountsEqualTcpdump() throws {
        let path = "/tmp/wirecap-filter-parity-\(getpid()).pcap"
        try FilterCorpus.write(to: path)
        defer { unlink(path) }
        #expect(FilterCorpus.expressions.count >= 20)
        for expression in FilterCorpus.expressions {
            let filter = try PacketFilter(expression: expression)
            var matched = 0
            var total = 0
            try TraceReader.forEachPacket(path: path) { p in
                total += 1
                if filter.matches(p.data, wireLength: Int(p.originalLength)) { matched += 1 }
            }
            let run = try shell(["tcpdump", "-nn", "-r", path, expression])
            let expected = run.stdout.split(separator: "\n").count
            #expect(run.status == 0, "tcpdump failed on '\(expression)'")
            #expect(matched == expected, "'\(expression)': wirecap \(matched), tcpdump \(expected)")
            #expect(total == 400)
        }
    }

    @Test func everyExpressionClassMatchesSomethingAndNotEverything() throws {
        // Guards the trace itself: a parity test over packets nothing matches proves little.
        let frames = FilterCorpus.frames()
        for expression in ["udp", "tcp", "vlan 200", "ip6 and tcp", "tcp[tcpflags] & tcp-syn != 0", "arp"] {
            let filter = try PacketFilter(expression: expression)
            let n = frames.filter { f in f.withUnsafeBytes { filter.matches($0) } }.count
            #expect(n > 0 && n < frames.count, "'\(expression)' matched \(n) of \(frames.count)")
        }
    }

    @Test func syntaxErrorsCarryLibpcapsMessageOnOneLine() {
        #expect(throws: FilterError.self) { try PacketFilter(expression: "udp and and") }
        do {
            _ = try PacketFilter(expression: "port 99999")
            Issue.record("port 99999 compiled")
        } catch {
            #expect(error.message.contains("99999"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func emptyExpressionMatchesEverythingAndLinkTypesCompile() throws {
        let all = try PacketFilter(expression: "")
        let frame = [UInt8](repeating: 0, count: 60)
        #expect(frame.withUnsafeBytes { all.matches($0) })
        // SLL, SLL2 and raw IP compile for IP expressions.
        for link: UInt32 in [113, 276, 101] { _ = try PacketFilter(expression: "udp and port 53", linkType: link) }
        // Raw IP: a UDP/IPv4 packet without link header.
        let eth = FrameBuilder.frame(for: FiveTuple(version: 4, proto: 17, source: IPAddress("1.2.3.4")!,
            destination: IPAddress("5.6.7.8")!, sourcePort: 9, destinationPort: 53), length: 80)
        let raw = try PacketFilter(expression: "udp dst port 53", linkType: 101)
        #expect(Array(eth[14...]).withUnsafeBytes { raw.matches($0) })
    }

    @Test func samplerDeliversOneInN() {
        var s = PacketSampler(every: 4)
        let delivered = (0..<100).filter { _ in s.next() }.count
        #expect(delivered == 25)
        var one = PacketSampler(every: 1)
        #expect((0..<10).allSatisfy { _ in one.next() })
    }

    /// Cost per packet of matching in place (printed; release builds are faster).
    @Test func costPerPacket() throws {
        let frames = FilterCorpus.frames()
        let filter = try PacketFilter(expression: "udp and net 131.225.2")
        let rounds = 500
        var matched = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds {
            for f in frames { f.withUnsafeBytes { if filter.matches($0) { matched &+= 1 } } }
        }
        let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds * frames.count)
        print("filter cost: \(String(format: "%.1f", ns)) ns/packet for 'udp and net 131.225.2' (\(filter.instructionCount) instructions, \(matched) matches)")
        #expect(matched > 0)
    }
}
