import ArgumentParser
import Foundation
import WireCapCore
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap generate`: per-queue AF_XDP transmitter of verifiable test packets.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Send synthetic UDP/IPv4 test packets (per-queue sequence numbers + checksums) with AF_XDP.",
        discussion: """
        One AF_XDP TX socket per queue (no XDP program). On a testbed, tx queue q of the generator \
        side arrives on rx queue q of the capture side. --share splits --count and --rate between the \
        queues (long-term imbalance); --burst P --idle MS sends P packets at full speed, then pauses \
        (short-term imbalance).
        """)

    @Option(help: "Network namespace to send from (/var/run/netns/NAME), e.g. a testbed's name.")
    var netns: String?

    @Option(name: .short, help: "Interface to send on.")
    var interface: String

    @Option(name: .short, help: "Tx queues, e.g. 0,1 (default: 0..<--queue-count).")
    var queues: String?

    @Option(help: "Number of tx queues to use when -q is not given.")
    var queueCount = 1

    @Option(help: "Total packets.")
    var count = 1_000_000

    @Option(help: "Total packets per second, or 'max'.")
    var rate = "max"

    @Option(help: "Per-queue share of the traffic, e.g. 0.9,0.1.")
    var share: String?

    @Option(help: ArgumentHelp("Frame size in bytes (64...1514), 'imix' (7:4:1 of 64/576/1500) or a mix such as 64:7,576:4,1500:1.", valueName: "size"))
    var size = "64"

    @Option(help: "Number of flows.")
    var flows = 16

    @Option(help: ArgumentHelp("An elephant: flow 0 of the first queue carries this percentage of that queue's packets (one 5-tuple no flow hash can spread); 0: off.", valueName: "percent"))
    var elephant = 0

    @Option(help: "Burst size: packets (all queues) sent at full speed before each idle period.")
    var burst: Int?

    @Option(help: "Idle time between bursts, milliseconds.")
    var idle: Double = 10

    @Option(help: "CPUs to pin sender threads to.")
    var cpus: String?

    @Flag(help: "Print per-queue counts as JSON.")
    var json = false

    func validate() throws {
        if let q = queues, IndexList.parse(q) == nil { CLI.usage("invalid queue list '\(q)'") }
        if rate != "max", Double(rate).map({ $0 > 0 }) != true { CLI.usage("--rate must be a positive number of packets per second or 'max', got '\(rate)'") }
        if let s = share, s.split(separator: ",").contains(where: { Double($0) == nil }) { CLI.usage("invalid --share '\(s)' (use e.g. 0.9,0.1)") }
        if queueCount < 1 { CLI.usage("--queue-count must be at least 1") }
        if idle < 0 { CLI.usage("--idle must be ≥ 0") }
        if FrameSizes.parse(size) == nil { CLI.usage("invalid --size '\(size)' (a size in bytes, 'imix', or SIZE:WEIGHT,… with weights 1...1000)") }
    }

    func run() throws {
        var config = GeneratorConfiguration(
            interface: interface, queues: queues.flatMap(IndexList.parse) ?? Array(0..<queueCount),
            count: count, rate: rate == "max" ? nil : Double(rate))
        config.share = share.map { $0.split(separator: ",").compactMap { Double($0) } } ?? []
        config.sizes = FrameSizes.parse(size)!
        config.flows = flows
        config.elephantPercent = elephant
        config.burst = burst
        config.idleNanoseconds = UInt64(idle * 1e6)
        config.cpus = cpus.flatMap(IndexList.parse) ?? []
        do {
            try Privileges.require()
            if let ns = netns { try Generator.enterNamespace(ns) }
            let result = try Generator.run(config)
            print(json ? result.json : result.humanDescription)
        } catch {
            CLI.fail(error)
        }
    }
}
