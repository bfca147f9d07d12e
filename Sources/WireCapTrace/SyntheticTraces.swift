/// Seeded synthetic traces: the paper's burst test and a border-router-like trace.
public enum SyntheticTrace {
    /// Line rate of the paper's NICs, bits per second.
    public static let tenGigabit: UInt64 = 10_000_000_000

    /// Bytes a frame occupies on the wire beyond its captured length: FCS (4),
    /// preamble and start delimiter (8), inter-frame gap (12).
    public static let wireOverheadBytes = 24

    /// Picoseconds a frame of `length` captured bytes (FCS excluded, padded to 60)
    /// occupies on a link of `bitsPerSecond`: 67,200 ps for a minimum frame at
    /// 10 Gb/s, i.e. 14.88 Mpps.
    @inlinable
    public static func wirePicoseconds(length: UInt32, bitsPerSecond: UInt64 = tenGigabit) -> UInt64 {
        UInt64(max(Int(length), 60) + wireOverheadBytes) * 8 * 1_000_000_000_000 / bitsPerSecond
    }

    /// The paper's burst test (§4): `packets` minimum-size frames (64 bytes on
    /// the wire) back to back at line rate, 14.88 Mpps at 10 Gb/s, all in one UDP flow.
    public static func burst(packets: Int, frameLength: UInt32 = 60, bitsPerSecond: UInt64 = tenGigabit) -> PacketTrace {
        var trace = PacketTrace(name: "burst(\(packets))")
        let tuple = FiveTuple(version: 4, proto: 17, source: IPAddress("131.225.2.10")!,
                              destination: IPAddress("131.225.9.20")!, sourcePort: 5001, destinationPort: 5002)
        let flow = trace.addFlow(tuple, hash: ToeplitzHasher().hash(tuple))
        let step = wirePicoseconds(length: frameLength, bitsPerSecond: bitsPerSecond)
        trace.timestamps = (0..<packets).map { UInt64($0) &* step / 1000 }
        trace.lengths = [UInt32](repeating: frameLength, count: packets)
        trace.flows = [UInt32](repeating: flow, count: packets)
        return trace
    }

    /// A border-router-like trace (see ``BorderRouterModel``).
    public static func borderRouter(_ model: BorderRouterModel = BorderRouterModel(), seed: UInt64) -> PacketTrace {
        model.generate(seed: seed)
    }
}
