#if canImport(Glibc)
import Glibc
#endif
import Atomics
import HeapModule
import WireCapCore
import WireCapSystem
import WireCapEngine

/// Where and how a capture is written (`wirecap capture -w`).
public struct CaptureOutput: Sendable {
    /// `-w FILE`: the file, or the base name of a rotating set / of the per-queue files.
    public var path: String
    /// `--format`.
    public var format: CaptureFileFormat = .pcap
    /// `-s`: bytes kept of each packet (the original length is recorded too).
    public var snapLength = 262_144
    /// `-C`, `-G`, `-W`.
    public var rotation = RotationPolicy()
    /// `--per-queue-files`: one file (set) per rx queue, `BASE.qN[.EXT]`; otherwise one
    /// file merged in timestamp order.
    public var perQueueFiles = false
    /// `-c`: write at most this many packets (the first in merge order).
    public var packetLimit: Int?
    /// Chunks a consumer may have waiting for the writer; beyond it, chunks are
    /// dropped (counted as delivery drops) instead of stalling capture. 0: half the pool (R/2).
    public var queueCapacity = 0
    /// Merged file: how long a packet may wait for the other queues to show they
    /// have nothing older (ns). Later packets are still written, counted as `late`.
    public var mergeWindowNanoseconds: UInt64 = 10_000_000
    /// LINKTYPE_* recorded in the files.
    public var linkType: UInt32 = 1

    public init(path: String) { self.path = path }

    /// The base name of queue `deviceQueue`'s files with `--per-queue-files`:
    /// `cap.pcap` → `cap.q0.pcap`, `cap` → `cap.q0`.
    public func path(forQueue deviceQueue: Int) -> String {
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        if let dot = path[slash...].lastIndex(of: "."), dot != slash {
            return String(path[..<dot]) + ".q\(deviceQueue)" + String(path[dot...])
        }
        return path + ".q\(deviceQueue)"
    }
}

/// What a ``CaptureWriter`` did.
public struct CaptureWriterReport: Sendable, Codable {
    /// Packets and record bytes written over all files.
    public var packets: Int
    public var bytes: Int
    /// Files created (rotation included).
    public var files: Int
    /// Packets not written because `-c` was reached.
    public var overLimit: Int
    /// Merged file: packets written after a later-stamped one (arrived past the merge window).
    public var late: Int
    /// Packets lost to a write error (disk full, …), and the first error.
    public var failed: Int
    public var error: String?
    /// Seconds the writer thread spent in `writev`-bound work (throughput = bytes / busySeconds).
    public var busySeconds: Double
}

