import Foundation
import Atomics
import WireCapTestbed
#if canImport(Glibc)
import Glibc
#endif

/// What every live test target needs to get a veth testbed of its own: whether
/// live tests run here, a unique name, a testbed that is always removed.
public enum LiveTestbeds {
    /// Live tests run as root, and always in CI (`CI=true`): there a missing
    /// privilege or a kernel without veth/netns must fail the suite, not skip it.
    /// Elsewhere they skip, saying why.
    public static var enabled: Bool { geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Why a live test skipped.
    public static let skipReason = "needs root (CAP_NET_ADMIN+CAP_BPF and network namespaces): run the suite as root (in CI, CI=true, it runs and fails instead)"

    private static let counter = ManagedAtomic<Int>(0)

    /// A testbed name unique to this process and call (≤ 12 characters: interface
    /// names derive from it); `prefix` tells the test targets' testbeds apart.
    public static func uniqueName(prefix: String = "wt") -> String {
        // Relaxed: a unique number is all it gives.
        let n = counter.wrappingIncrementThenLoad(ordering: .relaxed)
        return "\(prefix)\(getpid() % 100_000)x\(n)"
    }

    /// Runs `body` with a fresh testbed and always removes it.
    public static func withTestbed<T>(queues: Int, prefix: String = "wt", _ body: (Testbed) throws -> T) throws -> T {
        let bed = try Testbed.up(name: uniqueName(prefix: prefix), queues: queues)
        defer { bed.down() }
        return try body(bed)
    }
}
