import Foundation
import Synchronization

/// A `wirecap` (or any) child process whose stdout and stderr are collected on
/// their own threads (no pipe can fill up and block it), with waits for a line
/// and a deadline instead of fixed sleeps: tests order events by what the
/// process says (its readiness line), never by time.
public final class WirecapProcess: @unchecked Sendable {
    public let process: Process
    /// Bytes one reader thread appends and any thread reads.
    final class Buffer: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }
    private let out = Buffer()
    private let err = Buffer()
    private var readers: [Thread] = []
    private let done = Counter()
    /// Reader threads that reached end of file.
    final class Counter: Sendable {
        let value = Mutex<Int>(0)
    }

    /// Starts `argv` (argv[0]: the executable's path).
    public init(_ argv: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for (pipe, sink) in [(o, out), (e, err)] {
            let handle = pipe.fileHandleForReading
            let t = Thread { [done] in
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    sink.bytes.withLock { $0 += data }
                }
                done.value.withLock { $0 += 1 }
            }
            t.start()
            readers.append(t)
        }
    }

    /// What the process wrote to stdout / stderr so far.
    public var stdout: String { String(decoding: out.bytes.withLock { $0 }, as: UTF8.self) }
    public var stderr: String { String(decoding: err.bytes.withLock { $0 }, as: UTF8.self) }

    /// Waits until `condition` holds (checked every 10 ms) or `seconds` pass.
    /// - Returns: whether it held.
    @discardableResult
    public static func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return condition()
    }

    /// Waits until stdout or stderr contains `text`, or the process exits, or
    /// `seconds` pass. - Returns: whether the text appeared.
    @discardableResult
    public func waitFor(_ text: String, seconds: Double = 30) -> Bool {
        Self.wait(seconds: seconds) { stdout.contains(text) || stderr.contains(text) || !process.isRunning }
        return stdout.contains(text) || stderr.contains(text)
    }

    /// Waits for WireCap's readiness line (`capturing on` on stderr, or the JSON
    /// `{"event":"ready"` line on stdout): every socket receives from then on.
    @discardableResult
    public func waitReady(seconds: Double = 60) -> Bool {
        Self.wait(seconds: seconds) {
            stderr.contains("capturing on") || stdout.contains("\"event\":\"ready\"") || !process.isRunning
        }
        return stderr.contains("capturing on") || stdout.contains("\"event\":\"ready\"")
    }

    /// Sends `signal` to the process.
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit (killing it after `seconds`) and for its output.
    /// - Returns: exit status (or 128 + signal), stdout, stderr.
    @discardableResult
    public func finish(seconds: Double = 120) -> (status: Int32, stdout: String, stderr: String) {
        if !Self.wait(seconds: seconds, until: { !process.isRunning }) { process.terminate() }
        process.waitUntilExit()
        Self.wait(seconds: 10) { done.value.withLock { $0 } == 2 }
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, stdout, stderr)
    }
}
