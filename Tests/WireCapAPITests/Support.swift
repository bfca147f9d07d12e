#if canImport(Glibc)
import Glibc
#endif
import WireCap

/// Test frames: Ethernet + IPv4 + UDP, flow `f` → source port 1000+f, optional VLAN.
enum Frames {
    static func udp(flow: Int, size: Int = 64, vlan: UInt16? = nil, marker: UInt8 = 0) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: size)
        var o = 12
        if let vlan {
            f[12] = 0x81; f[13] = 0x00; f[14] = UInt8(vlan >> 8); f[15] = UInt8(vlan & 0xFF)
            o = 16
        }
        f[o] = 0x08; f[o + 1] = 0x00
        let ip = o + 2
        f[ip] = 0x45; f[ip + 8] = 64; f[ip + 9] = 17
        f[ip + 12] = 10; f[ip + 13] = 0; f[ip + 14] = 0; f[ip + 15] = 1
        f[ip + 16] = 10; f[ip + 17] = 0; f[ip + 18] = 0; f[ip + 19] = 2
        let sp = 1000 + flow
        f[ip + 20] = UInt8(sp >> 8); f[ip + 21] = UInt8(sp & 0xFF)
        f[ip + 22] = 0; f[ip + 23] = 9
        f[0] = marker
        return f
    }

    static let small = CaptureConfiguration(
        geometry: PoolGeometry(cellsPerChunk: 8, chunksPerPool: 16, fillRingSize: 32), mode: .basic,
        partialTimeoutNanoseconds: 1_000_000)
}

