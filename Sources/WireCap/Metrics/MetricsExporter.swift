import CoreMetrics
import Prometheus
import Synchronization
import WireCapCore

/// The engine's per-queue counters as Prometheus metrics, through swift-metrics
/// with a swift-prometheus registry (no global bootstrap: the factory is passed
/// explicitly, so several exporters may live in one process).
///
/// Counters (`_total`): received packets and bytes, consumed packets, drops by
/// cause (`cause="no_buffer" | "rx_ring_full" | "invalid_descriptor" | "pool_exhausted" | "delivery"`),
/// chunks offloaded in and out, packets and bytes spilled. Gauges: pool chunks by state
/// (`state="free" | "attached" | "captured" | "lent"`), capture-queue length, spill blocks out.
/// Flow offload (issue 15; 0 with chunk offload): `wirecap_flow_bucket_moves_total`,
/// `wirecap_flow_buckets_spread_total`, `wirecap_flow_spread_packets_total`,
/// `wirecap_flow_held_packets_total` (packets that waited for a move's drain) and the
/// gauge `wirecap_flow_consumer_load_packets_per_second` (the buckets every queue has
/// settled on this queue's consumer, at their offered rates, losses before recording included;
/// spread buckets are in no consumer's load). Labels: `interface`, `queue`. The same numbers as the
/// CLI's statistics line. The loss ledger: ``update(ledger:)``.
public final class MetricsExporter: @unchecked Sendable {
    /// The registry the HTTP endpoint renders.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let lock = Mutex<[String: Series]>([:])

    final class Series {
        var counters: [String: (CoreMetrics.Counter, UInt64)] = [:]
        var gauges: [String: CoreMetrics.Gauge] = [:]
    }

    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Publishes a snapshot of `statistics` for the queues of `interface`.
    /// Counters advance by the difference from the previous snapshot.
    public func update(interface: String, _ statistics: [QueueStatistics], deviceQueues: [Int]) {
        lock.withLock { all in
            for (i, s) in statistics.enumerated() {
                let q = i < deviceQueues.count ? deviceQueues[i] : s.queue
                let key = "\(interface)/\(q)"
                let series = all[key] ?? Series()
                all[key] = series
                let labels = [("interface", interface), ("queue", String(q))]
                func counter(_ name: String, _ extra: [(String, String)] = [], _ value: UInt64) {
                    let id = name + extra.map { "\($0.0)=\($0.1)" }.joined()
                    if series.counters[id] == nil {
                        series.counters[id] = (CoreMetrics.Counter(label: name, dimensions: labels + extra, factory: factory), 0)
                    }
                    let (c, last) = series.counters[id]!
                    if value > last { c.increment(by: Int64(value - last)) }
                    series.counters[id] = (c, max(value, last))
                }
                func gauge(_ name: String, _ extra: [(String, String)] = [], _ value: Double) {
                    let id = name + extra.map { "\($0.0)=\($0.1)" }.joined()
                    if series.gauges[id] == nil {
                        series.gauges[id] = CoreMetrics.Gauge(label: name, dimensions: labels + extra, factory: factory)
                    }
                    series.gauges[id]!.record(value)
                }
                counter("wirecap_received_packets_total", [], s.packetsReceived)
                counter("wirecap_received_bytes_total", [], s.bytesReceived)
                counter("wirecap_consumed_packets_total", [], s.packetsConsumed)
                counter("wirecap_dropped_packets_total", [("cause", "no_buffer")], s.dropsNoBuffer)
                counter("wirecap_dropped_packets_total", [("cause", "rx_ring_full")], s.dropsRxRingFull)
                counter("wirecap_dropped_packets_total", [("cause", "invalid_descriptor")], s.dropsInvalidDescriptor)
                counter("wirecap_dropped_packets_total", [("cause", "pool_exhausted")], s.dropsPoolExhausted)
                counter("wirecap_dropped_packets_total", [("cause", "delivery")], s.deliveryDrops)
                counter("wirecap_offloaded_chunks_total", [("direction", "out")], s.offloadedOut)
                counter("wirecap_offloaded_chunks_total", [("direction", "in")], s.offloadedIn)
                gauge("wirecap_pool_chunks", [("state", "free")], Double(s.freeChunks))
                gauge("wirecap_pool_chunks", [("state", "attached")], Double(s.attachedChunks))
                gauge("wirecap_pool_chunks", [("state", "captured")], Double(s.capturedChunks))
                gauge("wirecap_pool_chunks", [("state", "lent")], Double(s.lentChunks))
                gauge("wirecap_capture_queue_length", [], Double(s.captureQueueLength))
                counter("wirecap_spilled_packets_total", [], s.packetsSpilled)
                counter("wirecap_spilled_bytes_total", [], s.bytesSpilled)
                gauge("wirecap_spill_blocks_out", [], Double(s.spillBlocksOut))
                counter("wirecap_flow_bucket_moves_total", [], s.bucketMoves)
                counter("wirecap_flow_buckets_spread_total", [], s.bucketsSpread)
                counter("wirecap_flow_spread_packets_total", [], s.packetsSpread)
                counter("wirecap_flow_held_packets_total", [], s.packetsHeld)
                gauge("wirecap_flow_consumer_load_packets_per_second", [], Double(s.consumerLoad))
            }
        }
    }

