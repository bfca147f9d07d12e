import ArgumentParser
import Foundation
import WireCapTrace

/// `wirecap trace`: trace files (synthetic ones for tests and the simulator).
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Write reproducible synthetic traces; inspect trace files.",
        subcommands: [Synth.self, Info.self])

    /// `wirecap trace synth --kind … -o FILE`.
    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a seeded synthetic trace (nanosecond pcap, Ethernet).",
            discussion: """
            border-router: the calibrated border-router model (--duration seconds). burst: --packets \
            minimum frames back to back at 10 Gb/s in one flow. flows: --packets packets over --flows \
            5-tuples (IPv4/IPv6, UDP/TCP) at --rate packets/s with exponential gaps. Same seed, same file.
            """)

        @Option(help: "border-router, burst or flows.")
        var kind: String

        @Option(name: .short, help: "Output file.")
        var output: String

        @Option(help: "Seed of the generator.")
        var seed: UInt64 = 1

        @Option(help: "Packets (burst, flows).")
        var packets = 10_000

        @Option(help: "Flows (flows).")
        var flows = 64

        @Option(help: "Packets per second (flows).")
        var rate: Double = 10_000

        @Option(help: "Seconds of traffic (border-router).")
        var duration: Double = 1

        @Option(name: .customShort("s"), help: "Snap length of the file.")
        var snapLength = 65_535

        func validate() throws {
            guard ["border-router", "burst", "flows"].contains(kind) else {
                throw ValidationError("--kind must be border-router, burst or flows, got '\(kind)'")
            }
            guard packets >= 0, flows >= 1, rate > 0, duration > 0, snapLength >= 60 else {
                throw ValidationError("--packets ≥ 0, --flows ≥ 1, --rate > 0, --duration > 0, -s ≥ 60")
            }
        }

        func run() throws {
            let trace: PacketTrace
            switch kind {
            case "burst": trace = SyntheticTrace.burst(packets: packets)
            case "flows": trace = SyntheticTrace.flows(packets: packets, flows: flows, packetsPerSecond: rate, seed: seed)
            default:
                var model = BorderRouterModel()
                model.durationSeconds = duration
                trace = SyntheticTrace.borderRouter(model, seed: seed)
            }
            var t = trace
            if t.startNanoseconds == 0 { t.startNanoseconds = 1_700_000_000_000_000_000 }
            do { try t.writePcap(path: output, snapLength: snapLength) } catch { CLI.fail("\(error)") }
            print("wrote \(t.count) packets, \(t.flowTuples.count) flows, \(String(format: "%.3f", Double(t.durationNanoseconds) / 1e9)) s to \(output)")
        }
    }

    /// `wirecap trace info FILE`.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read a pcap/pcapng file and print what it holds.")

        @Argument(help: "The trace file.")
        var file: String

        @Flag(help: "A file cut short in the middle of a packet is an error (exit 1); without it the complete packets are counted and one warning printed.")
        var strict = false

        func run() throws {
            var count = 0, bytes = 0
            var links = Set<UInt32>()
            var first: UInt64?, last: UInt64 = 0
            var earliest = UInt64.max, latest: UInt64 = 0
            let format: TraceFileFormat
            var truncation: String?
            var declared: [UInt32] = []
            do {
                var stream = try TraceStream(path: file)
                format = stream.format
                do throws(TraceError) {
                    while let p = try stream.next() {
                        count += 1; bytes += p.data.count; links.insert(p.linkType)
                        if first == nil { first = p.timestamp }
                        last = p.timestamp
                        earliest = min(earliest, p.timestamp)
                        latest = max(latest, p.timestamp)
                    }
                } catch where error.isCutShort {
                    truncation = error.cutShortWarning(packetsRead: count)
                }
                declared = stream.declaredLinkTypes
            } catch {
                CLI.fail("\(error)\(count > 0 ? " (\(count) packets read before)" : "")")
            }
            // The span from the earliest to the latest stamp: files whose clock went
            // backwards have a true (non-negative) span, never a wrapped one.
            let seconds = count == 0 ? 0 : Double(latest - earliest) / 1e9
            func stamp(_ t: UInt64) -> String { String(format: "%llu.%09llu", t / 1_000_000_000, t % 1_000_000_000) }
            let span = first.map { "first \(stamp($0)), last \(stamp(last))" + (earliest < $0 || latest > last ? " (timestamps out of order)" : "") } ?? "no packets"
            if let truncation {
                if strict { CLI.fail("\(truncation) (--strict)") }
                CLI.note("warning: \(truncation)")
            }
            print("\(file): \(format), link types \((links.isEmpty ? Set(declared) : links).sorted().map(String.init).joined(separator: ",")), \(count) packets, \(bytes) bytes, \(String(format: "%.6f", seconds)) s, \(span)")
        }
    }
}
