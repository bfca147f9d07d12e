/// The frame sizes a generator queue sends, as a pattern cycled by sequence number:
/// packet `seq` of a queue is `pattern[seq % pattern.count]` bytes long.
///
/// `--size 64` is one size; `--size imix` the simple IMIX, 7:4:1 of 64, 576 and
/// 1,500-byte frames; `--size 64:7,576:4,1500:1` any weighted mix. A mix is spread
/// over its cycle by smooth weighted round-robin (64, 576, 64, 64, 576, … never all
/// the 64s first), so every slice of a run, a burst or a chunk sees the mix.
public struct FrameSizes: Sendable, Hashable, CustomStringConvertible {
    /// One frame size per position of the cycle.
    public let pattern: [Int]
    /// The sizes and weights it was built from, in the order given.
    public let mix: [(size: Int, weight: Int)]

    /// The simple IMIX: 7:4:1 of 64, 576 and 1,500-byte frames.
    public static let imix = FrameSizes(mix: [(64, 7), (576, 4), (1500, 1)])

    /// Every frame `size` bytes.
    public init(fixed size: Int) { self.init(mix: [(size, 1)]) }

    /// A weighted mix; weights ≥ 1. The cycle is `sum(weights)` long.
    public init(mix: [(size: Int, weight: Int)]) {
        precondition(!mix.isEmpty && mix.allSatisfy { $0.weight >= 1 })
        self.mix = mix
        let total = mix.reduce(0) { $0 + $1.weight }
        var credit = Array(repeating: 0, count: mix.count)
        var pattern: [Int] = []
        pattern.reserveCapacity(total)
        for _ in 0..<total {
            for i in mix.indices { credit[i] += mix[i].weight }
            let pick = credit.indices.max { credit[$0] < credit[$1] }!   // first of the largest
            credit[pick] -= total
            pattern.append(mix[pick].size)
        }
        self.pattern = pattern
    }

    /// Parses `N`, `imix` or `S:W,S:W,…`; nil for anything else (sizes are checked by the
    /// generator's configuration).
    public static func parse(_ text: String) -> FrameSizes? {
        if text.lowercased() == "imix" { return .imix }
        if let n = Int(text) { return FrameSizes(fixed: n) }
        var mix: [(size: Int, weight: Int)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 2, let s = Int(fields[0]), let w = Int(fields[1]), w >= 1, w <= 1000 else { return nil }
            mix.append((s, w))
        }
        return mix.isEmpty ? nil : FrameSizes(mix: mix)
    }

    /// The size of packet `sequence`.
    @inline(__always)
    public func size(of sequence: Int) -> Int { pattern[sequence % pattern.count] }

    /// Distinct sizes, ascending.
    public var distinct: [Int] { Array(Set(pattern)).sorted() }

    /// Bytes of the first `packets` packets of a queue.
    public func bytes(packets: Int) -> Int {
        let cycle = pattern.reduce(0, +)
        return packets / pattern.count * cycle + pattern.prefix(packets % pattern.count).reduce(0, +)
    }

    public var description: String {
        mix.count == 1 ? "\(mix[0].size)" : mix.map { "\($0.size):\($0.weight)" }.joined(separator: ",")
    }

    public static func == (a: FrameSizes, b: FrameSizes) -> Bool { a.pattern == b.pattern }
    public func hash(into h: inout Hasher) { h.combine(pattern) }
}
