/// The symmetric flow hash a capture thread gives every packet when advanced mode
/// offloads flows (issue 15): its low bits are the packet's flow bucket
/// (``WireCapCore/FlowScheduler``), so every packet of a flow, both directions,
/// goes to the same consumer.
///
/// What is hashed, read from the frame's bytes with every read inside `length`:
///
/// ```
///   Ethernet [VLAN 0x8100/0x88a8 [VLAN]]  EtherType        (tags skipped, ids not hashed)
///   0x0800  IPv4: source, destination, protocol; TCP/UDP/SCTP: both ports
///   0x86DD  IPv6: source, destination (folded), next header; TCP/UDP/SCTP right
///           after the fixed header: both ports
///   else    the EtherType alone (all ARP of a queue shares one bucket)
/// ```
///
/// **Symmetric.** Each endpoint (address, port) becomes one 64-bit value (IPv4:
/// exactly `address << 16 | port`; IPv6: the address folded and mixed, then the
/// port); the two are put in order, smaller first, and only then mixed with the
/// protocol. So `hash(A → B) == hash(B → A)` for every pair, by construction.
///
/// **Rules for the rest.**
/// - *IP fragments* (IPv4 with more-fragments set or an offset, the first
///   fragment included; IPv6 with a fragment header) hash without ports, so every
///   fragment of a datagram shares one bucket and the consumer that reassembles
///   it sees all of them, as the kernel's flow dissector and NIC RSS do. A
///   fragmented datagram may therefore go to another consumer than its flow's
///   unfragmented packets (a flow table's sums still merge exactly).
/// - *IPv6 extension headers* are not walked: the next header is hashed and the
///   ports are left out (fragments of one datagram still agree).
/// - *Cut short*: a frame shorter than the IP header its EtherType announces
///   (or with a wrong version or IHL) hashes as a non-IP frame of that EtherType;
///   one whose transport header ends beyond `length` hashes without ports; one
///   shorter than an Ethernet header (or a VLAN tag it announces) hashes as
///   EtherType 0 (or the tag's type).
/// - *A third VLAN tag*: the frame hashes by that tag's type.
///
/// Pure and cheap: no allocation, no reference counting, a few multiplications
/// (IPv4: two mixes; IPv6: four).
public enum FlowHash {
    /// The hash of the frame at `frame`, `length` bytes (see the type's documentation).
    @inlinable
    public static func hash(_ frame: UnsafeRawPointer, length: Int) -> UInt32 {
        guard length >= 14 else { return nonIP(0) }
        var type = be16(frame, 12)
        var l3 = 14
        var tags = 0
        while (type == 0x8100 || type == 0x88A8) && tags < 2 {
            guard length >= l3 &+ 4 else { return nonIP(type) }
            type = be16(frame, l3 &+ 2)
            l3 &+= 4
            tags &+= 1
        }
        switch type {
        case 0x0800: return ipv4(frame, at: l3, length: length)
        case 0x86DD: return ipv6(frame, at: l3, length: length)
        default: return nonIP(type)
        }
    }

    /// The hash of `frame` (see ``hash(_:length:)``); 0-byte buffers included.
    @inlinable
    public static func hash(_ frame: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = frame.baseAddress else { return nonIP(0) }
        return hash(base, length: frame.count)
    }

    // MARK: Parts

    @inlinable @inline(__always)
    static func ipv4(_ p: UnsafeRawPointer, at l3: Int, length: Int) -> UInt32 {
        guard length >= l3 &+ 20 else { return nonIP(0x0800) }
        let vihl = p.load(fromByteOffset: l3, as: UInt8.self)
        let ihl = Int(vihl & 0x0F) &<< 2
        guard vihl >> 4 == 4, ihl >= 20, length >= l3 &+ ihl else { return nonIP(0x0800) }
        let proto = p.load(fromByteOffset: l3 &+ 9, as: UInt8.self)
        // More fragments, or an offset: a fragment (see the type's documentation).
        let fragment = be16(p, l3 &+ 6) & 0x3FFF != 0
        let l4 = l3 &+ ihl
        var sp: UInt64 = 0, dp: UInt64 = 0
        if !fragment && hasPorts(proto) && length >= l4 &+ 4 {
            sp = UInt64(be16(p, l4))
            dp = UInt64(be16(p, l4 &+ 2))
        }
        let a = UInt64(be32(p, l3 &+ 12)) &<< 16 | sp
        let b = UInt64(be32(p, l3 &+ 16)) &<< 16 | dp
        return combine(a, b, tag: 0x0400 | UInt64(proto))
    }

    @inlinable @inline(__always)
    static func ipv6(_ p: UnsafeRawPointer, at l3: Int, length: Int) -> UInt32 {
        guard length >= l3 &+ 40, p.load(fromByteOffset: l3, as: UInt8.self) >> 4 == 6 else { return nonIP(0x86DD) }
        let next = p.load(fromByteOffset: l3 &+ 6, as: UInt8.self)
        let l4 = l3 &+ 40
        var sp: UInt64 = 0, dp: UInt64 = 0
        if hasPorts(next) && length >= l4 &+ 4 {
            sp = UInt64(be16(p, l4))
            dp = UInt64(be16(p, l4 &+ 2))
        }
        // An address is folded (bijective in its low half for a given high half),
        // then mixed, so the port cannot cancel a difference in the address.
        let a = mix(be64(p, l3 &+ 8) &* 0x9E37_79B9_7F4A_7C15 ^ be64(p, l3 &+ 16)) ^ sp
        let b = mix(be64(p, l3 &+ 24) &* 0x9E37_79B9_7F4A_7C15 ^ be64(p, l3 &+ 32)) ^ dp
        return combine(a, b, tag: 0x0600 | UInt64(next))
    }

    /// TCP, UDP, SCTP.
    @inlinable @inline(__always)
    static func hasPorts(_ proto: UInt8) -> Bool { proto == 6 || proto == 17 || proto == 132 }

    /// The endpoints in order (the symmetry), then mixed with the protocol tag.
    @inlinable @inline(__always)
    static func combine(_ a: UInt64, _ b: UInt64, tag: UInt64) -> UInt32 {
        let low = a < b ? a : b
        let high = a < b ? b : a
        let h = mix(mix(high ^ tag &* 0xD6E8_FEB8_6659_FD93) ^ low &* 0xBF58_476D_1CE4_E5B9)
        return UInt32(truncatingIfNeeded: h ^ h >> 32)
    }

    /// A frame that is not (whole) IP: its EtherType alone.
    @inlinable @inline(__always)
    static func nonIP(_ etherType: UInt16) -> UInt32 {
        let h = mix(UInt64(etherType) | 0xE7E7_0000_0000_0000)
        return UInt32(truncatingIfNeeded: h ^ h >> 32)
    }

    /// MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit.
    @inlinable @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    @inlinable @inline(__always)
    static func be16(_ p: UnsafeRawPointer, _ o: Int) -> UInt16 {
        UInt16(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }

    @inlinable @inline(__always)
    static func be32(_ p: UnsafeRawPointer, _ o: Int) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }

    @inlinable @inline(__always)
    static func be64(_ p: UnsafeRawPointer, _ o: Int) -> UInt64 {
        UInt64(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }
}
