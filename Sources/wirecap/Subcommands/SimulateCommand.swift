import ArgumentParser
import Foundation
import WireCapCore
import WireCapSimulator
import WireCapTrace
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap simulate`: replay a trace in virtual time through a model of a capture
/// engine (WireCAP on WireCapCore's own code, or NETMAP/DNA/PF_RING models), or
/// run one of the paper's experiments.
///
/// ```
/// wirecap simulate --scenario fig9 --out out/sim
/// wirecap simulate --synthetic burst --packets 100000 --engine wirecap-basic -M 256 -R 500 --x 300
/// wirecap simulate --trace border.pcap --engine wirecap-advanced --queues 6 -T 60 --consumer-rate 38844 --json
/// ```
///
/// Invalid parameters print one line and exit with status 2.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay traces in virtual time through WireCAP (on WireCapCore) or NETMAP/DNA/PF_RING models.",
        discussion: """
            Scenarios reproduce the paper: \(Scenarios.all.map(\.name).joined(separator: ", ")) (or "all").
            Each writes NAME.csv and NAME.json into --out, and NAME.png when python3 with matplotlib is available.
            """)

    // Scenario mode.
    @Option(help: "Run one of the paper's experiments (fig3, table1, fig8, fig9, fig10, fig11, fig12, all).")
    var scenario: String?
    @Option(help: "Directory for CSV/JSON/PNG outputs.")
    var out: String = "out/simulations"
    @Flag(help: "Small variants (fewer points, shorter traces).")
    var fast = false
    @Flag(name: .customLong("no-plot"), help: "Do not run Simulations/plot.py after a scenario.")
    var noPlot = false

    // Trace.
    @Option(help: "A pcap or pcapng file to replay.")
    var trace: String?
    @Option(help: "A synthetic trace: burst | border-router.")
    var synthetic: String?
    @Option(help: "Burst size P for --synthetic burst.")
    var packets: Int = 100_000
    @Option(help: "Length in seconds of --synthetic border-router (at most 60).")
    var duration: Double = 32
    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 1
    @Option(help: ArgumentHelp("Scenarios: also run seeds --seed+1 … --seed+N−1 and write NAME-seeds.csv, each varying number as its mean and 95% confidence half-width (NAME.csv stays the --seed run).", valueName: "N"))
    var seeds: Int = 1
    @Option(help: "Replay speed: recorded | line-rate | a factor such as 2.")
    var speed: String = "recorded"
    @Option(help: "Steering: rss | round-robin.")
    var steering: String = "rss"

    // Engine.
    @Option(help: "netmap | dna | pfring | wirecap-basic | wirecap-advanced (default wirecap-basic).")
    var engine: String?
    @Option(help: "Receive queues (one consumer each; default 1).")
    var queues: Int?
    @Option(name: .customShort("M"), help: "Cells per chunk (descriptor segment; default 256).")
    var m: Int?
    @Option(name: .customShort("R"), help: "Chunks per pool (default 100).")
    var r: Int?
    @Option(name: .customShort("N"), help: "Receive ring descriptors (default 1024).")
    var n: Int?
    @Option(name: .customShort("T"), help: "Offload threshold, percent (advanced mode; default 60).")
    var t: Int?
    @Option(help: "What advanced mode moves: flow (flow buckets; default) or chunk (the paper's WireCAP-A).")
    var offload: String?
    @Flag(help: "Flow offload: never spread a flow heavier than one consumer (drop instead).")
    var strictAffinity = false
    @Option(help: "Consumer processing rate, packets per second.")
    var consumerRate: Double?
    @Option(name: .customLong("x"), help: "BPF runs per packet (the paper's x).")
    var x: Int?
    @Option(help: "Cost of one BPF run in ns for --x (default: the paper's 2.4 GHz calibration, 85.8 ns).")
    var bpfCost: Double?
    @Option(help: "Capture-thread poll interval, ns.")
    var pollInterval: UInt64 = 2_000
    @Option(help: "Partial-chunk timeout, ns (default 1,000,000).")
    var timeout: UInt64?
    @Option(help: "NIC receive packet buffer per queue, bytes (0 = none; the 82599 has 524288). Scenarios use 524288.")
    var nicBuffer: Int?

    @Flag(help: "Spill (issue 14; default off: the paper's pools): under pressure, chunks of small packets are copied into dense blocks lent by free chunks of the same R. The copy costs 5.7 ns + 0.042 ns/byte per packet on the capture thread.")
    var spill = false
    @Option(help: "PF_RING per-packet copy cost, ns (default 100).")
    var copyCost: Double?
    @Option(help: "PF_RING buffer slots (default 10240).")
    var pfringBuffer: Int?
    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        if let name = scenario {
            if trace != nil || synthetic != nil { CLI.usage("--scenario cannot be combined with --trace or --synthetic") }
            // A scenario runs the paper's own settings for each of its points: an engine
            // option would be silently ignored, so it is refused.
            let given = [("--engine", engine != nil), ("--queues", queues != nil), ("-M", m != nil), ("-R", r != nil),
                         ("-N", n != nil), ("-T", t != nil), ("--consumer-rate", consumerRate != nil), ("--x", x != nil),
                         ("--bpf-cost", bpfCost != nil), ("--timeout", timeout != nil), ("--nic-buffer", nicBuffer != nil),
                         ("--copy-cost", copyCost != nil), ("--pfring-buffer", pfringBuffer != nil),
                         ("--offload", offload != nil), ("--strict-affinity", strictAffinity)]
                .filter(\.1).map(\.0)
            if !given.isEmpty {
                CLI.usage("--scenario runs the paper's settings for every point; \(given.joined(separator: ", ")) would be ignored: drop \(given.count == 1 ? "it" : "them"), or simulate one configuration with --synthetic or --trace")
            }
            try runScenarios(name)
            return
        }
        if seeds != 1 { CLI.usage("--seeds applies to --scenario runs (one trace, one configuration has no seeds to compare)") }
        let configuration = simulationConfiguration()
        let simulation: Simulation
        do { simulation = try Simulation(configuration) } catch { CLI.usage(error.description) }
        let packetTrace = loadTrace()
        let result = simulation.run(trace: packetTrace)
        if json {
            print(SimulateCLI.json(result).serialized())
        } else {
            SimulateCLI.printTable(result)
        }
        let problems = result.conservationViolations
        if !problems.isEmpty {
            CLI.note("internal check failed: \(problems.joined(separator: "; "))")
            throw ExitCode(1)
        }
    }

    func simulationConfiguration() -> SimulationConfiguration {
        var c = SimulationConfiguration()
        let engine = self.engine ?? "wirecap-basic"
        guard let kind = EngineKind(rawValue: engine) else {
            CLI.usage("unknown engine '\(engine)' (netmap, dna, pfring, wirecap-basic, wirecap-advanced)")
        }
        c.engine = kind
        c.queues = queues ?? 1
        c.cellsPerChunk = m ?? 256
        c.chunksPerPool = r ?? 100
        c.ringSize = n ?? 1024
        c.offloadThresholdPercent = t ?? 60
        guard let policy = OffloadPolicy(rawValue: offload ?? "flow") else {
            CLI.usage("--offload must be flow or chunk, got '\(offload ?? "")'")
        }
        if offload != nil && kind != .wirecapAdvanced { CLI.usage("--offload applies to --engine wirecap-advanced") }
        c.offload = policy
        c.strictFlowAffinity = strictAffinity
        c.pollIntervalNanoseconds = pollInterval
        c.partialTimeoutNanoseconds = timeout ?? 1_000_000
        c.nicBufferBytes = nicBuffer ?? 0
        if spill { c.spill = SpillGeometry() }
        c.typeI.copyNanoseconds = copyCost ?? 100
        c.typeI.bufferSlots = pfringBuffer ?? 10_240
        switch (consumerRate, x) {
        case (.some, .some): CLI.usage("give either --consumer-rate or --x, not both")
        case (.some(let rate), nil): c.consumer = .rate(rate)
        case (nil, .some(let x)): c.consumer = x == 0 ? .none : .bpf(x: x, costNanoseconds: bpfCost ?? ConsumerModel.paperBPFCostNanoseconds)
        case (nil, nil): c.consumer = .none
        }
        switch speed {
        case "recorded": c.replay = .recorded
        case "line-rate": c.replay = .tenGigabitLineRate
        default:
            guard let f = Double(speed) else { CLI.usage("--speed must be recorded, line-rate or a factor, got '\(speed)'") }
            c.replay = .factor(f)
        }
        switch steering {
        case "rss": c.steering = .rss
        case "round-robin": c.steering = .roundRobin
        default: CLI.usage("--steering must be rss or round-robin, got '\(steering)'")
        }
        return c
    }

    func loadTrace() -> PacketTrace {
        switch (trace, synthetic) {
        case (.some, .some): CLI.usage("give either --trace or --synthetic, not both")
        case (nil, nil): CLI.usage("give --scenario, --trace FILE or --synthetic burst|border-router")
        case (.some(let path), nil):
            // The trace is read as a stream and kept at 16 bytes per packet: at most
            // what half the available memory holds (then a warning says where it stopped).
            let limit = Int((MemoryBudget.available ?? 8 << 30) / 2 / 16)
            do {
                let trace = try PacketTrace.read(path: path, maximumPackets: limit)
                if trace.count == limit {
                    CLI.note("warning: simulating the first \(limit) packets (16 bytes each in memory: half of what is available)")
                }
                return trace
            } catch {
                guard let partial = error.partial, partial.count > 0 else {
                    CLI.note("error: \(error.description)")
                    Foundation.exit(1)
                }
                CLI.note("warning: \(error.description); replaying the \(partial.count) packets before it")
                return partial
            }
        case (nil, .some(let kind)):
            switch kind {
            case "burst":
                guard packets >= 1 else { CLI.usage("--packets must be at least 1") }
                return SyntheticTrace.burst(packets: packets)
            case "border-router":
                guard duration > 0, duration <= 60 else { CLI.usage("--duration must be in (0, 60] seconds") }
                return BorderRouterModel.shortened(to: duration).generate(seed: seed)
            default:
                CLI.usage("unknown synthetic trace '\(kind)' (burst, border-router)")
            }
        }
    }

    func runScenarios(_ name: String) throws {
        let chosen: [any Scenario]
        if name == "all" {
            chosen = Scenarios.all
        } else if let s = Scenarios.named(name) {
            chosen = [s]
        } else {
            CLI.usage("unknown scenario '\(name)' (\(Scenarios.all.map(\.name).joined(separator: ", ")), all)")
        }
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            CLI.note("error: cannot create \(out): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        guard (1...100).contains(seeds) else { CLI.usage("--seeds must be 1...100, got \(seeds)") }
        var options = ScenarioOptions(seed: seed, fast: fast)
        options.pollIntervalNanoseconds = pollInterval
        for s in chosen {
            let start = Date()
            let output = s.run(options)
            if seeds > 1 {
                var csvs = [output.csv]
                for k in 1..<seeds {
                    var o = options
                    o.seed = seed &+ UInt64(k)
                    csvs.append(s.run(o).csv)
                }
                let path = (out as NSString).appendingPathComponent("\(output.name)-seeds.csv")
                if let merged = SeedConfidence.table(csvs) {
                    try merged.write(toFile: path, atomically: true, encoding: .utf8)
                    CLI.note("\(output.name): \(seeds) seeds (\(seed) … \(seed &+ UInt64(seeds - 1))), means and 95% confidence half-widths → \(path)")
                } else {
                    CLI.note("\(output.name): the \(seeds) seeds gave tables of different shapes; no \(path)")
                }
            }
            let seconds = Date().timeIntervalSince(start)
            let csvPath = (out as NSString).appendingPathComponent("\(output.name).csv")
            let jsonPath = (out as NSString).appendingPathComponent("\(output.name).json")
            try output.csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
            try (output.summary.serialized() + "\n").write(toFile: jsonPath, atomically: true, encoding: .utf8)
            var line = "\(output.name): \(s.title) → \(csvPath), \(jsonPath) (\(String(format: "%.1f", seconds)) s"
            if output.simulatedPackets > 0 {
                line += String(format: ", %.1f M packets, %.1f M packets/s", Double(output.simulatedPackets) / 1e6,
                               Double(output.simulatedPackets) / 1e6 / max(seconds, 1e-9))
            }
            CLI.note(line + ")")
            if !noPlot { SimulateCLI.plot(name: output.name, directory: out) }
        }
    }
}

