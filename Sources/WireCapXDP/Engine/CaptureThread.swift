#if canImport(Glibc)
import Glibc
#endif
import Atomics
import WireCapCore
import WireCapSystem
import WireCapEngine

/// How a capture thread waits when its queues are empty.
public enum WakePolicy: Sendable, Hashable {
    /// Adaptive sleep (the default): see ``CaptureThread``.
    case adaptive
    /// Never sleep: poll the rings continuously (one core per capture thread). Opt-in only.
    case busyPoll
}

/// A capture thread serving one or more receive queues (paper §3.2.2a, Figure 7).
///
/// **Wake-up policy (adaptive).** Wake-ups decide the CPU cost: a loop that calls
/// poll() per batch wakes for almost every packet at moderate rates. Here a
/// round over the thread's queues is followed by:
///
/// - no wait at all when any queue returned a full batch (more is waiting);
/// - otherwise a `nanosleep` of
///   `min(1 ms, time to the earliest partial-chunk deadline,
///        ½ · (frames the kernel holds) / (estimated arrival rate))`
///   per queue, the rate being an EWMA of packets per round. At steady state the
///   thread thus wakes about once per chunk (or once per partial timeout), and
///   the kernel never runs out of posted frames while it sleeps, because it
///   wakes when half of them would be used;
/// - after ``idleBeforePoll`` without a packet and with nothing pending, a
///   and every fill ring full (so nothing waits on a consumer's recycle), a
///   `poll()` on every socket plus the engine's stop eventfd, so the first
///   packet (or `stop()`) wakes it immediately and an idle engine costs nothing.
///
/// No wait exceeds the partial-chunk timeout, so delivery latency stays within
/// it (plus the timer slack).
package final class CaptureThread: @unchecked Sendable {
    package let queues: [RxQueue]
    package let running: UnsafeAtomic<Bool>
    package let stopFD: Int32
    package let policy: WakePolicy
    package let batch: UInt32
    package let timeout: UInt64
    /// Quiet time after which the thread blocks in poll() instead of sleeping.
    package let idleBeforePoll: UInt64 = 20_000_000
    /// Longest adaptive sleep.
    package let maxSleep: UInt64 = 1_000_000
    /// Sleeps shorter than this are not worth a syscall: go round again.
    package let minSleep: UInt64 = 20_000
    /// Sleep while a pool is exhausted and waits for recycles.
    package let starvedSleep: UInt64 = 100_000
    /// How often kernel drop counters are read (a getsockopt per queue).
    package let statisticsInterval: UInt64 = 10_000_000
    package let wakeups: ConsumerWakeups

    package init(queues: [RxQueue], running: UnsafeAtomic<Bool>, stopFD: Int32, policy: WakePolicy, batch: Int, timeout: UInt64,
         wakeups: ConsumerWakeups) {
        self.wakeups = wakeups
        self.queues = queues
        self.running = running
        self.stopFD = stopFD
        self.policy = policy
        self.batch = UInt32(batch)
        self.timeout = timeout
    }

    package func run() {
        let pollFDs = UnsafeMutablePointer<pollfd>.allocate(capacity: queues.count + 1)
        defer { pollFDs.deallocate() }
        for (i, q) in queues.enumerated() {
            pollFDs[i] = pollfd(fd: q.socket.fd, events: Int16(POLLIN), revents: 0)
        }
        pollFDs[queues.count] = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
        var lastPacket = Sys.monotonicNanoseconds()
        for q in queues { q.lastPassTime = lastPacket; q.lastStatisticsRead = lastPacket }

        // Relaxed: the flag carries no data; stop() joins the thread afterwards,
        // and the join is what orders everything this thread wrote.
        while running.load(ordering: .relaxed) {
            var total = 0
            var fullBatch = false
            var delivered = 0
            for q in queues {
                let n = q.pass(batch: batch)
                total &+= n
                delivered &+= q.deliveredInLastPass
                q.packetsSinceRate &+= n
                if n == Int(batch) { fullBatch = true }
            }
            if delivered > 0 { wakeConsumers() }
            let mono = Sys.monotonicNanoseconds()
            if total > 0 { lastPacket = mono }
            for q in queues where mono &- q.lastStatisticsRead >= statisticsInterval {
                q.lastStatisticsRead = mono
                q.publishKernelStatistics()
            }
            if fullBatch || policy == .busyPoll {
                if total == 0, policy == .busyPoll { kickIfNeeded() }
                continue
            }
            // Arrival-rate estimate per queue, sampled at most every 50 µs: it follows
            // increases at once (max with the latest sample) and decays by EWMA, so a
            // burst shortens the sleep immediately and a lull lengthens it gradually.
            var sleep = maxSleep
            var pending = false
            for q in queues {
                let elapsed = mono &- q.lastPassTime
                if elapsed >= 50_000 {
                    let sample = Double(q.packetsSinceRate) / Double(elapsed)
                    q.rate = max(sample, 0.75 * q.rate + 0.25 * sample)
                    q.packetsSinceRate = 0
                    q.lastPassTime = mono
                } else if q.packetsSinceRate > 0 && q.rate == 0 {
                    // Packets but no estimate yet (first round after idle): stay alert.
                    sleep = minSleep
                }
                if let deadline = q.driver.nextPartialDeadline() {
                    pending = true
                    // Deadlines run on the monotonic clock (the pool's arrival times).
                    sleep = min(sleep, deadline > mono ? deadline &- mono : 0)
                }
                if q.rate > 1e-7 {
                    let held = Double(q.framesWithKernel())
                    // Floor at minSleep: with (almost) no frames posted the thread
                    // is waiting for recycles, and spinning would not bring them sooner.
                    let budget = max(minSleep, UInt64(held / 2 / q.rate))
                    sleep = min(sleep, budget)
                }
            }
            for q in queues where !q.fillIsFull && q.driver.pool.outstandingItems > 0 {
                // The pool ran dry and consumers hold chunks: take recycles back soon.
                sleep = min(sleep, starvedSleep)
            }
            if total == 0 { kickIfNeeded() }
            if !pending && total == 0 && mono &- lastPacket >= idleBeforePoll && queues.allSatisfy({ $0.fillIsFull }) {
                // Idle: block until a packet or stop() arrives. Bounded anyway so
                // recycles from consumers are taken back and counters refreshed.
                for i in 0...queues.count { pollFDs[i].revents = 0 }
                _ = try? Sys.poll(pollFDs, count: queues.count + 1, timeoutMilliseconds: 10)
                for q in queues { q.rate = 0; q.packetsSinceRate = 0; q.lastPassTime = Sys.monotonicNanoseconds() }
                continue
            }
            if sleep >= minSleep { Sys.sleep(nanoseconds: sleep) }
        }
        drain()
    }

    /// Longest wait, after redirecting stopped, for packets still in flight in the
    /// kernel (a NAPI poll that looked the socket up before the XSKMAP entry went)
    /// to land in the rx ring or in a drop counter.
    package let drainTimeout: UInt64 = 500_000_000
    /// Longest wait for consumers to free item budget while partial chunks are flushed
    /// (what is left then is the ledger's `abandoned`: a close without consumers).
    package let flushTimeout: UInt64 = 2_000_000_000

    /// The stopping phase (``CaptureLifecycle/State/stopping``): the engine removed
    /// every socket from the XSKMAP before clearing `running`. Drain each rx ring
    /// until what the program redirected balances with what was received plus the
    /// socket's drops (so no packet is left in flight), then flush every partial
    /// chunk to the capture lanes and publish the final counters. Packets that do
    /// not balance by the deadline stay visible as the ledger's `unexplained`.
    private func drain() {
        var start = Sys.monotonicNanoseconds()
        var unbalanced = queues
        while true {
            for q in unbalanced {
                // Bounded too: should an XSKMAP delete have failed, traffic would never end.
                while q.pass(batch: batch) > 0 && Sys.monotonicNanoseconds() &- start < drainTimeout {}
            }
            unbalanced.removeAll { $0.isBalanced() }
            if unbalanced.isEmpty || Sys.monotonicNanoseconds() &- start >= drainTimeout { break }
            Sys.sleep(nanoseconds: 200_000)
        }
        start = Sys.monotonicNanoseconds()
        while true {
            var waiting = 0
            for q in queues {
                q.driver.reclaim()
                q.driver.flush()
                waiting &+= q.driver.pool.undeliveredPackets
            }
            wakeConsumers()
            // Undelivered packets wait only for item budget, which consumers free.
            if waiting == 0 || Sys.monotonicNanoseconds() &- start >= flushTimeout { break }
            Sys.sleep(nanoseconds: 100_000)
        }
        for q in queues { q.publishKernelStatistics() }
        wakeConsumers()
    }

    /// Wakes the consumers that sleep on a capture queue that now has work.
    private func wakeConsumers() {
        guard let group = queues.first?.driver.group else { return }
        wakeups.wakeSleepers { group.captureQueueLength($0) > 0 }
    }

    /// In need-wakeup mode the kernel sets a flag when it wants a syscall to
    /// resume consuming the fill ring (zero-copy drivers); copy-mode devices never set it.
    private func kickIfNeeded() {
        for q in queues where q.fillNeedsWakeup {
            try? Sys.kickReceive(q.socket.fd)
        }
    }
}
