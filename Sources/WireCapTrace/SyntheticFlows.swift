#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A seeded many-flow trace: `flows` 5-tuples (IPv4 and IPv6, UDP and TCP),
/// packets drawn from them with Zipf-like popularity, exponential gaps at
/// `packetsPerSecond`, frame lengths from a small bimodal mix (64/576/1514-ish).
extension SyntheticTrace {
    public static func flows(packets: Int, flows: Int, packetsPerSecond: Double, seed: UInt64,
                             ipv6Share: Double = 0.2) -> PacketTrace {
        precondition(packets >= 0 && flows >= 1 && packetsPerSecond > 0)
        var rng = SplitMix64(seed: seed)
        var trace = PacketTrace(name: "flows(\(packets), \(flows), seed \(seed))")
        let hasher = ToeplitzHasher()
        func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        for f in 0..<flows {
            let r = rng.next()
            let v6 = unit() < ipv6Share
            let proto: UInt8 = r & 1 == 0 ? 17 : 6
            let tuple: FiveTuple
            if v6 {
                tuple = FiveTuple(version: 6, proto: proto,
                                  source: IPAddress(high: 0x2001_0db8_0000_0000 | UInt64(f >> 16), low: UInt64(r >> 8)),
                                  destination: IPAddress(high: 0x2001_0db8_00ff_0000, low: UInt64(r >> 40) + 1),
                                  sourcePort: UInt16(1024 + (r >> 16) % 60000), destinationPort: [53, 80, 443, 5001][Int((r >> 4) % 4)])
            } else {
                tuple = FiveTuple(version: 4, proto: proto,
                                  source: IPAddress(v4: 0x83E1_0000 | UInt32(truncatingIfNeeded: r >> 20) & 0xFFFF),
                                  destination: IPAddress(v4: 0x0A00_0000 | UInt32(truncatingIfNeeded: r >> 36) & 0xFFFFFF),
                                  sourcePort: UInt16(1024 + (r >> 16) % 60000), destinationPort: [53, 80, 443, 5001][Int((r >> 4) % 4)])
            }
            trace.addFlow(tuple, hash: hasher.hash(tuple))
        }
        trace.reserve(packets: packets)
        var t = 0.0
        let lengths: [UInt32] = [60, 60, 60, 128, 576, 1000, 1514, 1514]
        for k in 0..<packets {
            if k > 0 { t += -log(1 - unit()) / packetsPerSecond }
            // Popularity ~ 1/rank: flow = ⌊flows^u⌋ − 1.
            let flow = min(flows - 1, Int(pow(Double(flows), unit())) - 1)
            trace.append(timestamp: UInt64(t * 1e9), length: lengths[Int(rng.next() % 8)], flow: UInt32(max(0, flow)))
        }
        return trace
    }
}

