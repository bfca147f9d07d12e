/// The loss ledger of one queue: where every packet offered to it went.
///
/// ```
///   offered = delivered
///           + beforeSocket + noFrame + poolExhausted + rxRingFull + invalidDescriptor   (capture drops)
///           + delivery + writer + abandoned + txStalled                               (drops after capture)
///           + filtered + sampled + beyondCount + bypassed                              (not losses)
///           + inFlight                                                                 (live snapshots only)
///           + unexplained
/// ```
///
/// `unexplained` is computed, never clamped: a negative value means some packet
/// was counted twice, a positive one that a packet vanished where no counter saw
/// it. Both are bugs or kernel paths WireCap does not read, and both are shown.
///
/// What each figure is, and where it comes from, is in the README ("The loss
/// ledger"). Every field is a packet count, but ``bypassedBytes``.
public struct QueueLedger: Sendable, Hashable, Codable {
    /// The queue's label (AF_XDP: device rx queue; AF_PACKET: socket number; `-1`: the
    /// interface-wide row, for counters the device keeps only per interface).
    public var queue: Int
    /// Packets that reached the queue while capture was on.
    public var offered: UInt64 = 0
    /// Packets handed to the application: consumed by the consumer loop, passed to
    /// an API callback, or written to the file with `-w`.
    public var delivered: UInt64 = 0

    /// Dropped by the device before WireCap's program or socket saw them (NIC
    /// `rx_missed_errors`/`rx_fifo_errors`/`rx_over_errors`; veth keeps none: it
    /// back-pressures its sender instead of dropping before XDP).
    public var beforeSocket: UInt64 = 0
    /// Dropped by the kernel: no frame posted in the fill ring while the pool had
    /// free chunks (the capture thread was late to refill).
    public var noFrame: UInt64 = 0
    /// Dropped by the kernel with no frame posted while the pool had no free chunk
    /// (consumers held every chunk).
    public var poolExhausted: UInt64 = 0
    /// Dropped by the kernel because the rx ring was full (the capture thread was late to read it).
    public var rxRingFull: UInt64 = 0
    /// Dropped by the kernel because a fill-ring descriptor was invalid.
    public var invalidDescriptor: UInt64 = 0
    /// Dropped after capture because the application could not take them (a full
    /// hand-off to the writer, a full API queue).
    public var delivery: UInt64 = 0
    /// Dropped by the writer: a write failed (disk full, I/O error).
    public var writer: UInt64 = 0
    /// Received but never delivered when the capture closed (0 unless the shutdown
    /// order is broken).
    public var abandoned: UInt64 = 0
    /// Forwarding: packets the kernel did not complete in time (their frames were
    /// kept, not recycled).
    public var txStalled: UInt64 = 0

    /// Rejected by the capture filter (not a loss).
    public var filtered: UInt64 = 0
    /// Skipped by `--sample` (not a loss).
    public var sampled: UInt64 = 0
    /// Captured after `-c` was reached and not written (not a loss).
    public var beyondCount: UInt64 = 0
    /// Received and not yet delivered at the time of a live snapshot (0 at the end).
    public var inFlight: UInt64 = 0
    /// Zero-copy sockets: times the NIC found the fill ring empty. Each such event
    /// dropped packets in the driver, before XDP, that no socket counter counts and
    /// only some drivers count at all: the ledger cannot say how many, so it says
    /// that some were lost (``isLossless`` is then false).
    public var uncountedLossEvents: UInt64 = 0
    /// Packets copied into spill blocks before delivery (issue 14). Not a fate:
    /// each is also counted above, as delivered or as whatever became of it.
    public var spilled: UInt64 = 0
    /// Of ``filtered``, the packets the filter rejected in the XDP program (issue
    /// 17): they never took a frame. Not a fate of its own.
    public var filteredInKernel: UInt64 = 0
    /// Packets of flows the application bypassed (issue 17: `--bypass-after`, the
    /// API's `bypass`): the XDP program counted them and did not capture them, as
    /// asked. Not a loss.
    public var bypassed: UInt64 = 0
    /// Their bytes (whole packet lengths). Not a packet count: outside the balance.
    public var bypassedBytes: UInt64 = 0

    public init(queue: Int) { self.queue = queue }

    /// Every loss, all causes.
    public var lost: UInt64 {
        beforeSocket &+ noFrame &+ poolExhausted &+ rxRingFull &+ invalidDescriptor
            &+ delivery &+ writer &+ abandoned &+ txStalled
    }

    /// Packets accounted for by a counter that is not a loss.
    public var accountedNotLost: UInt64 { delivered &+ filtered &+ sampled &+ beyondCount &+ bypassed &+ inFlight }

    /// `offered` minus everything counted; never clamped (see the type's documentation).
    public var unexplained: Int64 {
        Int64(bitPattern: offered) &- Int64(bitPattern: accountedNotLost) &- Int64(bitPattern: lost)
    }

    /// `true` only when no loss was counted, nothing is unexplained and no uncounted
    /// loss event happened.
    public var isLossless: Bool { lost == 0 && unexplained == 0 && uncountedLossEvents == 0 }

