#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CXDP
import WireCapSystem

/// An engine's capture threads and their stop signal, the same for both backends:
/// a running flag the threads poll, an eventfd that also wakes a thread blocked
/// in `poll()`, and at stop a join followed by waking every consumer, so none
/// sleeps past the end.
///
/// Orderings: ``running`` is stored and loaded relaxed. Thread creation orders
/// the `true` store in ``start(count:items:name:cpus:nice:_:)`` before each
/// thread's first load; the eventfd write and `join` order everything after the
/// `false` store in ``stop()``.
///
/// - warning: ``start(count:items:name:cpus:nice:_:)`` and ``stop()`` from the
///   engine's control thread only.
package final class CaptureThreadSet: @unchecked Sendable {
    /// `true` while the capture threads should run.
    package let running: UnsafeAtomic<Bool>
    /// The eventfd a polling capture thread waits on beside its sockets (-1 if none).
    package let stopFD: Int32
    private var threads: [SystemThread] = []
    private let wakeups: ConsumerWakeups

    package init(wakeups: ConsumerWakeups) {
        self.wakeups = wakeups
        running = .create(false)
        stopFD = (try? syscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }) ?? -1
    }

    deinit {
        running.destroy()
        if stopFD >= 0 { Sys.close(stopFD) }
    }

    /// Starts `count` threads named `name-t`, thread t serving the items at
    /// positions ≡ t (mod count); `makeWorker` builds each one's loop.
    package func start<Item>(count: Int, items: [Item], name: String, cpus: [Int], nice: Int32?,
                             _ makeWorker: (Int, [Item]) -> @Sendable () -> Void) throws(XDPError) {
        running.store(true, ordering: .relaxed)
        try SystemThread.startCaptureThreads(count: count, items: items, name: name, cpus: cpus, nice: nice,
                                             into: &threads, makeWorker)
    }

    /// Tells the threads to finish (they drain first, see each backend's loop),
    /// joins them, and wakes every consumer. Idempotent.
    package func stop() {
        running.store(false, ordering: .relaxed)
        if stopFD >= 0 {
            var one: UInt64 = 1
            _ = write(stopFD, &one, 8)
        }
        threads.forEach { $0.join() }
        threads = []
        wakeups.wakeAll()
    }
}
