#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CXDP
import WireCapCore
import WireCapSystem

/// Lets consumers sleep while their capture queue is empty and be woken by a
/// capture thread only when a chunk arrives for them: one futex wake per chunk
/// delivered to a *sleeping* consumer, nothing when consumers are busy.
///
/// One 32-bit word per consumer, each on its own cache line: 1 = "asleep or about
/// to sleep", 0 = awake.
///
/// Memory ordering (a Dekker handshake):
/// - (S) the consumer stores 1 then issues a sequentially consistent fence, then
///   looks at its capture queue (acquire loads inside the ring);
/// - (P) a capture thread enqueues (release store inside the ring), issues a
///   sequentially consistent fence, then loads the word.
/// The two fences order each side's store before its load, so at least one side
/// sees the other: either the consumer finds the chunk and does not sleep, or the
/// capture thread sees 1 and wakes it. The capture thread claims the wake with a
/// compare-exchange 1 → 0 (relaxed: the futex call itself orders nothing we rely
/// on), so one arrival wakes a sleeper once; `futex_wait(word, 1)` returns at once
/// if the word is already 0, so a wake that races the sleep is never lost.
package final class ConsumerWakeups: @unchecked Sendable {
    private let words: UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage>
    private let count: Int
    private static let stride = 16  // 16 × 4 bytes = one cache line per word
    /// An eventfd written beside every futex wake, or -1: how one reader waiting on
    /// several consumers at once (the libpcap library's selectable fd, which
    /// `poll()`s it) learns that one of them got work. See ``notify(eventFD:)``.
    private let notifyFD = ManagedAtomic<Int32>(-1)

    package init(consumers: Int) {
        count = consumers
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, consumers) * 64, alignment: 64)
        words = raw.bindMemory(to: UnsafeAtomic<UInt32>.Storage.self, capacity: max(1, consumers) * Self.stride)
        words.initialize(repeating: UnsafeAtomic<UInt32>.Storage(0), count: max(1, consumers) * Self.stride)
    }

    deinit { UnsafeMutableRawPointer(words).deallocate() }

    /// From now on every wake also writes `fd` (an eventfd; -1: stop). Any thread.
    package func notify(eventFD fd: Int32) {
        // Relaxed: the fd orders no data; a wake that misses a fresh store is one the
        // announcing reader's own re-check after its fence (see announce) catches.
        notifyFD.store(fd, ordering: .relaxed)
    }

    /// Consumer `j` announces a sleep without sleeping here: it stores 1 and fences
    /// (S), then must look at its capture queue itself and, when it is empty, wait on
    /// the ``notify(eventFD:)`` fd, which the next chunk for `j` (or an interrupt)
    /// writes. For a reader that waits on several consumers at once.
    package func announce(consumer j: Int) {
        atomic(j).store(1, ordering: .relaxed)
        // (S) seq_cst fence, as in sleep: pairs with (P) in wakeSleepers and (P') in interrupt.
        Atomics.atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    /// Writes the notification eventfd, if any.
    @inline(__always)
    private func notifyReader() {
        let fd = notifyFD.load(ordering: .relaxed)
        if fd >= 0 { Sys.signal(eventFD: fd) }
    }

    private func word(_ j: Int) -> UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage> { words + j * Self.stride }
    private func atomic(_ j: Int) -> UnsafeAtomic<UInt32> { UnsafeAtomic(at: word(j)) }

    /// Consumer `j`: sleeps up to `timeoutNanoseconds` unless `hasWork()` is already
    /// true after announcing the sleep. Returns on a wake, a timeout or a signal.
    package func sleep(consumer j: Int, timeoutNanoseconds: UInt64, hasWork: () -> Bool) {
        let a = atomic(j)
        a.store(1, ordering: .relaxed)
        // (S) seq_cst fence: our store of 1 is ordered before reading the queue; pairs with (P).
        Atomics.atomicMemoryFence(ordering: .sequentiallyConsistent)
        if hasWork() {
            a.store(0, ordering: .relaxed)
            return
        }
        var ts = timespec(tv_sec: Int(timeoutNanoseconds / 1_000_000_000),
                          tv_nsec: Int(timeoutNanoseconds % 1_000_000_000))
        let raw = UnsafeMutableRawPointer(word(j)).assumingMemoryBound(to: UInt32.self)
        _ = wirecap_futex_wait(raw, 1, &ts)
        a.store(0, ordering: .relaxed)
    }

    /// Capture thread: wakes every consumer that sleeps while its capture queue has
    /// work. Call after placing handles (cheap when nobody sleeps: a fence and one
    /// relaxed load per consumer).
    package func wakeSleepers(hasWork: (Int) -> Bool) {
        // (P) seq_cst fence: the ring's producer-index store is ordered before we read
        // the consumers' words; pairs with (S).
        Atomics.atomicMemoryFence(ordering: .sequentiallyConsistent)
        var woke = false
        for j in 0..<count {
            let a = atomic(j)
            guard a.load(ordering: .relaxed) == 1, hasWork(j) else { continue }
            if a.compareExchange(expected: 1, desired: 0, ordering: .relaxed).exchanged {
                let raw = UnsafeMutableRawPointer(word(j)).assumingMemoryBound(to: UInt32.self)
                _ = wirecap_futex_wake(raw, 1)
                woke = true
            }
        }
        // One eventfd write for a pass, however many queues of the reader it woke.
        if woke { notifyReader() }
    }

    /// Wakes consumer `j` if it sleeps, whatever its queue holds (a stop request).
    /// Any thread; the caller made its stop condition true before calling.
    package func interrupt(consumer j: Int) {
        // (P') seq_cst fence: the caller's stop-flag store is ordered before we read the
        // word; pairs with (S), whose sleeper checks its stop condition after its fence.
        Atomics.atomicMemoryFence(ordering: .sequentiallyConsistent)
        let a = atomic(j)
        if a.load(ordering: .relaxed) == 1, a.compareExchange(expected: 1, desired: 0, ordering: .relaxed).exchanged {
            let raw = UnsafeMutableRawPointer(word(j)).assumingMemoryBound(to: UInt32.self)
            _ = wirecap_futex_wake(raw, 1)
            notifyReader()
        }
    }

    /// Wakes every consumer (engine shutdown). Any thread; the caller made the
    /// consumers' stop condition true before calling.
    package func wakeAll() {
        // (P') seq_cst fence, as in interrupt(consumer:): the caller's stop store is
        // ordered before the words are cleared; pairs with (S).
        Atomics.atomicMemoryFence(ordering: .sequentiallyConsistent)
        for j in 0..<count {
            atomic(j).store(0, ordering: .relaxed)
            let raw = UnsafeMutableRawPointer(word(j)).assumingMemoryBound(to: UInt32.self)
            _ = wirecap_futex_wake(raw, Int32.max)
        }
        notifyReader()
    }
}
