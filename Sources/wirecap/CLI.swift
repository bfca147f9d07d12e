import Foundation
import WireCap
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// The one error printer of the command line: every failure is one line on
/// stderr, `wirecap: error: …`, and the exit status says its kind (2 for a usage
/// error, 1 for a failure at run time).
enum CLI {
    /// Prints `wirecap: error: …` and exits 2 (usage error).
    static func usage(_ message: String) -> Never {
        line("error: \(message)")
        exit(2)
    }

    /// Prints `wirecap: error: …` and exits 1 (a failure at run time).
    static func fail(_ message: String) -> Never {
        line("error: \(message)")
        exit(1)
    }

    /// Prints an engine error on one line; exits 2 for usage errors, 1 otherwise.
    static func fail(_ error: XDPError) -> Never {
        line("error: \(error.description)")
        exit(error.kind == .usage ? 2 : 1)
    }

    /// Prints an API error on one line; exits 2 for usage errors, 1 otherwise.
    static func fail(_ error: CaptureError) -> Never {
        line("error: \(error.message)")
        exit(error.kind == .usage ? 2 : 1)
    }

    /// Prints `wirecap: …` (a warning or a note) on stderr.
    static func note(_ message: String) {
        line(message)
    }

    private static func line(_ text: String) {
        FileHandle.standardError.write(Data("wirecap: \(text.replacingOccurrences(of: "\n", with: " "))\n".utf8))
    }
}
