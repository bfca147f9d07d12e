import Testing
import WireCapTrace

/// The Microsoft RSS verification suite ("Verifying the RSS Hash Calculation"):
/// the standard key, IPv4 and IPv6, with and without ports.
@Suite struct ToeplitzTests {
    struct Vector: Sendable, CustomStringConvertible {
        var destination: String, destinationPort: UInt16
        var source: String, sourcePort: UInt16
        var addressesOnly: UInt32, withPorts: UInt32
        var description: String { "\(source):\(sourcePort) > \(destination):\(destinationPort)" }
    }

    static let vectors: [Vector] = [
        Vector(destination: "161.142.100.80", destinationPort: 1766, source: "66.9.149.187", sourcePort: 2794, addressesOnly: 0x323e8fc2, withPorts: 0x51ccc178),
        Vector(destination: "65.69.140.83", destinationPort: 4739, source: "199.92.111.2", sourcePort: 14230, addressesOnly: 0xd718262a, withPorts: 0xc626b0ea),
        Vector(destination: "12.22.207.184", destinationPort: 38024, source: "24.19.198.95", sourcePort: 12898, addressesOnly: 0xd2d0a5de, withPorts: 0x5c2b394a),
        Vector(destination: "209.142.163.6", destinationPort: 2217, source: "38.27.205.30", sourcePort: 48228, addressesOnly: 0x82989176, withPorts: 0xafc7327f),
        Vector(destination: "202.188.127.2", destinationPort: 1303, source: "153.39.163.191", sourcePort: 44251, addressesOnly: 0x5d1809c5, withPorts: 0x10e828a2),
        Vector(destination: "3ffe:2501:200:3::1", destinationPort: 1766, source: "3ffe:2501:200:1fff::7", sourcePort: 2794, addressesOnly: 0x2cc18cd5, withPorts: 0x40207d3d),
        Vector(destination: "ff02::1", destinationPort: 4739, source: "3ffe:501:8::260:97ff:fe40:efab", sourcePort: 14230, addressesOnly: 0x0f0c461c, withPorts: 0xdde51bbf),
        Vector(destination: "fe80::200:f8ff:fe21:67cf", destinationPort: 38024, source: "3ffe:1900:4545:3:200:f8ff:fe21:67cf", sourcePort: 44251, addressesOnly: 0x4b61e985, withPorts: 0x02d1feef),
    ]

    @Test(arguments: vectors)
    func microsoftVerificationSuite(_ v: Vector) throws {
        let hasher = ToeplitzHasher()
        let src = try #require(IPAddress(v.source))
        let dst = try #require(IPAddress(v.destination))
        let version: UInt8 = v.source.contains(":") ? 6 : 4
        let tuple = FiveTuple(version: version, proto: 6, source: src, destination: dst,
                              sourcePort: v.sourcePort, destinationPort: v.destinationPort)
        #expect(hasher.hash(tuple, includePorts: false) == v.addressesOnly)
        #expect(hasher.hash(tuple) == v.withPorts)
    }

    @Test func rawBytesMatchTupleHash() {
        let hasher = ToeplitzHasher()
        // 66.9.149.187 > 161.142.100.80, ports 2794 > 1766
        let bytes: [UInt8] = [66, 9, 149, 187, 161, 142, 100, 80, 0x0A, 0xEA, 0x06, 0xE6]
        #expect(hasher.hash(bytes) == 0x51ccc178)
    }

    @Test func rssSteeringUsesLowBitsThroughTheTable() {
        #expect(Steering.rssQueue(hash: 0x51ccc178, queues: 6) == Int(0x78 % 6))
        #expect(Steering.rssQueue(hash: 0xFFFF_FF80, queues: 4) == 0)
    }
}
