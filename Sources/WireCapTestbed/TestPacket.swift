import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP
/// The synthetic packets of the generator: UDP/IPv4 over Ethernet carrying a
/// per-queue sequence number and a checksum, so a capture can prove it lost,
/// duplicated and corrupted nothing.
///
/// ```
///   0   dst MAC 02:00:00:00:00:02   6  src MAC 02:00:00:00:00:01   12 0x0800
///   14  IPv4 (20 B): 10.<2+flow/65536>.<flow/256%256>.<flow%256> → 10.1.0.1, proto UDP, DF
///   34  UDP (8 B): sport 10000+flow%50000, dport 9, checksum 0
///   42  magic "WCAP" (u32 BE)   46 gen queue (u16 LE)   48 flow (u16 LE)
///   50  sequence (u64 LE)       58 checksum (u32 LE)    62 filler (f(seq, i)) …
/// ```
///
/// The checksum is an FNV-1a-style hash over the frame's 64-bit words except the
/// checksum field itself (see ``checksum(_:)``). Minimum size 64 bytes, maximum 1514.
public enum TestPacket {
    public static let minimumSize = 64
    public static let maximumSize = 1514
    public static let magic: UInt32 = 0x5743_4150  // "WCAP"
    /// Flows one generator queue can number: the payload's flow field is 16 bits.
    public static let flowsPerOrigin = 1 << 16
    @usableFromInline static let magicOffset = 42, queueOffset = 46, flowOffset = 48, sequenceOffset = 50
    @usableFromInline static let checksumOffset = 58, fillerOffset = 62

    /// The 42-byte Ethernet/IPv4/UDP header of flow `flow` for a frame of `size` bytes.
    public static func header(flow: Int, size: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 42)
        h[0...5] = [0x02, 0, 0, 0, 0, 0x02]
        h[6...11] = [0x02, 0, 0, 0, 0, 0x01]
        h[12] = 0x08; h[13] = 0x00
        let ipLength = size - 14
        h[14] = 0x45; h[15] = 0
        h[16] = UInt8(ipLength >> 8); h[17] = UInt8(ipLength & 0xff)
        h[18] = 0; h[19] = 0            // id
        h[20] = 0x40; h[21] = 0         // DF
        h[22] = 64; h[23] = 17          // TTL, UDP
        // Source 10.<2+flow/65536>.<flow/256>.<flow%256>: distinct for every flow id
        // (the generator numbers flows per queue as queue·K + k), never the destination.
        h[26...29] = [10, UInt8(truncatingIfNeeded: 2 + (flow >> 16)), UInt8(truncatingIfNeeded: flow >> 8),
                      UInt8(truncatingIfNeeded: flow)]
        h[30...33] = [10, 1, 0, 1]
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(h[i]) << 8 | UInt32(h[i + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        h[24] = UInt8(checksum >> 8); h[25] = UInt8(checksum & 0xff)
        let sport = 10000 + flow % 50000
        h[34] = UInt8(sport >> 8); h[35] = UInt8(sport & 0xff)
        h[36] = 0; h[37] = 9
        let udpLength = size - 34
        h[38] = UInt8(udpLength >> 8); h[39] = UInt8(udpLength & 0xff)
        return h
    }

    /// Writes a whole packet at `frame` (which must hold `size` bytes): the flow's
    /// header (`header`, 42 bytes), the payload and the checksum.
    @inlinable
    public static func write(into frame: UnsafeMutableRawPointer, size: Int, header: UnsafeRawPointer,
                             queue: UInt16, flow: UInt16, sequence: UInt64) {
        frame.copyMemory(from: header, byteCount: 42)
        frame.storeBytes(of: magic.bigEndian, toByteOffset: magicOffset, as: UInt32.self)
        frame.storeBytes(of: queue.littleEndian, toByteOffset: queueOffset, as: UInt16.self)
        frame.storeBytes(of: flow.littleEndian, toByteOffset: flowOffset, as: UInt16.self)
        frame.storeBytes(of: sequence.littleEndian, toByteOffset: sequenceOffset, as: UInt64.self)
        var i = fillerOffset
        let seed = UInt8(truncatingIfNeeded: sequence)
        while i < size {
            frame.storeBytes(of: seed &+ UInt8(truncatingIfNeeded: i), toByteOffset: i, as: UInt8.self)
            i &+= 1
        }
        let sum = checksum(UnsafeRawBufferPointer(start: frame, count: size))
        frame.storeBytes(of: sum.littleEndian, toByteOffset: checksumOffset, as: UInt32.self)
    }

    /// FNV-1a-style hash, 64 bits at a time, over every byte but the checksum
    /// field (58..<62, masked out of the word at 56), folded to 32 bits.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let prime: UInt64 = 0x0000_0100_0000_01B3
        let n = bytes.count
        let base = bytes.baseAddress!
        let words = n / 8
        if Int(bitPattern: base) & 7 == 0 {
            // Frames are 2048-byte aligned in UMEM: typed, aligned word loads (cheap
            // even in unoptimized builds, where the verifier runs per packet in tests).
            let w = base.assumingMemoryBound(to: UInt64.self)
            var k = 0
            while k < words {
                var v = UInt64(littleEndian: w[k])
                if k == 7 { v &= 0xFFFF_0000_0000_FFFF }   // bytes 58...61 = the checksum
                h = (h ^ v) &* prime
                k &+= 1
            }
        } else {
            var k = 0
            while k < words {
                var v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: k &* 8, as: UInt64.self))
                if k == 7 { v &= 0xFFFF_0000_0000_FFFF }
                h = (h ^ v) &* prime
                k &+= 1
            }
        }
        let b = base.assumingMemoryBound(to: UInt8.self)
        var i = words &* 8
        while i < n {
            h = (h ^ UInt64(b[i])) &* prime
            i &+= 1
        }
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }

    /// The fields of a test packet, if `bytes` is one.
    public struct Fields: Sendable, Hashable {
        public var queue: Int
        public var flow: Int
        public var sequence: UInt64
        public var checksumValid: Bool

        @inlinable
        public init(queue: Int, flow: Int, sequence: UInt64, checksumValid: Bool) {
            self.queue = queue
            self.flow = flow
            self.sequence = sequence
            self.checksumValid = checksumValid
        }
    }

    /// Which test packet this is (generator queue, flow, sequence), without the
    /// checksum's pass over the bytes: cheap enough for per-packet bookkeeping.
    /// `nil` for any other packet (too short or wrong magic).
    @inlinable
    public static func identity(_ bytes: UnsafeRawBufferPointer) -> (queue: Int, flow: Int, sequence: UInt64)? {
        guard bytes.count >= minimumSize,
              UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: magicOffset, as: UInt32.self)) == magic
        else { return nil }
        return (Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: queueOffset, as: UInt16.self))),
                Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: flowOffset, as: UInt16.self))),
                UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: sequenceOffset, as: UInt64.self)))
    }

    /// Parses a test packet and checks its checksum; `nil` for any other packet.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Fields? {
        guard let id = identity(bytes) else { return nil }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: checksumOffset, as: UInt32.self))
        return Fields(queue: id.queue, flow: id.flow, sequence: id.sequence, checksumValid: stored == checksum(bytes))
    }
}
