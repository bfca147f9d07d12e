import WireCapTrace

/// The filter-parity corpus: a mixed trace, IPv4/IPv6, UDP/TCP/ICMP, VLAN-tagged, ARP,
/// several nets, ports and TCP flag combinations.
public enum FilterCorpus {
    /// The 400 frames (the same every time: a fixed seed).
    public static func frames() -> [[UInt8]] {
        var out: [[UInt8]] = []
        var rng = SplitMix64(seed: 42)
        let nets4 = ["131.225.2.", "131.225.9.", "10.1.0.", "192.168.7."]
        let flagSets: [UInt8] = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x01]
        for k in 0..<400 {
            let r = rng.next()
            let kind = k % 8
            let src = nets4[Int(r % 4)] + String(1 + Int((r >> 8) % 50))
            let dst = nets4[Int((r >> 16) % 4)] + String(1 + Int((r >> 24) % 50))
            let sport = UInt16(1024 + (r >> 32) % 3000)
            let dports: [UInt16] = [53, 80, 443, 5001, 8080, 123]
            let dport = dports[Int((r >> 40) % UInt64(dports.count))]
            let length = 60 + Int((r >> 48) % 600)
            switch kind {
            case 0, 1:  // UDP/IPv4
                out.append(FrameBuilder.frame(for: FiveTuple(version: 4, proto: 17, source: IPAddress(src)!,
                    destination: IPAddress(dst)!, sourcePort: sport, destinationPort: dport), length: length))
            case 2, 3:  // TCP/IPv4 with flags
                var f = FrameBuilder.frame(for: FiveTuple(version: 4, proto: 6, source: IPAddress(src)!,
                    destination: IPAddress(dst)!, sourcePort: sport, destinationPort: dport), length: length)
                f[34 + 13] = flagSets[k % flagSets.count]
                out.append(f)
            case 4:  // TCP or UDP over IPv6
                let s6 = IPAddress("2001:db8:\(r % 3)::\(1 + (r >> 8) % 9)")!
                let d6 = IPAddress("2001:db8:ff::\(1 + (r >> 16) % 9)")!
                var f = FrameBuilder.frame(for: FiveTuple(version: 6, proto: k % 16 == 4 ? 6 : 17, source: s6,
                    destination: d6, sourcePort: sport, destinationPort: dport), length: max(length, 80))
                if k % 16 == 4 { f[54 + 13] = flagSets[k % flagSets.count] }
                out.append(f)
            case 5:  // VLAN-tagged UDP/TCP IPv4
                var f = FrameBuilder.frame(for: FiveTuple(version: 4, proto: k % 3 == 0 ? 6 : 17, source: IPAddress(src)!,
                    destination: IPAddress(dst)!, sourcePort: sport, destinationPort: dport), length: length)
                let vid = UInt16([100, 200, 300][k % 3])
                f.insert(contentsOf: [0x81, 0x00, UInt8(vid >> 8), UInt8(vid & 0xFF)], at: 12)
                out.append(f)
            case 6:  // ICMP echo
                var f = FrameBuilder.frame(for: FiveTuple(version: 4, proto: 1, source: IPAddress(src)!,
                    destination: IPAddress(dst)!, sourcePort: 0, destinationPort: 0), length: 98)
                f[34] = k % 16 == 6 ? 8 : 0
                out.append(f)
            default:  // ARP request
                var f = [UInt8](repeating: 0, count: 60)
                for i in 0..<6 { f[i] = 0xFF }
                f[6] = 0x02; f[11] = 0x05
                f[12] = 0x08; f[13] = 0x06
                f[14...21] = [0, 1, 8, 0, 6, 4, 0, 1]
                out.append(f)
            }
        }
        return out
    }

    /// Writes the trace to `path` (ns pcap, Ethernet).
    public static func write(to path: String) throws {
        let w = try PcapWriter(path: path)
        for (k, f) in frames().enumerated() {
            f.withUnsafeBytes { w.write(timestamp: 1_700_000_000_000_000_000 + UInt64(k) * 1000, frame: $0) }
        }
        w.close()
    }

    /// tcpdump expressions over the frames (each matches some and not all; a test checks).
    public static let expressions = [
        "udp", "tcp", "icmp", "arp", "ip", "ip6",
        "host 131.225.2.7", "src host 10.1.0.3", "dst net 131.225.9.0/24", "net 131.225.2",
        "udp and net 131.225.2", "port 53", "dst port 443", "src portrange 1024-2000", "tcp port 80 or udp port 123",
        "vlan", "vlan 200", "vlan and udp", "ip6 and tcp", "ip6 and dst port 53", "ip6 net 2001:db8:1::/48",
        "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[13] == 0x18",
        "tcp[tcpflags] & tcp-rst != 0", "ether[12:2] == 0x0800", "ip[8] == 64", "udp[4:2] > 200",
        "greater 300", "less 100", "icmp[icmptype] == icmp-echo", "not ip and not ip6",
        "ether broadcast", "ip proto 17 and not port 53", "len >= 600",
    ]
}
