/// A synthetic stand-in for the paper's Fermilab border-router trace (§2.2: about
/// 5 million packets over about 32 s), built to show what the paper's Figure 3
/// shows with 6 RSS queues: short-term bursts on every queue and a long-term
/// imbalance (one queue near 80,000 p/s for long stretches, the others near 20,000 p/s).
///
/// Two kinds of traffic:
///
/// - **Background**: flows start uniformly over the trace; sizes are Pareto
///   (heavy-tailed: most flows are a few packets, a few carry thousands). Each flow
///   sends on/off: trains that double from `initialTrain` up to `maximumTrain`
///   packets (TCP slow start, then a full window) at a per-flow rate drawn
///   log-uniformly from `onRate`, separated by exponential off periods (`offMean`,
///   round trips and application pauses). Large flows' trains are the short-term bursts.
/// - **Elephants**: `elephantCount` long-lived TCP flows whose 5-tuples are chosen
///   (by rejection sampling over random tuples) so that RSS with `pinQueues` queues
///   and the Microsoft key puts them all on queue `pinQueue`. Together they add
///   `elephantRate` p/s (each slowly modulated ±`elephantSwing`) from
///   `elephantStart` to `elephantEnd` (fractions of the duration): the long-term imbalance.
///   With another queue count they land wherever RSS puts them, as real flows would.
///
/// Everything is drawn from one ``SplitMix64`` seeded with `seed`.
///
/// **Calibration.** The burst parameters (Pareto shape 1.0 capped at 15,000
/// packets, trains of up to 2,048 packets at 30,000–400,000 p/s, 50 ms pauses)
/// were chosen so that, with 6 queues, x = 300 and the 82599's 512 KiB NIC buffer,
/// the DNA model loses about what
/// the paper's Table 1 reports for DNA (≈ 50% on the imbalanced queue, ≈ 9% on a
/// 20,000 p/s queue) across seeds, without sustained overload on the other queues
/// (PF_RING's 10,240-slot buffer stays almost loss-free there, as in Table 1).
public struct BorderRouterModel: Sendable, Hashable {
    /// Trace length, seconds (at most 60).
    public var durationSeconds: Double = 32
    /// Background packets per second, all queues together.
    public var backgroundRate: Double = 115_000
    /// Pareto shape of background flow sizes (packets).
    public var flowSizeAlpha: Double = 1.0
    /// Smallest background flow, packets.
    public var flowSizeMinimum: Double = 2
    /// Largest background flow, packets.
    public var flowSizeMaximum: Double = 15_000
    /// Per-flow sending rate during a train, p/s (log-uniform between the bounds).
    public var onRate: ClosedRange<Double> = 30_000...400_000
    /// First train of a flow, packets.
    public var initialTrain: Int = 2
    /// Largest train (a full window), packets.
    public var maximumTrain: Int = 2_048
    /// Mean pause between trains, seconds.
    public var offMean: Double = 0.05
    /// Long-lived flows pinned to one queue.
    public var elephantCount: Int = 6
    /// Their total rate, p/s.
    public var elephantRate: Double = 60_000
    /// Relative amplitude of each elephant's slow rate modulation.
    public var elephantSwing: Double = 0.2
    /// When the elephants start and stop, as fractions of the duration.
    public var elephantStart: Double = 0.3
    public var elephantEnd: Double = 0.97
    /// The queue count and queue the elephants are pinned to.
    public var pinQueues: Int = 6
    public var pinQueue: Int = 0

    /// The default model (32 s, about 5 M packets).
    public init() {}

    /// The default model shortened to `seconds` (rates unchanged, so about
    /// 156,000 packets per second of trace).
    public static func shortened(to seconds: Double) -> BorderRouterModel {
        var m = BorderRouterModel()
        m.durationSeconds = seconds
        return m
    }