/// The capture writer: one thread writing the packets of chunks the consumers
/// hand over, straight from capture memory (UMEM on AF_XDP, the TPACKET_V3 ring
/// on AF_PACKET), then handing the chunks back for recycling.
///
/// Backend-agnostic: it reads a chunk's packets through the buddy group's
/// descriptors and the backend's ``CaptureBackend/memoryLayout`` bases, which
/// both backends provide (see ``CaptureBackend``), so it never needs to know
/// which one captured them.
///
/// ```
///  capture lane ──▶ consumer j ──HandoffRing j──▶ writer thread ──writev──▶ file(s)
///                                                      │
///  capture thread i ◀── writer lane (w → i) ◀───────────┘   (after the flush)
/// ```
///
/// A written chunk crosses three rings: the capture lane, the handoff ring and
/// the buddy group's writer lane back to its owner (``BuddyGroup/recycleFromWriter(_:)``),
/// the writer being that lane's single producer.
///
/// **The merged file** takes, again and again, the oldest head packet over all
/// queues. The heads are kept in a min-heap by timestamp (swift-collections'
/// `Heap`), so a packet costs O(log Q), not a scan of every queue.
///
/// A full handoff ring (the disk is slower than the traffic) makes the consumer
/// drop the chunk at once, counted as delivery drops (``CaptureConsumer/count(_:_:of:)``):
/// capture threads never wait for the disk.
///
/// - warning: ``reserve(_:)``, ``publish(_:)`` and ``closeQueue(_:)`` only from
///   consumer thread `j`.
public final class CaptureWriter: @unchecked Sendable {
    public let output: CaptureOutput
    /// The backend's buddy group (descriptors of handed-over chunks).
    package let group: BuddyGroup
    /// Per group index: the base that descriptor addresses are offsets from.
    package let bases: UnsafePointer<UnsafeMutableRawPointer>
    /// Keeps the backend (and so `bases`) alive as long as the writer.
    private let backend: any CaptureBackend
    package let handoff: [HandoffRing]
    package let files: [CaptureFile]
    /// Per queue: the consumer submits nothing more (release store by the consumer,
    /// acquire load by the writer: pairs so the writer sees every entry published before).
    private let closed: [UnsafeAtomic<Bool>]
    /// Set by ``finish()`` (release) and read by the writer thread (acquire).
    private let finishing: UnsafeAtomic<Bool>
    private var thread: SystemThread?
    private var report = CaptureWriterReport(packets: 0, bytes: 0, files: 0, overLimit: 0, late: 0, failed: 0,
                                             error: nil, busySeconds: 0)
    // Writer-thread state (merge cursors).
    private var finishedEntries: [Int]
    private var cursor: [Int]
    private var lastMerged: UInt64 = 0
    /// Merged file: the queues whose next kept packet is known, by its timestamp.
    private var heads = Heap<MergeHead>()
    /// Merged file: the queues with nothing available that may still deliver (not
    /// closed), in no order; storage reserved for every queue.
    private var emptyOpen: [Int] = []
    private var written = 0
    private var finished = false
    /// Per origin queue: packets not written because `-c` was reached.
    private var beyondByOrigin: [Int]

    /// Opens the first file(s) for the packets of `engine`'s queues (either backend).
    /// Handoff entries are sized for ``CaptureBackend/maxPacketsPerChunk`` packets;
    /// the default queue capacity is half the pool's R (AF_PACKET: half the blocks).
    /// - Throws: `open(2)` failures.
    public init(output: CaptureOutput, engine: any CaptureBackend) throws(XDPError) {
        guard engine.group.claimWriterLanes() else {
            throw XDPError.usage("writer", "\(engine.interface) already has a capture writer: one writer per engine")
        }
        self.output = output
        let n = engine.queues.count
        backend = engine
        group = engine.group
        bases = engine.memoryLayout.bases
        let geometry = engine.group.configuration.geometry
        // Half of what a queue can have in user space: R chunks (zero-copy or lent to spill blocks).
        let capacity = output.queueCapacity > 0 ? output.queueCapacity : max(1, engine.group.captureQueueCapacity / 2)
        handoff = (0..<n).map { _ in HandoffRing(capacity: capacity, cellsPerChunk: max(geometry.cellsPerChunk, engine.maxPacketsPerChunk)) }
        closed = (0..<n).map { _ in UnsafeAtomic<Bool>.create(false) }
        finishing = .create(false)
        finishedEntries = Array(repeating: 0, count: n)
        cursor = Array(repeating: 0, count: n)
        emptyOpen.reserveCapacity(n)
        let names = engine.queues.map { "\(engine.interface)@q\($0)" }
        if output.perQueueFiles {
            files = engine.queues.enumerated().map { i, q in
                CaptureFile(base: output.path(forQueue: q), format: output.format, snapLength: output.snapLength,
                            linkType: output.linkType, interfaceNames: [names[i]], rotation: output.rotation, origins: n)
            }
        } else {
            files = [CaptureFile(base: output.path, format: output.format, snapLength: output.snapLength,
                                 linkType: output.linkType, interfaceNames: names, rotation: output.rotation, origins: n)]
        }
        beyondByOrigin = Array(repeating: 0, count: n)
        // pcapng statistics blocks: interface k of the merged file is queue k; each
        // per-queue file's interface 0 is its queue.
        for (i, f) in files.enumerated() {
            let perQueue = output.perQueueFiles
            f.statisticsAtClose = { [unowned self] k in self.interfaceStatistics(queue: perQueue ? i : k) }
        }
        let now = Sys.realtimeNanoseconds()
        for f in files { try f.open(now: now) }
    }

