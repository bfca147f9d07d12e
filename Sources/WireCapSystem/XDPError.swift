#if canImport(Glibc)
import Glibc
#endif
import WireCapCore

/// The one error type of the AF_XDP engine: what was attempted, the errno the
/// kernel or library gave (0 when the failure is not an errno), and one line a
/// person can act on.
///
/// Every syscall, libxdp, libbpf and libnuma call goes through one of the
/// helpers in `Syscall.swift`, which build these; nothing else in the module
/// reads `errno`.
public struct XDPError: Error, Sendable, CustomStringConvertible {
    /// How the CLI should treat the failure.
    public enum Kind: Sendable, Hashable {
        /// A syscall or library call failed at run time.
        case system
        /// The request names something that does not exist or is out of range
        /// (unknown interface, queue beyond the device): a usage error.
        case usage
        /// The process lacks the privileges (root or CAP_NET_ADMIN + CAP_BPF).
        case permission
        /// The interface or kernel cannot do AF_XDP / XDP.
        case unsupported
        /// Something else holds the resource (a program already attached).
        case busy
    }

    /// The failed operation, e.g. `"bpf_xdp_attach(cap0)"`.
    public var operation: String
    /// The errno value, or 0.
    public var errno: Int32
    /// The category (drives the CLI exit code).
    public var kind: Kind
    /// A one-line explanation; when empty, the operation and `strerror(errno)` are shown.
    public var message: String

    public init(_ operation: String, errno: Int32 = 0, kind: Kind? = nil, message: String = "") {
        self.operation = operation
        self.errno = errno
        self.kind = kind ?? Self.kind(for: errno)
        self.message = message
    }

    package static func kind(for errno: Int32) -> Kind {
        switch errno {
        case EPERM, EACCES: .permission
        case EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT: .unsupported
        case EBUSY, EEXIST: .busy
        case ENODEV, ENXIO: .usage
        default: .system
        }
    }

    /// `strerror(errno)` as a Swift string.
    public var errnoDescription: String {
        errno == 0 ? "" : String(cString: strerror(errno))
    }

    public var description: String {
        if !message.isEmpty { return message }
        if kind == .permission {
            return "\(operation): \(errnoDescription) (needs root or CAP_NET_ADMIN+CAP_NET_RAW+CAP_BPF, and CAP_IPC_LOCK or a large enough memlock limit)"
        }
        return "\(operation) failed: \(errnoDescription) (errno \(errno))"
    }

    // MARK: Named failures

    package static func usage(_ operation: String, _ message: String) -> XDPError {
        XDPError(operation, kind: .usage, message: message)
    }

    /// A trace file that could not be read on (a runtime failure, exit 1).
    package static func trace(_ message: String) -> XDPError {
        XDPError("read trace", kind: .system, message: message)
    }
}
