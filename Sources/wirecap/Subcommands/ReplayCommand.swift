import ArgumentParser
import Foundation
import WireCapCore
import WireCapTrace
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap replay`: send a trace file through per-queue AF_XDP tx sockets.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a pcap/pcapng trace at its recorded speed, steering packets to tx queues by Toeplitz RSS.",
        discussion: """
        Each packet goes to the tx queue its Toeplitz hash selects (82599-style 128-entry table, \
        standard Microsoft key unless --key) or round-robin; at --speed 1.0 the recorded gaps are kept \
        and the pacing error (send time − due time, after the sendto) is reported. Non-Ethernet traces \
        (SLL, SLL2, raw IP) get a synthetic Ethernet header. Exit status: 0 ok, 1 runtime failure, 2 usage error.
        """)

    @Option(name: .short, help: "Trace file (pcap or pcapng).")
    var readFile: String

    @Option(name: .short, help: "Interface to send on.")
    var interface: String

    @Option(help: "Network namespace to send from (/var/run/netns/NAME), e.g. a testbed's name.")
    var netns: String?

    @Option(name: .short, help: "Tx queues, e.g. 0,1 (default: all of the interface's tx queues).")
    var queues: String?

    @Option(help: "1.0 = recorded timing, a factor (2 = twice as fast), or 'max'.")
    var speed: String = "1.0"

    @Option(help: "Send the trace this many times.")
    var loop = 1

    @Option(help: "toeplitz or roundrobin.")
    var rss: String = "toeplitz"

    @Option(help: "Toeplitz key as hex (40 bytes; default: the standard Microsoft key).")
    var key: String?

    @Option(help: "CPUs to pin sender threads to.")
    var cpus: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    var speedFactor: Double?? {
        if speed == "max" { return .some(nil) }
        guard let s = Double(speed), s > 0 else { return nil }
        return .some(s)
    }

    func validate() throws {
        if speedFactor == nil { CLI.usage("--speed must be a factor > 0 or 'max', got '\(speed)'") }
        if loop < 1 { CLI.usage("--loop must be at least 1") }
        if rss != "toeplitz" && rss != "roundrobin" { CLI.usage("--rss must be toeplitz or roundrobin, got '\(rss)'") }
        if let k = key {
            guard let bytes = Self.hexBytes(k), bytes.count >= 16 else { CLI.usage("--key must be hex bytes (40 for IPv6), got '\(k)'") }
            _ = bytes
        }
        if let q = queues, IndexList.parse(q) == nil { CLI.usage("invalid queue list '\(q)'") }
        if let c = cpus, IndexList.parse(c) == nil { CLI.usage("invalid CPU list '\(c)'") }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.filter { $0 != ":" && $0 != " " })
        guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let b = UInt8(String(digits[i...i + 1]), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }

    /// Tx queue count of `interface`, also inside a namespace (`ip -n NS -d link show`).
    func txQueueCount() -> Int {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = (netns.map { ["ip", "-n", $0] } ?? ["ip"]) + ["-d", "link", "show", interface]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return 1 }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard let r = text.range(of: "numtxqueues ") else { return 1 }
        return Int(text[r.upperBound...].prefix { $0.isNumber }) ?? 1
    }

    func run() throws {
        let queueList = queues.flatMap(IndexList.parse) ?? Array(0..<txQueueCount())
        let steering: ReplayTrace.Steering = rss == "roundrobin"
            ? .roundRobin : .toeplitz(key: key.flatMap(Self.hexBytes) ?? ToeplitzHasher.microsoftKey)
        let trace: ReplayTrace
        do {
            trace = try ReplayTrace(path: readFile, queueCount: queueList.count, steering: steering)
        } catch { CLI.fail("\(error)") }
        var config = ReplayConfiguration(interface: interface, queues: queueList)
        config.speed = speedFactor!
        config.loops = loop
        config.cpus = cpus.flatMap(IndexList.parse) ?? []
        let result: ReplayResult
        do {
            if let ns = netns { result = try Replayer.run(trace, config, inNamespace: ns) } else { result = try Replayer.run(trace, config) }
        } catch { CLI.fail(error) }
        // A file cut short was sent up to the cut (said once, on stderr).
        if let cut = trace.truncation { CLI.note("warning: \(cut.cutShortWarning(packetsRead: trace.count + trace.skipped))") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        for q in result.queues {
            print("queue \(q.queue): sent \(q.sent) packets, \(q.bytes) bytes in \(String(format: "%.3f", q.seconds)) s")
        }
        print("total: sent \(result.sent) of \(result.read) packets" + (result.skipped > 0 ? " (\(result.skipped) skipped: too long or unknown link type)" : ""))
        if let p = result.pacing {
            print(String(format: "pacing error (send − due): mean |e| %.1f µs, median %.1f µs, p99 %.1f µs, max %.1f µs over %d packets",
                         p.meanAbsolute / 1e3, p.median / 1e3, p.p99 / 1e3, p.maximum / 1e3, p.packets))
        }
    }
}