    deinit {
        closed.forEach { $0.destroy() }
        finishing.destroy()
    }

    /// Starts the writer thread.
    public func start() throws(XDPError) {
        thread = try SystemThread(name: "wc-writer") { [self] in self.run() }
    }

    // MARK: Consumer side

    /// A handoff entry to fill for chunk `handle`, or `nil` when the writer is behind.
    package func reserve(_ j: Int) -> HandoffRing.Entry? { handoff[j].reserve() }

    /// Hands the reserved entry to the writer.
    package func publish(_ j: Int) { handoff[j].publish() }

    /// Consumer `j` hands over nothing more.
    package func closeQueue(_ j: Int) { closed[j].store(true, ordering: .releasing) }

    /// Waits for the writer to write everything handed over, closes the files.
    /// Call after every consumer called ``closeQueue(_:)``.
    public func finish() -> CaptureWriterReport {
        if finished { return report }
        finished = true
        finishing.store(true, ordering: .releasing)
        thread?.join()
        thread = nil
        for f in files {
            do { try f.close() } catch { fail(error, packets: 0) }
            report.files += f.filesOpened
        }
        report.failed += files.reduce(0) { $0 + $1.lost }
        report.packets = files.reduce(0) { $0 + $1.packets }
        report.bytes = files.reduce(0) { $0 + $1.bytes }
        return report
    }

    // MARK: Writer thread

    /// Records a write or open failure; the first one is reported on stderr at once
    /// (the capture goes on: the ledger counts every packet the file misses).
    private func fail(_ error: XDPError, packets: Int) {
        if error.errno == EPIPE {
            // The kernel sent SIGPIPE to this (writer) thread, where it stays pending and
            // blocked; raise it for the process so the control thread's sigtimedwait sees
            // it and stops the capture in order (`-w - | head`).
            kill(getpid(), SIGPIPE)
        }
        if report.error == nil {
            report.error = error.description
            Sys.printError("wirecap: error: \(error.description.replacingOccurrences(of: "\n", with: " ")); "
                           + "the file ends at its last whole packet, later packets are counted as writer drops\n")
        }
        report.failed += packets
    }

    /// The pcapng Interface Statistics Block counters of queue `q` now (writer thread:
    /// at a file's close), from the engine's side of the ledger and the writer's own counts.
    private func interfaceStatistics(queue q: Int) -> InterfaceStatistics {
        let row = backend.captureLedger().rows[q]
        var s = InterfaceStatistics()
        s.received = row.offered
        s.interfaceDropped = row.beforeSocket
        let socketDrops = row.noFrame &+ row.poolExhausted &+ row.rxRingFull &+ row.invalidDescriptor
        // Rejected on the consumer, or in the XDP program (the capture side's `filtered`).
        let filtered = group.originTotal(.filtered, origin: q) &+ row.filtered
        // Packets of bypassed flows were received by the interface, not accepted for capture.
        s.filterAccepted = row.offered &- min(row.offered, socketDrops &+ filtered &+ row.bypassed)
        let failed = files.reduce(0) { $0 + $1.lostByOrigin[q] }
        s.systemDropped = socketDrops &+ group.originTotal(.deliveryDrops, origin: q) &+ UInt64(failed)
        s.delivered = UInt64(files.reduce(0) { $0 + $1.writtenByOrigin[q] })
        return s
    }

