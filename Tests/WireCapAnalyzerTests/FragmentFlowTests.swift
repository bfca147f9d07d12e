import Foundation
import Testing
import WireCap
import WireCapAnalyzer

/// IP fragments join their datagram's flow (the first fragment's ports, matched by
/// addresses, protocol and IP id), as an IDS's defragmenter would; fragments whose
/// first was never seen form a marked pseudo-flow, never a "port 0" flow merging
/// many datagrams.
@Suite("Flows of IP fragments")
struct FragmentFlowTests {
    static func ipv4Fragment(id: UInt16, offset8: UInt16, more: Bool, ports: (UInt16, UInt16)?) -> [UInt8] {
        var f: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45; ip[3] = 100; ip[4] = UInt8(id >> 8); ip[5] = UInt8(id & 0xff)
        let flags = (more ? 0x2000 : 0) | offset8
        ip[6] = UInt8(flags >> 8); ip[7] = UInt8(flags & 0xff); ip[8] = 64; ip[9] = 17
        ip[12] = 131; ip[13] = 151; ip[14] = 1; ip[15] = 146
        ip[16] = 131; ip[17] = 151; ip[18] = 32; ip[19] = 21
        f += ip
        if let (s, d) = ports { f += [UInt8(s >> 8), UInt8(s & 0xff), UInt8(d >> 8), UInt8(d & 0xff), 0, 80, 0, 0] }
        f += [UInt8](repeating: 0xab, count: 40)
        return f
    }

    static func ipv6Fragment(id: UInt32, offset8: UInt16, more: Bool, ports: (UInt16, UInt16)?) -> [UInt8] {
        var f: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xDD]
        var ip = [UInt8](repeating: 0, count: 40)
        ip[0] = 0x60; ip[6] = 44; ip[7] = 64
        ip[8] = 0x20; ip[9] = 0x01; ip[23] = 1
        ip[24] = 0x20; ip[25] = 0x01; ip[39] = 2
        f += ip
        let field = offset8 << 3 | (more ? 1 : 0)
        f += [17, 0, UInt8(field >> 8), UInt8(field & 0xff), UInt8(id >> 24), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)]
        if let (s, d) = ports { f += [UInt8(s >> 8), UInt8(s & 0xff), UInt8(d >> 8), UInt8(d & 0xff), 0, 80, 0, 0] }
        f += [UInt8](repeating: 0xcd, count: 40)
        return f
    }

    @Test("later fragments take their first fragment's ports; orphans are marked, never port 0")
    func attribution() {
        let frames: [[UInt8]] = [
            Self.ipv4Fragment(id: 1, offset8: 0, more: true, ports: (7000, 7001)),
            Self.ipv4Fragment(id: 2, offset8: 0, more: true, ports: (7002, 7003)),
            Self.ipv4Fragment(id: 1, offset8: 6, more: true, ports: nil),
            Self.ipv4Fragment(id: 2, offset8: 6, more: false, ports: nil),
            Self.ipv4Fragment(id: 1, offset8: 12, more: false, ports: nil),
            Self.ipv4Fragment(id: 9, offset8: 6, more: false, ports: nil),    // its first never came
            Self.ipv6Fragment(id: 77, offset8: 0, more: true, ports: (8000, 53)),
            Self.ipv6Fragment(id: 77, offset8: 6, more: false, ports: nil),
        ]
        var state = TopFlows().makeState(worker: 0)
        for f in frames {
            f.withUnsafeBytes { raw in
                state.process(packet: Packet(bytes: raw, wireLength: raw.count, timestamp: 0, queue: 0, originQueue: 0, linkType: 1))
            }
        }
        var flows: [String: UInt64] = [:]
        state.table.forEach { key, counts in flows["\(key)"] = counts.packets }
        #expect(flows["udp 131.151.1.146:7000 > 131.151.32.21:7001"] == 3, "\(flows)")
        #expect(flows["udp 131.151.1.146:7002 > 131.151.32.21:7003"] == 2, "\(flows)")
        #expect(flows["udp 131.151.1.146 > 131.151.32.21 fragments (first fragment not seen: ports unknown)"] == 1, "\(flows)")
        #expect(flows["udp [2001:0:0:0:0:0:0:1]:8000 > [2001:0:0:0:0:0:0:2]:53"] == 2, "\(flows)")
        #expect(!flows.keys.contains { $0.contains(":0 >") || $0.hasSuffix(":0") }, "no port-0 flow: \(flows)")
        #expect(flows.count == 4)
        #expect(state.fragments == 5 && state.unattributedFragments == 1)
    }
}