    /// Generates the trace.
    public func generate(seed: UInt64) -> PacketTrace {
        precondition(durationSeconds > 0 && durationSeconds <= 60, "border-router trace duration must be in (0, 60] s")
        precondition(pinQueue >= 0 && pinQueue < pinQueues)
        let hasher = ToeplitzHasher()
        var rng = SplitMix64(seed: seed)
        let duration = UInt64(durationSeconds * 1e9)
        var trace = PacketTrace(name: "border-router(\(durationSeconds)s, seed \(seed))")
        var flowLength: [UInt32] = []
        var keys: [UInt64] = []
        keys.reserveCapacity(Int((backgroundRate + elephantRate) * durationSeconds * 1.05))
        let flowBits: UInt64 = 28

        func randomTuple(_ r: inout SplitMix64, tcp: Bool) -> FiveTuple {
            // Inside: 131.225.0.0/16 (Fermilab); outside: anywhere.
            let inside = IPAddress(v4: 0x83E1_0000 | UInt32(r.below(1 << 16)))
            let outside = IPAddress(v4: UInt32(truncatingIfNeeded: r.next()) | 0x0100_0000)
            let inbound = r.below(2) == 0
            let ephemeral = UInt16(32768 + r.below(28232))
            let service: UInt16 = tcp ? [80, 443, 22, 2811, 1094][Int(r.below(5))] : [53, 123, 2055, 4739][Int(r.below(4))]
            return FiveTuple(version: 4, proto: tcp ? 6 : 17,
                             source: inbound ? outside : inside, destination: inbound ? inside : outside,
                             sourcePort: inbound ? service : ephemeral, destinationPort: inbound ? ephemeral : service)
        }
        func addFlow(_ tuple: FiveTuple, length: UInt32) -> UInt64 {
            let f = trace.addFlow(tuple, hash: hasher.hash(tuple))
            flowLength.append(length)
            precondition(UInt64(f) < 1 << flowBits, "too many flows")
            return UInt64(f)
        }

        // Background.
        let target = Int(backgroundRate * durationSeconds)
        var emitted = 0
        while emitted < target {
            var fr = rng.split()
            let size = Int(min(flowSizeMaximum, fr.pareto(alpha: flowSizeAlpha, minimum: flowSizeMinimum)))
            let tcp = fr.unit() < 0.85
            let length: UInt32 = size >= 20 ? (fr.unit() < 0.8 ? 1514 : 590) : UInt32(60 + fr.below(540))
            let flow = addFlow(randomTuple(&fr, tcp: tcp), length: length)
            let rate = fr.logUniform(onRate.lowerBound, onRate.upperBound)
            var t = fr.unit() * Double(duration)
            var remaining = size
            var window = initialTrain
            sending: while remaining > 0 {
                let train = min(remaining, window)
                window = min(window * 2, maximumTrain)
                for _ in 0..<train {
                    t += fr.exponential(mean: 1e9 / rate)
                    if t >= Double(duration) { break sending }
                    keys.append(UInt64(t) << flowBits | flow)
                    emitted += 1
                }
                remaining -= train
                t += fr.exponential(mean: offMean * 1e9)
            }
        }

        // Elephants, pinned to one queue by their tuples.
        let start = elephantStart * Double(duration)
        let end = elephantEnd * Double(duration)
        for _ in 0..<elephantCount {
            var fr = rng.split()
            var tuple = randomTuple(&fr, tcp: true)
            while Steering.rssQueue(hash: hasher.hash(tuple), queues: pinQueues) != pinQueue {
                tuple = randomTuple(&fr, tcp: true)
            }
            let flow = addFlow(tuple, length: 1514)
            let mean = elephantRate / Double(elephantCount)
            let period = (3 + 4 * fr.unit()) * 1e9
            let phase = fr.unit() * 6.283_185_307_179_586
            var t = start + fr.exponential(mean: 1e9 / mean)
            while t < end {
                keys.append(UInt64(t) << flowBits | flow)
                let rate = mean * (1 + elephantSwing * _sin(6.283_185_307_179_586 * t / period + phase))
                t += fr.exponential(mean: 1e9 / rate)
            }
        }

        keys.sort()
        let mask: UInt64 = 1 << flowBits - 1
        let first = keys.first.map { $0 >> flowBits } ?? 0
        trace.timestamps = keys.map { ($0 >> flowBits) - first }
        trace.flows = keys.map { UInt32($0 & mask) }
        trace.lengths = trace.flows.map { flowLength[Int($0)] }
        return trace
    }
}
