import ArgumentParser
import Foundation

/// `wirecap`: lossless zero-copy packet capture on AF_XDP (the WireCAP design).
@main
struct WireCapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirecap",
        abstract: "Lossless, zero-copy packet capture on AF_XDP (WireCAP: ring-buffer pools + buddy-group offload).",
        subcommands: [
            CaptureCommand.self,
            GenerateCommand.self,
            TestbedCommand.self,
            SimulateCommand.self,
            DemoCommand.self,
            ReplayCommand.self, TraceCommand.self,
            AnalyzeCommand.self,
            ExecCommand.self,
        ]
    )

    /// Parses and runs like ArgumentParser's default `main()`, but with this
    /// tool's exit codes: usage errors (including parse errors, which
    /// ArgumentParser reports as 64, EX_USAGE) exit 2 with one line on stderr;
    /// help and version exit 0; runtime failures exit 1.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)   // --help, --version: printed by ArgumentParser, status 0
            }
            if code.rawValue == 64 {
                // One line: the reason and where to look, without ArgumentParser's usage block.
                let reason = message(for: error).replacingOccurrences(of: "\n", with: " ")
                    .replacingOccurrences(of: "Error: ", with: "")
                let sub = CommandLine.arguments.dropFirst().first { !$0.hasPrefix("-") } ?? ""
                let help = configuration.subcommands.contains { $0.configuration.commandName == sub } ? "wirecap \(sub) --help" : "wirecap --help"
                FileHandle.standardError.write(Data("wirecap: error: \(reason) (see `\(help)`)\n".utf8))
                Foundation.exit(2)
            }
            let message = fullMessage(for: error)
            if !message.isEmpty {
                FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}
