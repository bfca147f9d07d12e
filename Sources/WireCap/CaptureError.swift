import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket

/// Why opening or running a capture failed: one line naming the thing at fault,
/// with a fix where one exists.
public struct CaptureError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure (drives the CLI's exit code: ``Kind/usage`` → 2, else 1).
    public enum Kind: Sendable, Hashable {
        /// A bad argument: unknown interface, queue out of range, bad configuration or filter.
        case usage
        /// Missing privileges.
        case permission
        /// Something else holds the resource (an XDP program already attached).
        case busy
        /// The kernel or device cannot do it.
        case unsupported
        /// A system call failed at run time.
        case system
    }

    /// The category.
    public var kind: Kind
    /// The one-line message.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// Wraps an engine error, keeping its category and message.
    public init(_ error: XDPError) {
        let kind: Kind = switch error.kind {
        case .usage: .usage
        case .permission: .permission
        case .busy: .busy
        case .unsupported: .unsupported
        case .system: .system
        }
        self.init(kind, error.description.replacingOccurrences(of: "\n", with: " "))
    }

    public var description: String { message }
}
