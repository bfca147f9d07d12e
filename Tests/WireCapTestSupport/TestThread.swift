#if canImport(Glibc)
import Glibc
#endif

/// A plain pthread for stress tests: no executor, no locks between the two sides.
public final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    /// Starts `body` on a new thread.
    public init(_ body: @escaping () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the body to return.
    public func join() { pthread_join(thread, nil) }
}
