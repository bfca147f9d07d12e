#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Synchronization
import WireCapCore
import WireCapSystem

/// The part of a capture engine that is the same for both backends: the buddy
/// group, the lifecycle and its transitions, the capture threads and their stop
/// signal, the consumer wake-ups, where packets live, and the consumer endpoints,
/// each handed out once. The AF_XDP and AF_PACKET engines each own one and add
/// only what their kernel interface needs, as hooks of ``start(_:threads:name:policy:drainTimeout:openIntake:undo:)``,
/// ``stop(closeIntake:afterJoin:)`` and ``close(release:)``.
///
/// Orderings: ``running`` is stored and loaded relaxed. Thread creation orders
/// the `true` store in `start` before each thread's first load; the eventfd write
/// and `join` order everything after the `false` store in `stop`. The lifecycle
/// and the claimed-consumer bits are under one lock: other threads read the
/// lifecycle (the API's ledger, the statistics ticker).
///
/// - warning: `start`, `stop`, `close` and `consumer(_:)` from the engine's control thread.
public final class EngineShell: @unchecked Sendable {
    /// The interface captured from.
    package let interface: String
    /// The label of each group index (AF_XDP: device rx queue; AF_PACKET: socket number).
    package let queues: [Int]
    /// The lanes, pools (or descriptor tables) and counters.
    package let group: BuddyGroup
    /// The settings the engine was opened with.
    package let settings: EngineSettings
    /// Futex words consumers sleep on while their capture queue is empty.
    package let wakeups: ConsumerWakeups
    /// `true` while the capture threads should run.
    private let running: UnsafeAtomic<Bool>
    /// The eventfd a polling capture thread waits on beside its sockets (-1 if none).
    private let stopFD: Int32
    private var threads: [SystemThread] = []
    private struct Shared {
        var lifecycle = CaptureLifecycle()
        var claimed: [Bool]
    }
    private let shared: Mutex<Shared>
    /// Memory base per group index (descriptor addresses are offsets from it).
    private let bases: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Queue label per group index.
    private let labels: UnsafeMutablePointer<Int>
    /// Promiscuous mode on the interface while the engine is open (nil: not asked
    /// for, or the kernel refused and a warning said so). Released by ``close``.
    private var promiscuous: PromiscuousMode?

    /// - Parameter bases: per group index, the memory descriptor addresses are
    ///   offsets from (UMEM area, ring mmap base); valid until the engine is released.
    package init(interface: String, queues: [Int], group: BuddyGroup, settings: EngineSettings,
                 bases memory: [UnsafeMutableRawPointer], promiscuous: consuming PromiscuousMode? = nil) {
        self.promiscuous = promiscuous
        precondition(memory.count == queues.count && group.queueCount == queues.count, "EngineShell: one base per queue")
        self.interface = interface
        self.queues = queues
        self.group = group
        self.settings = settings
        wakeups = ConsumerWakeups(consumers: queues.count)
        running = .create(false)
        stopFD = (try? Sys.eventFD()) ?? -1
        shared = Mutex(Shared(claimed: Array(repeating: false, count: queues.count)))
        bases = .allocate(capacity: queues.count)
        labels = .allocate(capacity: queues.count)
        for i in queues.indices {
            (bases + i).initialize(to: memory[i])
            (labels + i).initialize(to: queues[i])
        }
    }

    deinit {
        running.destroy()
        if stopFD >= 0 { Sys.close(stopFD) }
        bases.deallocate()
        labels.deallocate()
    }

    /// Where the capture is in its life. Any thread.
    package var lifecycle: CaptureLifecycle { shared.withLock { $0.lifecycle } }

    /// Where packets live, per group index (see ``CaptureBackend/memoryLayout``).
    package var memoryLayout: (bases: UnsafePointer<UnsafeMutableRawPointer>, deviceQueues: UnsafePointer<Int>) {
        (UnsafePointer(bases), UnsafePointer(labels))
    }

    /// Capture threads for `queueCount` queues: the setting, else the default, at most one per queue.
    package func captureThreadCount(queues queueCount: Int) -> Int {
        min(settings.captureThreads ?? SystemThread.defaultCaptureThreads(queues: queueCount), queueCount)
    }

