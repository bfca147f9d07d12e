#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapCore

/// A joinable POSIX thread running a closure, optionally pinned to CPUs.
///
/// Capture threads and consumers are long-lived and must be pinnable, which
/// Foundation's `Thread` cannot do; this is the smallest wrapper that can.
public final class SystemThread: @unchecked Sendable {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private var thread: pthread_t
    private var joined = false

    /// Starts `body` on a new thread named `name` (≤ 15 characters are kept),
    /// pinned to `cpus` when not empty.
    public init(name: String, cpus: [Int] = [], _ body: @escaping @Sendable () -> Void) throws(XDPError) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var t = pthread_t()
        let r = pthread_create(&t, nil, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if r != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw XDPError("pthread_create(\(name))", errno: r)
        }
        thread = t
        _ = pthread_setname_np(t, String(name.prefix(15)))
        if !cpus.isEmpty {
            do { try Sys.setAffinity(t, cpus: cpus) } catch {
                // The thread runs; it just is not pinned. Report once, keep going.
                Sys.printError("wirecap: warning: could not pin \(name) to CPUs \(cpus): \(error.errnoDescription)\n")
            }
        }
    }

    /// Waits for the thread to finish. Idempotent.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { if !joined { pthread_detach(thread) } }

    /// Starts `count` capture threads for `items` (queues or sockets), serving them
    /// round-robin: thread t gets items t, t+count, …, runs `makeWorker(t, served)`'s
    /// loop, is pinned to `cpus[t % cpus.count]` (empty: unpinned) and, when `nice` is
    /// set, runs at that nice value. Started threads are appended to `threads` as they
    /// start, so after a failure the caller still stops and joins the ones that run.
    /// Both capture backends start their threads here.
    package static func startCaptureThreads<Item>(
        count: Int, items: [Item], name: String, cpus: [Int], nice: Int32?, into threads: inout [SystemThread],
        _ makeWorker: (Int, [Item]) -> @Sendable () -> Void
    ) throws(XDPError) {
        for t in 0..<count {
            let served = items.enumerated().filter { $0.offset % count == t }.map(\.element)
            let run = makeWorker(t, served)
            let pinned = cpus.isEmpty ? [] : [cpus[t % cpus.count]]
            threads.append(try SystemThread(name: "\(name)-\(t)", cpus: pinned) {
                if let nice { try? Sys.setThreadNice(nice) }
                run()
            })
        }
    }
}

extension SystemThread {
    /// Capture threads when the caller does not say: one per queue, at most half
    /// the online CPUs (each wakes about once per partial-chunk timeout; on two
    /// cores one thread serving every queue halves the wake-ups and leaves a core
    /// to the consumers).
    public static func defaultCaptureThreads(queues: Int) -> Int {
        let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        return max(1, min(queues, cpus / 2))
    }
}