/// Output helpers of `wirecap simulate`.
enum SimulateCLI {
    /// Runs Simulations/plot.py (next to this package's sources) if python3 is there.
    static func plot(name: String, directory: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Simulations/plot.py").path
        guard FileManager.default.fileExists(atPath: script) else {
            CLI.note("no plot: \(script) not found")
            return
        }
        let p = Process()
        // The system python3 carries python3-matplotlib (scripts/bootstrap); a pyenv
        // or venv python3 first in PATH may not.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = [script, "--out", directory, name]
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", script, "--out", directory, name]
        }
        do {
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 { CLI.note("plot.py failed for \(name) (status \(p.terminationStatus))") }
        } catch {
            CLI.note("no plot: cannot run python3 (\(error.localizedDescription))")
        }
    }

    static func json(_ r: SimulationResult) -> JSONValue {
        func queue(_ q: QueueResult) -> JSONValue {
            .object([
                ("queue", q.queue < 0 ? "all" : .int(q.queue)), ("offered", .int(q.offered)), ("delivered", .int(q.delivered)),
                ("capture_drops", .int(q.captureDrops)), ("delivery_drops", .int(q.deliveryDrops)),
                ("drops_pool_exhausted", .int(q.dropsPoolExhausted)), ("drops_no_buffer", .int(q.dropsNoBuffer)),
                ("consumed", .int(q.consumed)), ("offloaded_out_chunks", .int(q.offloadedOutChunks)),
                ("offloaded_in_chunks", .int(q.offloadedInChunks)), ("drop_rate", .rate(q.dropRate)),
            ])
        }
        let c = r.configuration
        return .object([
            ("engine", .string(c.engineLabel)), ("trace", .string(r.traceName)), ("queues", .int(c.queues)),
            ("ring", .int(c.ringSize)), ("consumer", .string(c.consumer.description)), ("replay", .string(c.replay.description)),
            ("steering", .string(c.steering.description)),
            ("virtual_seconds", .rate(Double(r.endTimeNanoseconds) / 1e9)), ("events", .int(r.events)),
            ("total", queue(r.total)), ("per_queue", .array(r.queues.map(queue))),
        ] + (r.flowOrder.map { f in
            [("flows", .object([("flows", .int(f.flows)), ("flows_split", .int(f.flowsSplit)), ("flows_moved", .int(f.flowsMoved)),
                                ("packets_out_of_order", .int(f.packetsOutOfOrder))]))]
        } ?? []))
    }

    static func printTable(_ r: SimulationResult) {
        let c = r.configuration
        print("\(c.engineLabel) on \(r.traceName): \(c.queues) queue(s), N=\(c.ringSize), consumer \(c.consumer), replay \(c.replay)")
        print("queue     offered   delivered  capture-drops  delivery-drops  drop-rate  offloaded(out/in)")
        for q in r.queues + [r.total] {
            let name = q.queue < 0 ? "all" : String(q.queue)
            print(String(format: "%-5@ %11llu %11llu %14llu %15llu %9.3f%%  %llu/%llu", name as NSString, q.offered, q.delivered,
                         q.captureDrops, q.deliveryDrops, q.dropRate * 100, q.offloadedOutChunks, q.offloadedInChunks)
                  + (c.spill == nil ? "" : "  spilled \(q.spilled), first drop at \(q.firstDropPacket)"))
        }
        if let f = r.flowOrder {
            print(String(format: "flows: %llu processed, %llu (%.2f%%) split (two consumers at once), %llu moved whole, %llu packets out of order within their flow",
                         f.flows, f.flowsSplit, f.splitRate * 100, f.flowsMoved, f.packetsOutOfOrder))
        }
        print(String(format: "virtual time %.3f s, %llu events, %.1f M packets/s simulated", Double(r.endTimeNanoseconds) / 1e9,
                     r.events, r.packetsPerSecond / 1e6))
    }
}
