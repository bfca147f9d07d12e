#if canImport(Glibc)
import Glibc
#endif
import WireCapCore

/// SIGINT/SIGTERM/SIGHUP/SIGPIPE handling without handlers: the signals are
/// blocked in every thread (block before creating threads; they inherit the
/// mask) and the control thread collects them with `sigtimedwait`, so each one
/// stops the capture in order (drained, files finalised, program detached).
/// SIGHUP is an ssh session that dropped; SIGPIPE is `-w /dev/stdout | head`
/// closing the pipe (the write then fails with EPIPE, counted by the ledger).
public enum Signals {
    package static func set() -> sigset_t {
        var s = sigset_t()
        sigemptyset(&s)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&s, signal) }
        return s
    }

    /// Blocks the four signals in the calling thread (and threads it creates later).
    public static func block() {
        var s = set()
        pthread_sigmask(SIG_BLOCK, &s, nil)
    }

    /// Waits up to `milliseconds` for one of them. - Returns: the signal, or nil.
    public static func wait(milliseconds: Int) -> Int32? {
        var s = set()
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let r = sigtimedwait(&s, nil, &timeout)
        return r > 0 ? r : nil
    }

    /// A pending signal, if any (non-blocking).
    public static func poll() -> Int32? { wait(milliseconds: 0) }

    /// `SIGINT`, `SIGTERM`, … for the report.
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGPIPE: "SIGPIPE"
        default: "signal \(signal)"
        }
    }
}
