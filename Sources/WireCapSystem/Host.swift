#if canImport(Glibc)
import Glibc
#endif
import WireCapCore

/// Facts about a network interface read from sysfs.
public enum InterfaceInfo {
    /// Number of rx queues (`/sys/class/net/IF/queues/rx-*`); 1 when unreadable.
    public static func rxQueueCount(_ name: String) -> Int {
        let n = Sys.directoryEntries("/sys/class/net/\(name)/queues").filter { $0.hasPrefix("rx-") }.count
        return max(n, 1)
    }

    /// `true` when the interface exists in the caller's network namespace.
    public static func exists(_ name: String) -> Bool { if_nametoindex(name) != 0 }

    /// The interface's `IFF_*` flags (`/sys/class/net/IF/flags`, hex); nil when unknown.
    public static func flags(_ name: String) -> UInt32? {
        Sys.readSmallFile("/sys/class/net/\(name)/flags").flatMap { UInt32($0.dropFirst(2), radix: 16) }
    }

    /// The interface's `ARPHRD_*` link type (`/sys/class/net/IF/type`; 1: Ethernet); nil when unknown.
    public static func linkType(_ name: String) -> Int? {
        Sys.readSmallFile("/sys/class/net/\(name)/type").flatMap { Int($0) }
    }

    /// Number of tx queues (`/sys/class/net/IF/queues/tx-*`); nil when sysfs does not show the
    /// interface (sysfs lists the namespace it was mounted in, not the thread's).
    public static func txQueueCount(_ name: String) -> Int? {
        let n = Sys.directoryEntries("/sys/class/net/\(name)/queues").filter { $0.hasPrefix("tx-") }.count
        return n > 0 ? n : nil
    }
}

/// Privilege checks with one clear message.
///
/// The minimal set for AF_XDP capture, found by running `wirecap capture` as
/// nobody with `setpriv --ambient-caps` (kernel 6.18): CAP_NET_ADMIN (attach XDP,
/// bind to a queue), CAP_BPF (maps and the program; CAP_SYS_ADMIN also does),
/// CAP_NET_RAW (the kernel refuses AF_XDP sockets without it: `xsk_umem__create`
/// then fails with EPERM), and CAP_IPC_LOCK or an RLIMIT_MEMLOCK as large as the
/// pools (``MemoryBudget/check()`` says which is missing).
public enum Privileges {
    /// A capability's bit and name.
    package struct Capability { let bit: UInt64; let name: String }
    static let netAdmin = Capability(bit: 12, name: "CAP_NET_ADMIN")
    static let netRaw = Capability(bit: 13, name: "CAP_NET_RAW")
    static let bpf = Capability(bit: 39, name: "CAP_BPF")
    static let sysAdmin = Capability(bit: 21, name: "CAP_SYS_ADMIN")

    /// Throws a `.permission` error naming every missing capability unless the
    /// process is root or holds CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (or
    /// CAP_SYS_ADMIN) in its effective set.
    public static func require() throws(XDPError) {
        if Sys.isRoot { return }
        let effective = Sys.effectiveCapabilities()
        func has(_ c: Capability) -> Bool { effective & (1 << c.bit) != 0 }
        var missing: [String] = []
        if !has(netAdmin) { missing.append(netAdmin.name) }
        if !has(netRaw) { missing.append(netRaw.name) }
        if !has(bpf) && !has(sysAdmin) { missing.append(bpf.name) }
        guard !missing.isEmpty else { return }
        throw XDPError("privileges", kind: .permission, message:
            "needs root or CAP_NET_ADMIN+CAP_NET_RAW+CAP_BPF (missing \(missing.joined(separator: ", "))), and CAP_IPC_LOCK or a memlock limit as large as the pools: run as root or `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep wirecap`")
    }
}
