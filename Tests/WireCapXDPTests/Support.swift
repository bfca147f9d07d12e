import Foundation
import Synchronization
import Testing
import WireCapCore
import WireCapTestSupport
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// Shared helpers of the live (root) tests.
enum Live {
    /// Live tests need root (CAP_NET_ADMIN, CAP_BPF, netns): CI runs them as root.
    /// Live tests run as root, and always in CI (`CI=true`): there a missing
    /// privilege or a kernel without veth/netns must fail the suite, not skip it.
    /// Elsewhere they skip, saying why.
    static var isRoot: Bool { geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
    static let skipReason: Comment = "needs root (CAP_NET_ADMIN+CAP_BPF and network namespaces): run the suite as root (in CI, CI=true, it runs and fails instead)"

    private static let counter = Atomic<Int>(0)

    /// A testbed name unique to this process and call (≤ 12 characters: interface names derive from it).
    static func uniqueName() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        return "wt\(getpid() % 100_000)x\(n)"
    }

    /// Runs `body` with a fresh testbed and always removes it.
    static func withTestbed<T>(queues: Int, _ body: (Testbed) throws -> T) throws -> T {
        let bed = try Testbed.up(name: uniqueName(), queues: queues)
        defer { bed.down() }
        return try body(bed)
    }

    struct Run {
        var report: CaptureReport
        var sent: GeneratorResult
    }

    /// Opens an engine on the testbed's capture side with a session of consumers,
    /// sends `generator` from the namespace (in-process, on a thread that setns's),
    /// waits until the engine is drained and closes it.
    static func capture(on bed: Testbed, _ configuration: CaptureConfiguration, generator: GeneratorConfiguration,
                        packetDelayNanoseconds: UInt64 = 0, options: EngineOptions = quietOptions) throws -> Run {
        let engine = try CaptureEngine(interface: bed.captureInterface, queues: Array(0..<bed.queues),
                                       configuration: configuration, options: options)
        let session = CaptureSession(engine: engine, verify: true, packetDelayNanoseconds: packetDelayNanoseconds)
        try session.start()
        let sent: GeneratorResult
        do {
            sent = try Generator.run(generator, inNamespace: bed.name)
        } catch {
            _ = session.stop()
            throw error
        }
        let report = session.run(until: StopCondition(duration: 120, idle: 0.3))
        return Run(report: report, sent: sent)
    }

    static var quietOptions: EngineOptions {
        var o = EngineOptions()
        o.quiet = true
        return o
    }

    /// Generator settings for the testbed: all its queues.
    static func generator(_ bed: Testbed, count: Int, rate: Double? = nil, share: [Double] = []) -> GeneratorConfiguration {
        var g = GeneratorConfiguration(interface: bed.generatorInterface, queues: Array(0..<bed.queues), count: count, rate: rate)
        g.share = share
        return g
    }

    /// The capture report of `--json` output: the last JSON document, after the
    /// `{"event":…}` lines (readiness, statistics) that come first.
    static func report(_ stdout: String) throws -> CaptureReport {
        let body = stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("{\"event\":") }.joined(separator: "\n")
        return try JSONDecoder().decode(CaptureReport.self, from: Data(body.utf8))
    }

    /// A fresh empty directory under the system's temporary directory (the caller removes it).
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "wirecap-test-\(uniqueName())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The id of the XDP program on `interface`, 0 when none.
    static func attachedProgram(_ interface: String) throws -> UInt32 {
        try XSKRedirectProgram.attachedProgramID(interface: interface)
    }

    /// `ip link show IF` mentions no XDP program.
    static func ipLinkShowsNoXDP(_ interface: String) throws -> Bool {
        let out = try run(["/usr/bin/env", "ip", "link", "show", interface])
        return out.status == 0 && !out.stdout.contains("xdp")
    }

    // MARK: The wirecap binary

    /// The `wirecap` executable built with the tests: next to the test runner
    /// (`<scratch>/debug/`), else the newest `.build*/{debug,release}/wirecap` of the package.
    static func wirecapBinary() -> String? { TestTools.wirecapBinary() }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `argv` to completion (optionally as another user via setpriv).
    static func run(_ argv: [String]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }
}