    /// **opened → started.** Starts `threads` capture threads (thread t serves the
    /// queues at positions ≡ t mod `threads`, each running a ``CaptureLoop`` with
    /// its own `policy()`), then calls `openIntake` (XSKMAP inserts, AF_PACKET
    /// filters opened): when it returns, every socket receives (readiness). On a
    /// failure it unwinds like a stop: `undo` closes the intake, the threads drain
    /// and are joined, `afterUndo` runs; the engine stays opened (a new `start`
    /// may be tried, or it is closed).
    package func start<Policy: CapturePolicy>(
        _ items: [Policy.Queue], threads: Int, name: String, policy: () -> Policy, drainTimeout: UInt64,
        openIntake: () throws(XDPError) -> Void, undo: () -> Void, afterUndo: () -> Void
    ) throws(XDPError) {
        precondition(lifecycle.state == .opened, "\(name): start() in state \(lifecycle.state)")
        // A failed start left the stop eventfd readable: empty it, or the new threads'
        // poll() would return at once forever.
        if stopFD >= 0 { Sys.reset(eventFD: stopFD) }
        running.store(true, ordering: .relaxed)
        do {
            let running = self.running, stopFD = self.stopFD, wakeups = self.wakeups, group = self.group
            try SystemThread.startCaptureThreads(count: threads, items: items, name: name, cpus: settings.captureCPUs,
                                                 nice: settings.captureThreadNice, into: &self.threads) { _, served in
                let loop = CaptureLoop(queues: served, policy: policy(), running: running, stopFD: stopFD,
                                       wakeups: wakeups, group: group, drainTimeout: drainTimeout)
                return { loop.run() }
            }
            try openIntake()
        } catch {
            undo()
            joinThreads()
            afterUndo()
            throw error
        }
        shared.withLock { $0.lifecycle.advance(to: .started) }
    }

    /// **started → stopping → drained.** `closeIntake` stops the kernel steering
    /// packets here; the capture threads drain what it still delivers, flush every
    /// partial chunk and exit (``CaptureLoop``); `afterJoin` runs once they are
    /// joined (this thread is then the counters' only writer). Consumers keep
    /// running and memory stays mapped. Idempotent; a no-op unless started.
    package func stop(closeIntake: () -> Void, afterJoin: () -> Void) {
        guard lifecycle.needsStop else { return }
        shared.withLock { $0.lifecycle.advance(to: .stopping) }
        closeIntake()
        joinThreads()
        afterJoin()
        shared.withLock { $0.lifecycle.advance(to: .drained) }
    }

    /// Stops if needed (with the given hooks), then `release` frees every kernel
    /// resource (**closed**). Idempotent.
    package func close(closeIntake: () -> Void, afterJoin: () -> Void, release: () -> Void) {
        guard lifecycle.state != .closed else { return }
        stop(closeIntake: closeIntake, afterJoin: afterJoin)
        release()
        promiscuous = nil   // the membership's socket closes: the interface's earlier state returns
        shared.withLock { $0.lifecycle.advance(to: .closed) }
    }

    /// Promiscuous mode on `interface` if `settings` ask for it: nil when they do not,
    /// or, with a one-line warning (unless quiet), when the kernel refuses; capture
    /// then goes on with what the interface receives, as libpcap does.
    package static func promiscuousMode(_ interface: String, _ settings: EngineSettings) -> PromiscuousMode? {
        guard settings.promiscuous else { return nil }
        do {
            return try PromiscuousMode(interface: interface)
        } catch {
            if !settings.quiet {
                Sys.printError("wirecap: warning: \(interface): promiscuous mode not set (\(error.message)); capturing only the frames it receives anyway\n")
            }
            return nil
        }
    }

    /// Tells the threads to finish (they drain first, see ``CaptureLoop``), joins
    /// them, and wakes every consumer so none sleeps past the end.
    private func joinThreads() {
        running.store(false, ordering: .relaxed)
        if stopFD >= 0 { Sys.signal(eventFD: stopFD) }
        threads.forEach { $0.join() }
        threads = []
        wakeups.wakeAll()
    }

    /// The consumer endpoint of group index `index`, handed out once: a second
    /// claim of the same queue is a programming error and traps (two consumers of
    /// one capture queue would break its single-consumer ring).
    package func consumer(_ index: Int) -> CaptureConsumer {
        precondition(index >= 0 && index < queues.count, "consumer index \(index) out of range 0..<\(queues.count)")
        let first = shared.withLock { s -> Bool in
            defer { s.claimed[index] = true }
            return !s.claimed[index]
        }
        precondition(first, "the consumer of queue \(queues[index]) on \(interface) was already handed out: one consumer per queue")
        return CaptureConsumer(index: index, group: group, bases: UnsafePointer(bases), deviceQueues: UnsafePointer(labels),
                               wakeups: wakeups)
    }

    /// Wakes consumer `index` if it sleeps for a chunk, so it sees a stop at once. Any thread.
    package func interruptConsumer(_ index: Int) { wakeups.interrupt(consumer: index) }

    /// Per-queue statistics (group order). Any thread.
    package func statistics() -> [QueueStatistics] {
        (0..<queues.count).map { group.statistics(queue: $0) }
    }
}
