/// How a NIC spreads packets over its receive queues.
public enum Steering: Sendable, Hashable, CustomStringConvertible {
    /// Receive-side scaling: `queue = table[hash & (tableSize − 1)]`, the table
    /// filled round-robin (`table[i] = i mod n`) as drivers do by default. The
    /// Intel 82599 uses a 128-entry table and the hash's 7 low bits.
    case rss(tableSize: Int)
    /// Packet `k` goes to queue `k mod n`: perfectly even, flows split across queues.
    case roundRobin

    /// RSS with the 82599's 128-entry indirection table.
    public static let rss = Steering.rss(tableSize: 128)

    public var description: String {
        switch self {
        case .rss(let size): "rss(\(size))"
        case .roundRobin: "round-robin"
        }
    }

    /// The RSS queue of a hash with `queues` queues.
    @inlinable
    public static func rssQueue(hash: UInt32, queues: Int, tableSize: Int = 128) -> Int {
        Int(hash & UInt32(tableSize - 1)) % queues
    }
}