    /// What the writer did with the packets of origin queue `q` (written, lost to
    /// a write error, not written because of `-c`). Exact after ``finish()``.
    public func ledgerCounts(origin q: Int) -> (written: Int, failed: Int, beyondCount: Int) {
        precondition(finished, "CaptureWriter.ledgerCounts before finish()")
        return (files.reduce(0) { $0 + $1.writtenByOrigin[q] }, files.reduce(0) { $0 + $1.lostByOrigin[q] },
                beyondByOrigin[q])
    }

    private func run() {
        while true {
            let ending = finishing.load(ordering: .acquiring)
            let start = Sys.monotonicNanoseconds()
            let progressed = output.perQueueFiles ? writePerQueue() : writeMerged(draining: ending)
            for f in files {
                do { try f.flush() } catch { fail(error, packets: 0) }
            }
            releaseFinished()
            if progressed { report.busySeconds += Double(Sys.monotonicNanoseconds() - start) / 1e9; continue }
            if ending && (0..<handoff.count).allSatisfy({ closed[$0].load(ordering: .acquiring) && handoff[$0].available() == 0 }) {
                return
            }
            Sys.sleep(nanoseconds: 1_000_000)
        }
    }

    /// Gives finished entries' chunks back to their owners on the writer's recycle
    /// lane (after the flush: the iovecs pointed into them).
    private func releaseFinished() {
        for j in 0..<handoff.count where finishedEntries[j] > 0 {
            for _ in 0..<finishedEntries[j] {
                let handle = handoff[j].peek().handle.pointee
                handoff[j].release()
                // Never full: the lane holds the owner pool's whole item budget.
                let queued = group.recycleFromWriter(handle)
                precondition(queued, "writer lane refused \(handle) — a WireCap bug")
            }
            finishedEntries[j] = 0
        }
    }

    @inline(__always)
    private func isKept(_ e: HandoffRing.Entry, _ i: Int) -> Bool {
        !e.filtered.pointee || e.mask[i >> 6] & (1 << UInt64(i & 63)) != 0
    }

    private func emit(_ file: CaptureFile, _ j: Int, _ d: CellDescriptor, _ handle: ChunkHandle) {
        let origin = Int(handle.queue)
        guard output.packetLimit.map({ written < $0 }) ?? true else {
            report.overLimit += 1
            beyondByOrigin[origin] += 1
            return
        }
        let base = UnsafeRawPointer(bases[origin])
        let bytes = UnsafeRawBufferPointer(start: base + Int(d.address), count: Int(d.length))
        do {
            // Merged file: the packet's interface is the queue it arrived on (IF@qN), also
            // when a buddy's consumer processed it.
            try file.append(bytes, timestamp: d.timestamp, interface: output.perQueueFiles ? 0 : origin, origin: origin)
            written += 1
        } catch { fail(error, packets: 0) }   // the lost batch is counted by the file
    }

    /// Per-queue files: every available entry of every queue, in order (bounded per round).
    private func writePerQueue() -> Bool {
        var progressed = false
        for j in 0..<handoff.count {
            let ring = handoff[j]
            let n = min(ring.available(), 64)
            for k in 0..<n {
                let e = ring.peek(k)
                let handle = e.handle.pointee
                let descriptors = group.descriptors(of: handle)
                for i in 0..<descriptors.count where isKept(e, i) {
                    emit(files[j], j, descriptors[i], handle)
                }
            }
            finishedEntries[j] = n
            progressed = progressed || n > 0
        }
        return progressed
    }

    /// The timestamp of queue `j`'s next kept packet, moving past finished entries; nil when none is available.
    private func head(_ j: Int) -> (CellDescriptor, ChunkHandle, UInt64)? {
        let ring = handoff[j]
        while finishedEntries[j] < ring.available() {
            let e = ring.peek(finishedEntries[j])
            let handle = e.handle.pointee
            let descriptors = group.descriptors(of: handle)
            while cursor[j] < descriptors.count && !isKept(e, cursor[j]) { cursor[j] += 1 }
            if cursor[j] < descriptors.count { return (descriptors[cursor[j]], handle, e.published.pointee) }
            finishedEntries[j] += 1
            cursor[j] = 0
        }
        return nil
    }

