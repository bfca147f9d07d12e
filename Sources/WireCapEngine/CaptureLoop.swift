#if canImport(Glibc)
import Glibc
#endif
import Atomics
import WireCapCore
import WireCapSystem

/// One receive queue (AF_XDP socket, AF_PACKET ring) as the shared capture loop
/// sees it. Each backend's per-queue type implements it; ``CaptureLoop`` runs them.
///
/// - warning: Only the capture thread serving the queue calls these (and, after
///   that thread is joined, the engine's control thread).
package protocol CaptureQueue: AnyObject {
    /// The socket the loop blocks on in `poll()` when every queue is idle.
    var pollFD: Int32 { get }
    /// When the kernel statistics were last read (the loop's monotonic clock).
    var lastStatisticsRead: UInt64 { get set }
    /// Reads the kernel's counters into the queue's counter block (a getsockopt).
    func publishKernelStatistics()
    /// Stopping: one pass that takes what the kernel still delivers.
    /// - Returns: packets taken (0: nothing more right now).
    func drainPass() -> Int
    /// Stopping: `true` once nothing the kernel accepted for this queue is in
    /// flight: every packet received or counted as a drop.
    func isDrained() -> Bool
    /// Stopping, after the drain: takes recycles back and hands every partial chunk
    /// to the lanes. - Returns: packets still undelivered (they wait for item budget).
    func flush() -> Int
}

/// What one round over a capture thread's queues did.
package struct CaptureRound: Sendable {
    /// Packets taken from the kernel.
    package var packets = 0
    /// Packets handed to capture lanes (consumers may need a wake-up).
    package var delivered = 0
    /// `true` when more waits at once (a full batch): go round again without waiting.
    package var more = false

    package init(packets: Int = 0, delivered: Int = 0, more: Bool = false) {
        self.packets = packets
        self.delivered = delivered
        self.more = more
    }
}

/// A backend's part of the capture loop: how one round runs and how the thread
/// waits between rounds. One instance per capture thread (it may keep state).
package protocol CapturePolicy: AnyObject, SendableMetatype {
    associatedtype Queue: CaptureQueue
    /// One pass over every queue the thread serves.
    func round(_ queues: [Queue]) -> CaptureRound
    /// Waits after a round that left nothing to do at once; never longer than the
    /// partial-chunk timeout. `blockInPoll(ms)` blocks on every queue's socket and
    /// the engine's stop eventfd for at most `ms` milliseconds.
    func wait(_ queues: [Queue], after round: CaptureRound, now: UInt64, blockInPoll: (Int32) -> Void)
}

/// The capture thread's loop, the same for both backends (paper §3.2.2a):
///
/// ```
///   while running:  round → wake consumers that got chunks → kernel statistics every 10 ms → wait
///   stopping:       drain passes until every queue is drained (or drainTimeout)
///                   flush partial chunks until none waits (or flushTimeout)
///                   final kernel statistics, wake every consumer
/// ```
///
/// The engine removes every socket from the kernel's steering (XSKMAP entries,
/// AF_PACKET filters) before it clears `running`, so the drain sees the last
/// packets land; what does not balance by the deadline stays visible as the
/// ledger's `unexplained`.
package final class CaptureLoop<Policy: CapturePolicy>: @unchecked Sendable {
    package let queues: [Policy.Queue]
    package let policy: Policy
    private let running: UnsafeAtomic<Bool>
    private let stopFD: Int32
    private let wakeups: ConsumerWakeups
    private let group: BuddyGroup
    /// Longest wait, once stopping, for packets still in flight in the kernel.
    package let drainTimeout: UInt64
    /// Longest wait for consumers to free item budget while partial chunks are
    /// flushed (what is left then is the ledger's `abandoned`).
    package let flushTimeout: UInt64 = 2_000_000_000
    /// How often kernel drop counters are read (a getsockopt per queue).
    package let statisticsInterval: UInt64 = 10_000_000

    package init(queues: [Policy.Queue], policy: Policy, running: UnsafeAtomic<Bool>, stopFD: Int32,
                 wakeups: ConsumerWakeups, group: BuddyGroup, drainTimeout: UInt64) {
        self.queues = queues
        self.policy = policy
        self.running = running
        self.stopFD = stopFD
        self.wakeups = wakeups
        self.group = group
        self.drainTimeout = drainTimeout
    }

    package func run() {
        let count = queues.count
        let fds = UnsafeMutablePointer<pollfd>.allocate(capacity: count + 1)
        defer { fds.deallocate() }
        for (i, q) in queues.enumerated() { fds[i] = pollfd(fd: q.pollFD, events: Int16(POLLIN), revents: 0) }
        fds[count] = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
        let blockInPoll: (Int32) -> Void = { ms in
            for i in 0...count { fds[i].revents = 0 }
            _ = try? Sys.poll(fds, count: count + 1, timeoutMilliseconds: ms)
        }
        let start = Sys.monotonicNanoseconds()
        for q in queues { q.lastStatisticsRead = start }
        // Relaxed: the flag carries no data; stop() joins the thread afterwards, and
        // the join is what orders everything this thread wrote.
        while running.load(ordering: .relaxed) {
            let round = policy.round(queues)
            if round.delivered > 0 { wakeConsumers() }
            let now = Sys.monotonicNanoseconds()
            for q in queues where now &- q.lastStatisticsRead >= statisticsInterval {
                q.lastStatisticsRead = now
                q.publishKernelStatistics()
            }
            if round.more { continue }
            policy.wait(queues, after: round, now: now, blockInPoll: blockInPoll)
        }
        stopping()
    }

    /// The stopping phase (``CaptureLifecycle/State/stopping``); see the type's documentation.
    private func stopping() {
        var start = Sys.monotonicNanoseconds()
        while true {
            // Every queue, every time, until all balance in the same round: a packet
            // that passed the intake just before it closed may land on a queue that
            // balanced a round earlier (an AF_PACKET filter swap does not wait for
            // readers in flight).
            for q in queues {
                // Bounded too: should removing a socket from the steering have failed,
                // traffic would never end.
                while q.drainPass() > 0 && Sys.monotonicNanoseconds() &- start < drainTimeout {}
            }
            wakeConsumers()
            if queues.allSatisfy({ $0.isDrained() }) || Sys.monotonicNanoseconds() &- start >= drainTimeout { break }
            Sys.sleep(nanoseconds: 200_000)
        }
        start = Sys.monotonicNanoseconds()
        while true {
            var waiting = 0
            for q in queues { waiting &+= q.flush() }
            wakeConsumers()
            if waiting == 0 || Sys.monotonicNanoseconds() &- start >= flushTimeout { break }
            Sys.sleep(nanoseconds: 100_000)
        }
        for q in queues { q.publishKernelStatistics() }
        wakeConsumers()
    }

    /// Wakes the consumers that sleep on a capture queue that now has work.
    private func wakeConsumers() {
        let group = self.group
        wakeups.wakeSleepers { group.captureQueueLength($0) > 0 }
    }
}
