/// The Toeplitz hash that receive-side scaling (RSS) computes over a packet's
/// 5-tuple (Microsoft "RSS hashing", Intel 82599 datasheet §7.1.2.8).
///
/// For input bit `i` (most significant bit of the first byte first) that is set,
/// the 32-bit window of the key starting at key bit `i` is XORed into the result.
/// A table of 256 precomputed windows per input byte makes a hash one lookup and
/// one XOR per byte.
///
/// Input layout (network byte order), as the specification and the NICs use it:
///
/// ```
///  IPv4:  src addr (4) | dst addr (4) [| src port (2) | dst port (2)]
///  IPv6:  src addr (16)| dst addr (16)[| src port (2) | dst port (2)]
/// ```
public struct ToeplitzHasher: Sendable {
    /// The standard 40-byte key of the Microsoft RSS specification (and the
    /// default of most NIC drivers).
    public static let microsoftKey: [UInt8] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
        0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
        0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
        0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
        0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ]

    /// The key in use.
    public let key: [UInt8]
    /// Longest input the key covers: key length − 4 bytes.
    public let maximumInputLength: Int
    /// table[byteIndex * 256 + byteValue]
    private let table: [UInt32]

    /// A hasher for `key` (at least 5 bytes; 40 for IPv6 with ports).
    public init(key: [UInt8] = ToeplitzHasher.microsoftKey) {
        precondition(key.count >= 5, "a Toeplitz key needs at least 5 bytes")
        self.key = key
        maximumInputLength = key.count - 4
        func window(_ bit: Int) -> UInt32 {  // 32 key bits starting at key bit `bit`
            var w: UInt32 = 0
            for k in 0..<32 {
                let b = bit + k
                let set = key[b / 8] >> (7 - UInt8(b % 8)) & 1
                w = w << 1 | UInt32(set)
            }
            return w
        }
        var table = [UInt32](repeating: 0, count: maximumInputLength * 256)
        for i in 0..<maximumInputLength {
            var windows = [UInt32](repeating: 0, count: 8)
            for bit in 0..<8 { windows[bit] = window(i * 8 + bit) }
            for v in 0..<256 {
                var h: UInt32 = 0
                for bit in 0..<8 where v >> (7 - bit) & 1 == 1 { h ^= windows[bit] }
                table[i * 256 + v] = h
            }
        }
        self.table = table
    }

    /// The hash of raw input bytes (at most ``maximumInputLength``).
    public func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        precondition(bytes.count <= maximumInputLength, "Toeplitz input longer than the key allows")
        var h: UInt32 = 0
        table.withUnsafeBufferPointer { t in
            for i in 0..<bytes.count { h ^= t[i &* 256 &+ Int(bytes[i])] }
        }
        return h
    }

    /// The hash of a byte array.
    public func hash(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { hash($0) } }

    /// The RSS hash of a tuple: addresses and, when `includePorts` and the tuple
    /// has ports, the ports.
    public func hash(_ tuple: FiveTuple, includePorts: Bool = true) -> UInt32 {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // 40 bytes
        return withUnsafeMutableBytes(of: &buffer) { raw in
            var n = 0
            func put(_ v: UInt64, _ bytes: Int) {
                for k in 0..<bytes { raw[n + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(bytes - 1 - k))) }
                n += bytes
            }
            if tuple.version == 6 {
                put(tuple.source.high, 8); put(tuple.source.low, 8)
                put(tuple.destination.high, 8); put(tuple.destination.low, 8)
            } else {
                put(tuple.source.low, 4); put(tuple.destination.low, 4)
            }
            if includePorts && tuple.hasPorts {
                put(UInt64(tuple.sourcePort), 2); put(UInt64(tuple.destinationPort), 2)
            }
            return hash(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
        }
    }
}

/// Which header fields RSS hashes, per protocol (the NIC's "rx-flow-hash" setting).
public struct RSSHashFields: Sendable, Hashable {
    /// Hash TCP ports (the default of every NIC).
    public var tcpPorts: Bool
    /// Hash UDP ports (off by default on the 82599, `ethtool -N … rx-flow-hash udp4 sdfn` turns it on).
    public var udpPorts: Bool
    /// Addresses and ports of TCP and UDP.
    public static let addressesAndPorts = RSSHashFields(tcpPorts: true, udpPorts: true)
    /// The Intel 82599 default: TCP ports, UDP by addresses only.
    public static let ixgbeDefault = RSSHashFields(tcpPorts: true, udpPorts: false)

    public init(tcpPorts: Bool, udpPorts: Bool) {
        self.tcpPorts = tcpPorts
        self.udpPorts = udpPorts
    }

    /// Whether ports are part of the hash input for a tuple.
    public func includesPorts(_ tuple: FiveTuple) -> Bool {
        switch tuple.proto {
        case 6: tcpPorts
        case 17: udpPorts
        default: false
        }
    }
}
