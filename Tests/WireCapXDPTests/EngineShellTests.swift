import Testing
import Synchronization
import WireCapCore
import WireCapSystem
import WireCapEngine

/// The engine shell and the shared capture loop without a kernel (no root): a
/// scripted queue stands in for a socket, so the lifecycle's order of steps, the
/// drain and flush phases and the one-consumer-per-queue rule are checked alone.
@Suite("Engine shell and capture loop")
struct EngineShellTests {
    /// A queue whose kernel side is a script: `inFlight` packets land one per
    /// drain pass after the intake closed; `undelivered` wait for the flush.
    /// What happened, in order, from every thread.
    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func note(_ s: String) { entries.withLock { $0.append(s) } }
        var all: [String] { entries.withLock { $0 } }
    }

    final class ScriptedQueue: CaptureQueue, @unchecked Sendable {
        let log: Log
        var inFlight: Int
        var undelivered: Int
        var lastStatisticsRead: UInt64 = 0
        var pollFD: Int32 { -1 }
        private let roundCount = Mutex(0)
        var rounds: Int { roundCount.withLock { $0 } }
        func countRound() { roundCount.withLock { $0 += 1 } }

        init(inFlight: Int, undelivered: Int, log: Log) {
            self.inFlight = inFlight
            self.undelivered = undelivered
            self.log = log
        }

        func note(_ s: String) { log.note(s) }
        func publishKernelStatistics() {}
        func drainPass() -> Int {
            guard inFlight > 0 else { return 0 }
            inFlight -= 1
            note("drained one")
            return 1
        }
        func isDrained() -> Bool { inFlight == 0 }
        func flush() -> Int {
            if undelivered > 0 { note("flushed \(undelivered)"); undelivered = 0 }
            return 0
        }
    }

    final class ScriptedPolicy: CapturePolicy {
        func round(_ queues: [ScriptedQueue]) -> CaptureRound {
            for q in queues { q.countRound() }
            return CaptureRound()
        }
        func wait(_ queues: [ScriptedQueue], after round: CaptureRound, now: UInt64, blockInPoll: (Int32) -> Void) {
            blockInPoll(5)
        }
    }

    /// A shell over one group of `queues` queues, with memory it owns.
    final class Fixture: @unchecked Sendable {
        let memory: [UnsafeMutableRawPointer]
        let shell: EngineShell
        let log = Log()

        init(queues: Int) throws {
            let group = try BuddyGroup(queueCount: queues, configuration: CaptureConfiguration(
                geometry: PoolGeometry(cellsPerChunk: 4, chunksPerPool: 4, fillRingSize: 8)))
            memory = (0..<queues).map { _ in UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64) }
            var settings = EngineSettings()
            settings.captureThreads = 1
            shell = EngineShell(interface: "fake0", queues: Array(0..<queues), group: group, settings: settings, bases: memory)
        }

        deinit { memory.forEach { $0.deallocate() } }

        func note(_ s: String) { log.note(s) }
        var entries: [String] { log.all }
    }

    @Test("start opens the intake only with the threads running; stop closes it, drains, flushes, then runs afterJoin")
    func orderOfSteps() throws {
        let f = try Fixture(queues: 2)
        let queues = [ScriptedQueue(inFlight: 3, undelivered: 2, log: f.log), ScriptedQueue(inFlight: 0, undelivered: 0, log: f.log)]
        #expect(f.shell.lifecycle.state == .opened)
        try f.shell.start(queues, threads: 1, name: "wc-test", policy: { ScriptedPolicy() }, drainTimeout: 5_000_000_000,
                          openIntake: { () throws(XDPError) in f.note("intake open") }, undo: { f.note("undo") },
                          afterUndo: { f.note("after undo") })
        #expect(f.shell.lifecycle.state == .started)
        // The loop runs: wait for a round, with a deadline (no sleep orders anything).
        let deadline = Sys.monotonicNanoseconds() + 10_000_000_000
        while queues[0].rounds == 0 && Sys.monotonicNanoseconds() < deadline {
            Sys.sleep(nanoseconds: 1_000_000)
        }
        #expect(queues[0].rounds > 0)
        f.shell.stop(closeIntake: { f.note("intake closed") }, afterJoin: { f.note("joined") })
        #expect(f.shell.lifecycle.state == .drained)
        #expect(f.entries == ["intake open", "intake closed", "drained one", "drained one", "drained one", "flushed 2", "joined"])
        #expect(queues.allSatisfy { $0.inFlight == 0 && $0.undelivered == 0 })
        f.shell.stop(closeIntake: { f.note("again") }, afterJoin: { f.note("again") })
        #expect(f.entries.last == "joined", "stop is idempotent")
        f.shell.close(closeIntake: { f.note("again") }, afterJoin: { f.note("again") }, release: { f.note("released") })
        #expect(f.shell.lifecycle.state == .closed)
        #expect(f.entries.suffix(2) == ["joined", "released"])
    }

    @Test("a failing intake unwinds like a stop (undo, drain, join, afterUndo) and leaves the engine opened; a retry starts it")
    func failedStart() throws {
        let f = try Fixture(queues: 1)
        let queues = [ScriptedQueue(inFlight: 1, undelivered: 0, log: f.log)]
        #expect(throws: XDPError.self) {
            try f.shell.start(queues, threads: 1, name: "wc-test", policy: { ScriptedPolicy() }, drainTimeout: 1_000_000_000,
                              openIntake: { () throws(XDPError) in throw XDPError.usage("intake", "refused") },
                              undo: { f.note("undo") }, afterUndo: { f.note("after undo") })
        }
        #expect(f.shell.lifecycle.state == .opened)
        #expect(f.entries == ["undo", "drained one", "after undo"])
        try f.shell.start(queues, threads: 1, name: "wc-test", policy: { ScriptedPolicy() }, drainTimeout: 1_000_000_000,
                          openIntake: { () throws(XDPError) in f.note("intake open") },
                          undo: { f.note("never") }, afterUndo: { f.note("never") })
        #expect(f.shell.lifecycle.state == .started)
        f.shell.close(closeIntake: { f.note("intake closed") }, afterJoin: { f.note("joined") }, release: { f.note("released") })
        #expect(f.shell.lifecycle.state == .closed)
        #expect(f.entries.suffix(4) == ["intake open", "intake closed", "joined", "released"])
    }

    @Test("an engine that never started closes without stopping")
    func closeUnstarted() throws {
        let f = try Fixture(queues: 1)
        f.shell.close(closeIntake: { f.note("never") }, afterJoin: { f.note("never") }, release: { f.note("released") })
        #expect(f.shell.lifecycle.state == .closed)
        #expect(f.entries == ["released"])
    }

    @Test("each queue's consumer endpoint is handed out once; it reads through the shell's memory layout")
    func consumerOnce() throws {
        let f = try Fixture(queues: 2)
        let c0 = f.shell.consumer(0)
        let c1 = f.shell.consumer(1)
        #expect(c0.index == 0 && c1.index == 1 && c1.deviceQueue == 1)
        #expect(c0.nextChunk() == nil)
        #expect(f.shell.memoryLayout.bases[1] == f.memory[1])
    }

    @Test("a second claim of the same queue's consumer traps")
    func secondClaimTraps() async {
        await #expect(processExitsWith: .failure) {
            let f = try Fixture(queues: 1)
            _ = f.shell.consumer(0)
            _ = f.shell.consumer(0)
        }
    }
}