    /// The loss causes with their names, in the order the reports print them.
    public var causes: [(name: String, packets: UInt64)] {
        [("before-socket", beforeSocket), ("no-frame", noFrame), ("pool-exhausted", poolExhausted),
         ("rx-ring-full", rxRingFull), ("invalid-descriptor", invalidDescriptor), ("delivery", delivery),
         ("writer", writer), ("abandoned", abandoned), ("tx-stalled", txStalled)]
    }

    private enum DerivedKeys: String, CodingKey { case unexplained }

    /// Every stored field, plus `unexplained` (derived, so a JSON reader need not
    /// repeat the ledger's arithmetic to find what no counter explains). Decoding
    /// reads the stored fields and ignores it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(queue, forKey: .queue)
        try c.encode(offered, forKey: .offered)
        try c.encode(delivered, forKey: .delivered)
        try c.encode(beforeSocket, forKey: .beforeSocket)
        try c.encode(noFrame, forKey: .noFrame)
        try c.encode(poolExhausted, forKey: .poolExhausted)
        try c.encode(rxRingFull, forKey: .rxRingFull)
        try c.encode(invalidDescriptor, forKey: .invalidDescriptor)
        try c.encode(delivery, forKey: .delivery)
        try c.encode(writer, forKey: .writer)
        try c.encode(abandoned, forKey: .abandoned)
        try c.encode(txStalled, forKey: .txStalled)
        try c.encode(filtered, forKey: .filtered)
        try c.encode(sampled, forKey: .sampled)
        try c.encode(beyondCount, forKey: .beyondCount)
        try c.encode(inFlight, forKey: .inFlight)
        try c.encode(uncountedLossEvents, forKey: .uncountedLossEvents)
        try c.encode(spilled, forKey: .spilled)
        try c.encode(filteredInKernel, forKey: .filteredInKernel)
        try c.encode(bypassed, forKey: .bypassed)
        try c.encode(bypassedBytes, forKey: .bypassedBytes)
        var derived = encoder.container(keyedBy: DerivedKeys.self)
        try derived.encode(unexplained, forKey: .unexplained)
    }

    /// Field-wise sum (the `queue` label of `self` is kept).
    public func adding(_ o: QueueLedger) -> QueueLedger {
        var s = self
        s.offered &+= o.offered; s.delivered &+= o.delivered
        s.beforeSocket &+= o.beforeSocket; s.noFrame &+= o.noFrame; s.poolExhausted &+= o.poolExhausted
        s.rxRingFull &+= o.rxRingFull; s.invalidDescriptor &+= o.invalidDescriptor
        s.delivery &+= o.delivery; s.writer &+= o.writer; s.abandoned &+= o.abandoned; s.txStalled &+= o.txStalled
        s.filtered &+= o.filtered; s.sampled &+= o.sampled; s.beyondCount &+= o.beyondCount; s.inFlight &+= o.inFlight
        s.uncountedLossEvents &+= o.uncountedLossEvents
        s.spilled &+= o.spilled
        s.filteredInKernel &+= o.filteredInKernel
        s.bypassed &+= o.bypassed
        s.bypassedBytes &+= o.bypassedBytes
        return s
    }
}

/// Where a ledger's `offered` figures come from, so a user can compare them with
/// the counters of `ip -s link` and `ethtool -S`.
public enum OfferedSource: String, Sendable, Hashable, Codable {
    /// AF_XDP: WireCap's XDP program counts, per rx queue, every packet it
    /// redirected to a WireCap socket; device drops before the program come from
    /// the device's counters (the interface row).
    case xdpProgram = "xdp-program"
    /// AF_PACKET: the sockets' `PACKET_STATISTICS` (`tp_packets`, which includes `tp_drops`).
    case packetStatistics = "packet-statistics"
    /// No kernel counter: `offered` is what the capture thread received (simulator,
    /// synthetic captures).
    case received
}

/// The ledger of one capture (one interface): a row per queue, an interface-wide
/// row for device counters that have no queue, and their total.
public struct CaptureLedger: Sendable, Hashable, Codable {
    /// The interface.
    public var interface: String
    /// Where `offered` comes from.
    public var offeredSource: OfferedSource
    /// Which device counters fed ``interfaceRow`` (e.g. `rtnetlink rx_missed_errors+rx_fifo_errors`, `veth peer tx_dropped`).
    public var deviceCounters: String
    /// One row per queue, in group order.
    public var queues: [QueueLedger]
    /// Device drops not attributable to a queue (queue label -1).
    public var interfaceRow: QueueLedger
    /// `true` for the final ledger (the capture is drained and closed): `inFlight` is then `abandoned`.
    public var isFinal: Bool

    public init(interface: String, offeredSource: OfferedSource, deviceCounters: String = "",
                queues: [QueueLedger], interfaceRow: QueueLedger = QueueLedger(queue: -1), isFinal: Bool) {
        self.interface = interface
        self.offeredSource = offeredSource
        self.deviceCounters = deviceCounters
        self.queues = queues
        self.interfaceRow = interfaceRow
        self.isFinal = isFinal
    }

    /// Every row summed (queue label -1).
    public var total: QueueLedger {
        queues.reduce(interfaceRow) { $0.adding($1) }
    }

    /// "No packets lost" may be said only when this is `true`.
    public var isLossless: Bool { total.isLossless }
}
