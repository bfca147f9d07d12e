import Atomics
import WireCapCore
import WireCapEngine

/// The WireCap pipeline without a kernel: pools, buddy-group offload and
/// ``CaptureHandle``s over WireCapCore, fed with packets by the caller
/// (a fake NIC). Used by tests of the pcap-style calls and for replays.
///
/// The caller plays every capture thread: ``receive(queue:bytes:timestamp:)``
/// copies a packet into a frame the queue posted to its (simulated) fill ring,
/// records it, and delivers chunks that are full or older than the partial
/// timeout (virtual time: the timestamps). ``flush(now:)`` delivers what waits.
/// With flow offload each packet's bucket is its ``FlowHash``, as on the AF_XDP
/// capture thread, and the schedulers tick on the same virtual time.
///
/// - warning: `receive`, `flush` and `finish` from one thread (the "NIC"); each
///   handle from one thread (may be the same one).
public final class SyntheticCapture: @unchecked Sendable {
    /// The buddy group of the synthetic queues.
    public let group: BuddyGroup
    /// One handle per queue.
    public private(set) var handles: [CaptureHandle] = []
    private let drivers: [CaptureDriver]
    private let memory: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let queueNumbers: UnsafeMutablePointer<Int>
    private var posted: [[UInt64]]
    private var postedHead: [Int]
    private let state = State()
    /// The handles' futex words: the synthetic NIC wakes a sleeping handle when it
    /// delivers a chunk to its queue, as a capture thread does.
    private let wakeups: ConsumerWakeups
    /// The group offloads flows: packets get their ``FlowHash`` as bucket.
    private let hashesFlows: Bool

    final class State: ChunkSourceState {
        let finished = ManagedAtomic<Bool>(false)
        // Acquire: pairs with the release store in finish(), so chunks delivered before it are seen.
        var isFinished: Bool { finished.load(ordering: .acquiring) }
    }

