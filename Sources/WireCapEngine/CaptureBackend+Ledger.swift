import WireCapCore
import WireCapSystem

extension CaptureBackend {
    /// The loss ledger of this capture: the backend's capture side
    /// (``captureLedger()``) plus what consumers, API handles and the writer did
    /// with each origin queue's packets (``BuddyGroup/originTotal(_:origin:)``).
    ///
    /// - Parameters:
    ///   - final: after the capture stopped and every consumer and the writer
    ///     finished: received-but-undelivered packets are `abandoned` (else `inFlight`),
    ///     and the writer's own written/failed/beyond-`-c` counts are used.
    ///   - writerCounts: the `-w` writer's written, failed and beyond-`-c` packets of
    ///     an origin queue, when there is a writer and it finished (otherwise packets
    ///     handed to a writer count as delivered).
    public func ledger(final: Bool, writerCounts: ((Int) -> (written: Int, failed: Int, beyondCount: Int))?) -> CaptureLedger {
        // Downstream first, upstream last: every packet passes an upstream counter before
        // a downstream one, so read in this order a live snapshot never shows more
        // packets downstream than it shows offered.
        let n = queues.count
        var rows = (0..<n).map { i -> QueueLedger in
            var row = QueueLedger(queue: queues[i])
            row.filtered = group.originTotal(.filtered, origin: i)
            row.sampled = group.originTotal(.sampled, origin: i)
            row.delivery = group.originTotal(.deliveryDrops, origin: i)
            row.txStalled = group.originTotal(.txStalled, origin: i)
            row.spilled = group.statistics(queue: i).packetsSpilled
            if let writerCounts, final {
                let w = writerCounts(i)
                row.delivered = UInt64(w.written)
                row.writer = UInt64(w.failed)
                row.beyondCount = UInt64(w.beyondCount)
            } else {
                row.delivered = group.originTotal(.delivered, origin: i) &+ group.originTotal(.toWriter, origin: i)
            }
            return row
        }
        let consumed = (0..<n).map { group.originTotal(.consumed, origin: $0) }
        let received = (0..<n).map { group.statistics(queue: $0).packetsReceived }
        let capture = captureLedger()
        for i in 0..<n {
            let base = capture.rows[i]
            rows[i].queue = base.queue
            rows[i].offered = base.offered
            rows[i].noFrame = base.noFrame
            rows[i].poolExhausted = base.poolExhausted
            rows[i].rxRingFull = base.rxRingFull
            rows[i].invalidDescriptor = base.invalidDescriptor
            rows[i].beforeSocket = base.beforeSocket
            // Rejected by a filter in the kernel: never reached a consumer's counters.
            rows[i].filtered &+= base.filtered
            rows[i].filteredInKernel = base.filteredInKernel
            rows[i].bypassed = base.bypassed
            rows[i].bypassedBytes = base.bypassedBytes
            let pending = received[i] &- min(received[i], consumed[i])
            if final {
                // Received and never taken by a consumer: the shutdown order failed.
                rows[i].abandoned = pending
            } else {
                // Live, a packet may be between any two counters (in an rx ring, in a
                // chunk a consumer is processing, a drop the kernel has not reported
                // yet): whatever is not yet accounted for is in flight. `unexplained`
                // means something only in the final ledger.
                let open = rows[i].unexplained
                rows[i].inFlight = open > 0 ? UInt64(open) : 0
            }
        }
        let ledger = CaptureLedger(interface: interface, offeredSource: offeredSource,
                                   deviceCounters: capture.deviceCounters, queues: rows, interfaceRow: capture.interface,
                                   isFinal: final)
        return ledger
    }
}

extension CaptureBackend {
    /// The loss ledger without a writer (see ``ledger(final:writerCounts:)``).
    public func ledger(final: Bool) -> CaptureLedger { ledger(final: final, writerCounts: nil) }
}
