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
    /// See ``LiveTestbeds`` (shared by every live test target).
    static var isRoot: Bool { LiveTestbeds.enabled }
    static let skipReason = Comment(rawValue: LiveTestbeds.skipReason)
    static func uniqueName() -> String { LiveTestbeds.uniqueName() }
    static func withTestbed<T>(queues: Int, _ body: (Testbed) throws -> T) throws -> T {
        try LiveTestbeds.withTestbed(queues: queues, body)
    }

    struct Run {
        var report: CaptureReport
        var sent: GeneratorResult
    }

    /// Opens an engine on the testbed's capture side with a session of consumers,
    /// sends `generator` from the namespace (in-process, on a thread that setns's),
    /// waits until the engine is drained and closes it.
    static func capture(on bed: Testbed, _ configuration: CaptureConfiguration, generator: GeneratorConfiguration,
                        packetDelayNanoseconds: UInt64 = 0) throws -> Run {
        let engine = try CaptureEngine(interface: bed.captureInterface, queues: Array(0..<bed.queues),
                                       settings: settings(configuration))
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

    /// Quiet engine settings with `configuration` as the core's.
    static func settings(_ configuration: CaptureConfiguration, force: Bool = false) -> EngineSettings {
        var s = EngineSettings()
        s.core = configuration
        s.quiet = true
        s.force = force
        return s
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
