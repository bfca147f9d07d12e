import ArgumentParser
import Foundation
import WireCapCore
import WireCap
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap demo`: testbed up → generate → capture (advanced mode) → statistics → testbed down.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Bring up a testbed, send a synthetic trace, capture it in advanced mode, print per-queue statistics, tear down.")

    @Option(help: "Packets to send.")
    var count = 1_000_000

    @Option(help: "Queues.")
    var queues = 2

    @Option(help: "Per-queue share, e.g. 0.8,0.2 (long-term imbalance that advanced mode offloads).")
    var share = "0.8,0.2"

    @Option(help: "Per-packet consumer cost X (BPF filter runs).")
    var consumerCost = 2

    @Option(help: "Generator rate in packets per second, or 'max'.")
    var rate = "200000"

    @Flag(help: "Print the capture report as JSON.")
    var json = false

    func run() throws {
        do { try demo() } catch { CLI.fail(error) }
    }

    private func demo() throws(XDPError) {
        let name = "wcdemo\(getpid() % 100000)"
        do {
            try Privileges.require()
            CLI.note("demo: testbed \(name) with \(queues) queues")
            let bed = try Testbed.up(name: name, queues: queues)
            defer { bed.down(); CLI.note("demo: testbed \(name) removed") }
            let config: CaptureConfiguration
            do throws(ConfigurationError) { config = try CaptureConfiguration.buffered(bytes: 64 << 20) } catch { CLI.usage(error.message) }
            var settings = EngineSettings()
            settings.core = config
            settings.force = true
            let engine: any CaptureBackend
            do { engine = try Capture.openEngine(InterfaceSelection(bed.captureInterface, queues: Array(0..<queues)),
                                                 settings: settings) } catch { CLI.fail(error) }
            let session = CaptureSession(engine: engine, consumerCost: consumerCost, verify: true)
            try session.start()
            var gen = GeneratorConfiguration(interface: bed.generatorInterface, queues: Array(0..<queues),
                                             count: count, rate: rate == "max" ? nil : Double(rate))
            gen.share = share.split(separator: ",").compactMap { Double($0) }
            CLI.note("demo: sending \(count) packets (share \(share), rate \(rate)) from \(bed.generatorInterface) in netns \(name)")
            let sent = try Generator.run(gen, inNamespace: name)
            let report = session.run(until: StopCondition(duration: 60, idle: 0.3))
            if json {
                print(report.json)
            } else {
                print(sent.humanDescription)
                print(report.humanDescription)
                let captured = report.received
                print("sent \(sent.sent), captured \(captured), lost \(UInt64(sent.sent) - min(UInt64(sent.sent), captured)) (kernel-counted drops \(report.drops))")
            }
        }
    }
}
