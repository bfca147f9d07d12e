#if canImport(Glibc)
import Glibc
#endif
import Atomics
import WireCapCore
import WireCapSystem
import WireCapEngine

/// How an AF_XDP capture thread runs and waits (paper §3.2.2a, Figure 7); the
/// loop around it is the engine's shared ``CaptureLoop``.
///
/// **Wake-up policy (adaptive).** Wake-ups decide the CPU cost: a loop that calls
/// poll() per batch wakes for almost every packet at moderate rates. Here a
/// round over the thread's queues is followed by:
///
/// - no wait at all when any queue returned a full batch (more is waiting);
/// - otherwise a `nanosleep` of
///   `min(longest sleep, time to the earliest partial-chunk deadline,
///        ½ · (frames the kernel holds) / (estimated arrival rate))`
///   per queue, the rate being an EWMA of packets per round. At steady state the
///   thread thus wakes about once per chunk (or once per partial timeout), and
///   the kernel never runs out of posted frames while it sleeps, because it
///   wakes when half of them would be used;
/// - after ``idleBeforePoll`` without a packet, with nothing pending and every
///   fill ring full (so nothing waits on a consumer's recycle), a `poll()` on
///   every socket plus the engine's stop eventfd, so the first packet (or
///   `stop()`) wakes it immediately and an idle engine costs nothing.
///
/// The longest sleep is the partial-chunk timeout (at least 1 ms, at most 100 ms):
/// a user who accepts a 10 ms delivery bound pays for a wake-up per 10 ms, not per
/// millisecond, like a TPACKET_V3 reader with a 10 ms block timeout. No wait
/// exceeds the partial-chunk timeout, so delivery latency stays within it (plus
/// the timer slack). With ``WakePolicy/busyPoll`` it never waits.
package final class AdaptiveWaitPolicy: CapturePolicy {
    package let policy: WakePolicy
    /// Quiet time after which the thread blocks in poll() instead of sleeping.
    package let idleBeforePoll: UInt64 = 20_000_000
    /// Longest adaptive sleep: the partial-chunk timeout, clamped to 1 ... 100 ms.
    package let maxSleep: UInt64
    /// Sleeps shorter than this are not worth a syscall: go round again.
    package let minSleep: UInt64 = 20_000
    /// Sleep while a pool is exhausted and waits for recycles.
    package let starvedSleep: UInt64 = 100_000
    /// When a round last took a packet.
    private var lastPacket: UInt64
    /// `false` until the first round (which starts every queue's rate clock).
    private var started = false

    package init(policy: WakePolicy, partialTimeoutNanoseconds: UInt64) {
        self.policy = policy
        maxSleep = min(100_000_000, max(1_000_000, partialTimeoutNanoseconds))
        lastPacket = Sys.monotonicNanoseconds()
    }

    package func round(_ queues: [RxQueue]) -> CaptureRound {
        if !started {
            started = true
            let now = Sys.monotonicNanoseconds()
            for q in queues { q.lastPassTime = now }
            lastPacket = now
        }
        var round = CaptureRound()
        for q in queues {
            let n = q.pass()
            round.packets &+= n
            round.delivered &+= q.deliveredInLastPass
            q.packetsSinceRate &+= n
            if n == Int(q.batch) { round.more = true }
        }
        if round.packets > 0 { lastPacket = Sys.monotonicNanoseconds() }
        if policy == .busyPoll {
            if round.packets == 0 { kickIfNeeded(queues) }
            round.more = true
        }
        return round
    }

    package func wait(_ queues: [RxQueue], after round: CaptureRound, now mono: UInt64, blockInPoll: (Int32) -> Void) {
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
        if round.packets == 0 { kickIfNeeded(queues) }
        if !pending && round.packets == 0 && mono &- lastPacket >= idleBeforePoll && queues.allSatisfy({ $0.fillIsFull }) {
            // Idle: block until a packet or stop() arrives. Bounded anyway so
            // recycles from consumers are taken back and counters refreshed.
            blockInPoll(10)
            for q in queues { q.rate = 0; q.packetsSinceRate = 0; q.lastPassTime = Sys.monotonicNanoseconds() }
            return
        }
        if sleep >= minSleep { Sys.sleep(nanoseconds: sleep) }
    }

    /// In need-wakeup mode the kernel sets a flag when it wants a syscall to
    /// resume consuming the fill ring (zero-copy drivers); copy-mode devices never set it.
    private func kickIfNeeded(_ queues: [RxQueue]) {
        for q in queues where q.fillNeedsWakeup {
            try? Sys.kickReceive(q.socket.fd)
        }
    }
}
