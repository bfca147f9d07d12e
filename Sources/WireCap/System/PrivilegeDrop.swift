#if canImport(Glibc)
import Glibc
#endif

/// tcpdump's `-Z USER`: give up root once the sockets and the XDP program are set up.
///
/// The process switches its groups, gid and uid to `USER`'s (setgroups, setgid,
/// setuid: real, effective and saved ids all change, so root cannot be regained).
/// Unlike tcpdump, WireCap must still detach its XDP program and remove its
/// XSKMAP entries at exit, which needs CAP_NET_ADMIN and CAP_BPF: those two
/// capabilities (and no other) are kept across the switch (`PR_SET_KEEPCAPS`
/// then `capset`). Everything else root could do is gone.
public enum PrivilegeDrop {
    /// The uid and gid of `user`, or nil when no such user exists.
    public static func lookup(_ user: String) -> (uid: uid_t, gid: gid_t)? {
        guard let pw = getpwnam(user) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// Switches to `user`, keeping CAP_NET_ADMIN and CAP_BPF.
    /// - Throws: ``CaptureError`` `.usage` for an unknown user, `.permission`/`.system` when a call fails.
    public static func drop(to user: String) throws(CaptureError) {
        guard let (uid, gid) = lookup(user) else {
            throw CaptureError(.usage, "unknown user '\(user)' for -Z: name an existing account (e.g. nobody)")
        }
        guard geteuid() == 0 else {
            throw CaptureError(.permission, "-Z \(user) needs to start as root (running as uid \(geteuid()))")
        }
        guard let prctl = symbol("prctl", as: PrctlFn.self), let capset = symbol("capset", as: CapsetFn.self) else {
            throw CaptureError(.system, "prctl/capset not found in libc: cannot keep capabilities for -Z")
        }
        let prSetKeepCaps: Int32 = 8
        guard prctl(prSetKeepCaps, 1, 0, 0, 0) == 0 else { throw failure("prctl(PR_SET_KEEPCAPS)") }
        var groups = [gid]
        guard setgroups(1, &groups) == 0 else { throw failure("setgroups(\(gid))") }
        guard setgid(gid) == 0 else { throw failure("setgid(\(gid))") }
        guard setuid(uid) == 0 else { throw failure("setuid(\(uid))") }
        // struct __user_cap_header_struct { u32 version; int pid; } and two
        // __user_cap_data_struct { u32 effective, permitted, inheritable; } (version 3).
        var header: (UInt32, Int32) = (0x2008_0522, 0)
        let netAdmin: UInt32 = 1 << 12            // CAP_NET_ADMIN = 12 (word 0)
        let bpf: UInt32 = 1 << (39 - 32)          // CAP_BPF = 39 (word 1)
        var data: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (netAdmin, netAdmin, 0, bpf, bpf, 0)
        let r = withUnsafeMutablePointer(to: &header) { h in
            withUnsafeMutablePointer(to: &data) { d in capset(UnsafeMutableRawPointer(h), UnsafeMutableRawPointer(d)) }
        }
        guard r == 0 else { throw failure("capset(CAP_NET_ADMIN, CAP_BPF)") }
        _ = prctl(prSetKeepCaps, 0, 0, 0, 0)
    }

    typealias PrctlFn = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    typealias CapsetFn = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32

    /// libc functions Swift cannot import (prctl is variadic; capset has no glibc header).
    private static func symbol<T>(_ name: String, as: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: T.self)
    }

    private static func failure(_ call: String) -> CaptureError {
        let e = errno
        return CaptureError(e == EPERM ? .permission : .system, "\(call) failed: \(String(cString: strerror(e))) (errno \(e))")
    }
}