    /// Publishes the loss ledger of one capture: per queue (`queue="-1"`: the
    /// device row) `wirecap_ledger_packets_total{fate=…}` for offered, delivered,
    /// filtered, sampled, beyond_count and bypassed, `wirecap_kernel_filtered_packets_total`
    /// (of filtered, rejected in the XDP program), `wirecap_bypassed_bytes_total`,
    /// `wirecap_lost_packets_total{cause=…}`
    /// for every loss cause, and the gauges `wirecap_in_flight_packets` and
    /// `wirecap_unexplained_packets` (signed: never clamped).
    public func update(ledger: CaptureLedger) {
        lock.withLock { all in
            for row in ledger.queues + [ledger.interfaceRow] {
                let key = "ledger:\(ledger.interface)/\(row.queue)"
                let series = all[key] ?? Series()
                all[key] = series
                let labels = [("interface", ledger.interface), ("queue", String(row.queue))]
                func counter(_ name: String, _ extra: (String, String), _ value: UInt64) {
                    let id = name + extra.0 + extra.1
                    if series.counters[id] == nil {
                        series.counters[id] = (CoreMetrics.Counter(label: name, dimensions: labels + [extra], factory: factory), 0)
                    }
                    let (c, last) = series.counters[id]!
                    if value > last { c.increment(by: Int64(value - last)) }
                    series.counters[id] = (c, max(value, last))
                }
                func gauge(_ name: String, _ value: Double) {
                    if series.gauges[name] == nil {
                        series.gauges[name] = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
                    }
                    series.gauges[name]!.record(value)
                }
                for (fate, v) in [("offered", row.offered), ("delivered", row.delivered), ("filtered", row.filtered),
                                  ("sampled", row.sampled), ("beyond_count", row.beyondCount), ("bypassed", row.bypassed)] {
                    counter("wirecap_ledger_packets_total", ("fate", fate), v)
                }
                // Of `filtered`, those the XDP program rejected (they never took a frame).
                counter("wirecap_kernel_filtered_packets_total", ("place", "xdp"), row.filteredInKernel)
                // Bytes of bypassed flows (issue 17), counted in the XDP program.
                counter("wirecap_bypassed_bytes_total", ("place", "xdp"), row.bypassedBytes)
                for cause in row.causes {
                    counter("wirecap_lost_packets_total", ("cause", cause.name.replacingOccurrences(of: "-", with: "_")), cause.packets)
                }
                gauge("wirecap_in_flight_packets", Double(row.inFlight))
                gauge("wirecap_unexplained_packets", Double(row.unexplained))
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