    /// Builds `queues` queues with their pools and handles.
    /// - Throws: ``CaptureError`` `.usage` for a bad configuration or filter.
    public init(queues: Int, configuration: CaptureConfiguration, filter: PacketPredicate? = nil, snapLength: Int = 262_144,
                readTimeoutNanoseconds: UInt64 = 10_000_000) throws(CaptureError) {
        do { try configuration.validate() } catch { throw CaptureError(.usage, error.message) }
        guard queues >= 1 else { throw CaptureError(.usage, "a synthetic capture needs at least one queue") }
        if configuration.offloadsFlows(queues: queues) && queues > EngineSettings.maxFlowOffloadQueues {
            throw CaptureError(.usage, "flow offload supports at most \(EngineSettings.maxFlowOffloadQueues) queues per buddy group, got \(queues): use chunk offload")
        }
        hashesFlows = configuration.offloadsFlows(queues: queues)
        // Each queue's memory: its frames (spill blocks live in lent chunks, as live).
        let bytes = configuration.queueBytes
        let memory = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: queues)
        let queueNumbers = UnsafeMutablePointer<Int>.allocate(capacity: queues)
        self.memory = memory
        self.queueNumbers = queueNumbers
        for q in 0..<queues {
            let area = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
            (memory + q).initialize(to: area)
            (queueNumbers + q).initialize(to: q)
        }
        let group: BuddyGroup
        do {
            group = try BuddyGroup(queueCount: queues, configuration: configuration,
                                   memory: (0..<queues).map { memory[$0] })
        } catch {
            for q in 0..<queues { memory[q].deallocate() }
            memory.deallocate(); queueNumbers.deallocate()
            throw CaptureError(.usage, error.message)
        }
        self.group = group
        let compiled = filter
        drivers = (0..<queues).map { CaptureDriver(group: group, queue: $0) }
        posted = Array(repeating: [], count: queues)
        postedHead = Array(repeating: 0, count: queues)
        let wakeups = ConsumerWakeups(consumers: queues)
        self.wakeups = wakeups
        let state = self.state
        handles = (0..<queues).map { q in
            CaptureHandle(interface: "synthetic",
                          consumer: CaptureConsumer(index: q, group: group, bases: UnsafePointer(memory),
                                                    deviceQueues: UnsafePointer(queueNumbers), wakeups: wakeups),
                          source: state, filter: compiled, snapLength: snapLength,
                          readTimeoutNanoseconds: readTimeoutNanoseconds)
        }
        for q in 0..<queues { refill(q) }
    }

    deinit {
        for q in 0..<group.queueCount { memory[q].deallocate() }
        memory.deallocate()
        queueNumbers.deallocate()
    }

    private func refill(_ q: Int) {
        drivers[q].reclaim()
        if postedHead[q] > 0 && postedHead[q] == posted[q].count { posted[q].removeAll(keepingCapacity: true); postedHead[q] = 0 }
        let room = group.configuration.geometry.fillRingSize - (posted[q].count - postedHead[q])
        _ = drivers[q].refill(room: room) { posted[q].append($0) }
    }

    /// One packet arrives on `queue` at virtual time `timestamp` (nanoseconds).
    /// - Returns: `false` when the queue had no posted frame (the packet is dropped
    ///   and counted as "no buffer", like the kernel's `rx_dropped`).
    @discardableResult
    public func receive(queue q: Int, bytes: UnsafeRawBufferPointer, timestamp: UInt64) -> Bool {
        refill(q)
        guard postedHead[q] < posted[q].count else {
            group.captureCounters(q).add(CaptureCounter.dropsNoBuffer.rawValue, 1)
            return false
        }
        let address = posted[q][postedHead[q]]
        postedHead[q] += 1
        let frame = group.configuration.geometry.frameSize
        let length = min(bytes.count, frame)
        if length > 0 { (memory[q] + Int(address)).copyMemory(from: bytes.baseAddress!, byteCount: length) }
        let bucket = hashesFlows
            ? UInt16(truncatingIfNeeded: FlowHash.hash(UnsafeRawPointer(memory[q] + Int(address)), length: length)) : 0
        _ = drivers[q].record(address: address, length: UInt32(length), timestamp: timestamp, arrival: timestamp, bucket: bucket)
        drivers[q].countReceived(packets: 1, bytes: length)
        if drivers[q].deliver(now: timestamp) > 0 { wakeConsumers() }
        return true
    }

    /// Convenience for ``receive(queue:bytes:timestamp:)`` with an array.
    @discardableResult
    public func receive(queue: Int, packet: [UInt8], timestamp: UInt64) -> Bool {
        packet.withUnsafeBytes { receive(queue: queue, bytes: $0, timestamp: timestamp) }
    }

    /// Delivers every partly filled chunk older than the partial timeout at `now`
    /// (pass `UInt64.max / 2` to deliver everything), and takes recycled chunks back.
    public func flush(now: UInt64) {
        for q in 0..<group.queueCount {
            drivers[q].reclaim()
            drivers[q].deliver(now: now)
            refill(q)
        }
        wakeConsumers()
    }

    /// Wakes the handles that sleep on a capture queue that now has work.
    private func wakeConsumers() {
        let group = self.group
        wakeups.wakeSleepers { group.captureQueueLength($0) > 0 }
    }

    /// Delivers everything and marks the source finished: handles drain what is
    /// queued, then return ``DispatchResult/finished``.
    ///
    /// With flow offload, packets held for a move in progress reach their new
    /// consumer only once the old one has recycled the bucket's earlier packets:
    /// then nothing is marked finished and the call returns `false`; call it again
    /// after the consumers went on (a capture thread's shutdown flush waits the same way).
    /// - Returns: `true` when everything was delivered and the source is finished.
    @discardableResult
    public func finish() -> Bool {
        for q in 0..<group.queueCount {
            drivers[q].reclaim()
            drivers[q].flush()
        }
        wakeConsumers()
        guard drivers.allSatisfy({ $0.undeliveredPackets == 0 }) else { return false }
        // Release: pairs with the acquire in isFinished; the last deliveries happen before it.
        state.finished.store(true, ordering: .releasing)
        wakeups.wakeAll()
        return true
    }
}
