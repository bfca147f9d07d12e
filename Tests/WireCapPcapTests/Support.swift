import Foundation
import Testing
import WireCap
import WireCapCore
import WireCapTestbed
import WireCapTestSupport
import WireCapTrace
#if canImport(Glibc)
import Glibc
#endif

/// What the libpcap-library tests share: the binaries, a child process run to
/// its end, the generator, and the checks of a capture file and of a program's
/// closing statistics against WireCap's ledger.
enum Shim {
    static var isRoot: Bool { LiveTestbeds.enabled }
    static let skipReason = Comment(rawValue: LiveTestbeds.skipReason)

    /// The `wirecap` executable built with the tests.
    static func wirecap() throws -> String {
        try #require(TestTools.wirecapBinary(), "build the wirecap executable first (swift build)")
    }

    /// The library next to `wirecap` (what `wirecap exec` preloads).
    static func library() throws -> String {
        let path = URL(fileURLWithPath: try wirecap()).deletingLastPathComponent().appendingPathComponent("libwirecap-pcap.so").path
        try #require(FileManager.default.fileExists(atPath: path), "build libwirecap-pcap.so first (swift build)")
        return path
    }

    /// Debian's tools (the bootstrap installs them).
    static let tcpdump = "/usr/bin/tcpdump", tshark = "/usr/bin/tshark", dumpcap = "/usr/bin/dumpcap"
    static var haveTools: Bool { [tcpdump, tshark, dumpcap].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) } }

    /// A fresh directory every user can write (tcpdump gives up root for its own user
    /// after opening the device, and writes its files as that user).
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "wirecap-pcap-\(LiveTestbeds.uniqueName(prefix: "p"))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o777)
        return path
    }

    /// `wirecap exec [options] -- program…` as a child process.
    static func exec(_ options: [String] = [], _ program: [String]) throws -> WirecapProcess {
        try WirecapProcess([try wirecap(), "exec"] + options + ["--"] + program)
    }

    /// Sends `count` test packets from the testbed's namespace (in process).
    static func generate(_ bed: Testbed, count: Int, rate: Double?, size: Int = 64) throws -> GeneratorResult {
        var g = GeneratorConfiguration(interface: bed.generatorInterface, queues: Array(0..<bed.queues), count: count, rate: rate)
        g.sizes = FrameSizes(fixed: size)
        return try Generator.run(g, inNamespace: bed.name)
    }

    /// The generated packets of a capture file (pcap or pcapng), read by the
    /// repository's sequence verifier (whole packets: checksums checked too).
    static func verify(_ path: String, queues: Int) throws -> (report: SequenceVerifier.Report, packets: [CapturedSummary]) {
        try verify([path], queues: queues)
    }

    /// The generated packets of several files (a rotation), as one capture.
    static func verify(_ paths: [String], queues: Int) throws -> (report: SequenceVerifier.Report, packets: [CapturedSummary]) {
        let verifier = SequenceVerifier(origins: queues)
        let tally = verifier.makeTally()
        var summaries: [CapturedSummary] = []
        for path in paths { _ = try TraceReader.forEachPacket(path: path) { p in
            let origin = TestPacket.identity(p.data)?.queue ?? 0
            verifier.check(Packet(bytes: p.data, wireLength: Int(p.originalLength), timestamp: p.timestamp,
                                  queue: 0, originQueue: origin), tally)
            summaries.append(CapturedSummary(captured: p.data.count, wire: Int(p.originalLength),
                                             identity: TestPacket.identity(p.data).map { ($0.queue, $0.sequence) }))
        } }
        return (verifier.report([tally]), summaries)
    }

    /// One packet of a file: its lengths and its generator identity (queue, sequence).
    struct CapturedSummary {
        var captured: Int
        var wire: Int
        var identity: (queue: Int, sequence: UInt64)?
    }

    /// tcpdump's closing lines: packets captured, received by filter, dropped by kernel.
    static func tcpdumpCounts(_ stderr: String) -> (captured: Int, received: Int, dropped: Int)? {
        func count(_ suffix: String) -> Int? {
            stderr.split(separator: "\n").first { $0.hasSuffix(suffix) }.flatMap { Int($0.split(separator: " ")[0]) }
        }
        guard let c = count(" captured"), let r = count(" received by filter"), let d = count(" dropped by kernel") else { return nil }
        return (c, r, d)
    }

    /// The final ledger the library wrote (`wirecap exec --ledger`), all rows summed.
    static func ledger(_ path: String) throws -> (ledger: CaptureLedger, total: QueueLedger) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let ledgers = try JSONDecoder().decode([CaptureLedger].self, from: data)
        let l = try #require(ledgers.first)
        return (l, l.total)
    }

    /// Whether `ip link show IF` shows an XDP program.
    static func hasXDP(_ interface: String) throws -> Bool {
        let p = try WirecapProcess(["/usr/bin/env", "ip", "link", "show", interface])
        let out = p.finish(seconds: 30)
        return out.stdout.contains("xdp")
    }

    /// Runs `argv` to its end. - Returns: status, stdout, stderr.
    static func run(_ argv: [String], seconds: Double = 120) throws -> (status: Int32, stdout: String, stderr: String) {
        try WirecapProcess(argv).finish(seconds: seconds)
    }
}