    /// One merged file: repeatedly the oldest head packet over all queues, while
    /// no queue that may still deliver something older is empty (or the writer has
    /// waited the merge window for it, or the capture is ending). Bounded per round.
    ///
    /// The heads are a min-heap, rebuilt at the start of a round (Q insertions) and
    /// kept per packet (one pop and at most one insertion). While some queue is
    /// empty but open, it is looked at again before every packet (one acquire load
    /// each): a packet it gets meanwhile takes its place in the order at once.
    ///
    /// The wait is measured on the monotonic clock from when the packet's chunk was
    /// handed to the writer, not by comparing packet stamps with the wall clock: a
    /// step of the wall clock (NTP) can then neither stall the file nor hurry it.
    private func writeMerged(draining: Bool) -> Bool {
        let now = Sys.monotonicNanoseconds()
        let file = files[0]
        var emitted = 0
        while heads.popMin() != nil {}   // empty, keeping the storage
        emptyOpen.removeAll(keepingCapacity: true)
        for j in 0..<handoff.count where place(j) == .emptyOpen { emptyOpen.append(j) }
        while emitted < 16_384 {
            var i = 0
            while i < emptyOpen.count {
                if place(emptyOpen[i]) == .emptyOpen {
                    i += 1
                } else {
                    emptyOpen.swapAt(i, emptyOpen.count - 1)
                    emptyOpen.removeLast()
                }
            }
            guard let top = heads.min else { break }
            let j = top.queue
            guard let (d, handle, published) = head(j) else { preconditionFailure("merge head of queue \(j) vanished") }
            // A queue that may still deliver something older is empty: wait for it,
            // up to the merge window (or not at all when the capture is ending).
            if !emptyOpen.isEmpty && !draining && published &+ output.mergeWindowNanoseconds > now { break }
            _ = heads.popMin()
            if d.timestamp < lastMerged { report.late += 1 }
            lastMerged = max(lastMerged, d.timestamp)
            emit(file, j, d, handle)
            cursor[j] += 1
            emitted += 1
            if place(j) == .emptyOpen { emptyOpen.append(j) }
        }
        // Entries whose last packet was just written.
        for j in 0..<handoff.count { _ = head(j) }
        return emitted > 0
    }

    /// Where queue `j` stands in the merge.
    private enum MergeState { case onHeap, emptyOpen, done }

    /// Puts queue `j`'s head on the heap if it has one (`j` must not be on it).
    /// - Returns: `.onHeap`; else `.emptyOpen` (it may still deliver) or `.done`
    ///   (closed and empty).
    ///
    /// `closed` is read before the ring: (acquire) pairs with the consumer's release
    /// store in ``closeQueue(_:)``, made after its last publish, so a queue seen
    /// closed and then empty has nothing more to give. (Read the other way round,
    /// a last entry published between the two reads would be skipped.)
    @inline(__always)
    private func place(_ j: Int) -> MergeState {
        let isClosed = closed[j].load(ordering: .acquiring)
        if let h = head(j) {
            heads.insert(MergeHead(timestamp: h.0.timestamp, queue: j))
            return .onHeap
        }
        return isClosed ? .done : .emptyOpen
    }
}

/// One queue's next packet in the merged file: oldest first, ties by queue
/// (a stable order for equal timestamps).
struct MergeHead: Comparable {
    var timestamp: UInt64
    var queue: Int

    static func < (a: MergeHead, b: MergeHead) -> Bool {
        a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.queue < b.queue
    }
}

extension CaptureBackend {
    /// The loss ledger with the `-w` writer's counts (see ``ledger(final:writerCounts:)``).
    public func ledger(final: Bool, writer: CaptureWriter?) -> CaptureLedger {
        ledger(final: final, writerCounts: writer.map { w in { w.ledgerCounts(origin: $0) } })
    }
}
