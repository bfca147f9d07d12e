import Foundation
import Testing
import WireCapXDP

/// Zero-copy forwarding (paper §3.2.2b) on two veth testbeds: packets captured on
/// testbed A are sent out of testbed B's capture-side interface from the pool memory
/// they were received into, and a second `wirecap capture` inside B's namespace
/// checks every sequence number and checksum.
@Suite("Zero-copy forwarding (veth)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct ForwardTests {
    static func start(_ argv: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        return (p, out)
    }

    static func finish(_ p: (Process, Pipe)) -> (Int32, String) {
        let data = p.1.fileHandleForReading.readDataToEndOfFile()
        p.0.waitUntilExit()
        return (p.0.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("every captured packet leaves through the other interface intact (verified downstream), none lost")
    func forwardsEveryPacketIntact() throws {
        let binary = try #require(Live.wirecapBinary(), "wirecap binary not built")
        try Live.withTestbed(queues: 2) { a in
            try Live.withTestbed(queues: 2) { b in
                let receiver = try Self.start(["/usr/sbin/ip", "netns", "exec", b.name, binary, "capture",
                                               "-i", b.generatorInterface, "-q", "0,1", "--verify",
                                               "--idle-exit", "3", "--stats-interval", "0"])
                Thread.sleep(forTimeInterval: 1.0)
                let forwarder = try Self.start([binary, "capture", "-i", a.captureInterface, "-q", "0,1",
                                                "--forward", b.captureInterface, "--idle-exit", "2",
                                                "--stats-interval", "0"])
                Thread.sleep(forTimeInterval: 1.0)
                let sent = try Generator.run(Live.generator(a, count: 60_000, rate: 60_000), inNamespace: a.name)
                let (fs, fo) = Self.finish(forwarder)
                let (rs, ro) = Self.finish(receiver)
                print("forward: sent \(sent.sent)\n\(fo)\nreceiver:\n\(ro)")
                #expect(sent.sent == 60_000)
                #expect(fs == 0, "\(fo)")
                #expect(rs == 0, "\(ro)")
                #expect(fo.contains("forwarded: 60000 packets sent zero-copy"), "\(fo)")
                #expect(fo.contains("no packets lost"), "\(fo)")
                #expect(ro.contains("verify: OK — gen queue 0: 30000 unique of 30000"), "\(ro)")
                #expect(ro.contains("gen queue 1: 30000 unique of 30000, 0 missing; 0 duplicates, 0 checksum errors"), "\(ro)")
                #expect(try Live.attachedProgram(a.captureInterface) == 0)
            }
        }
    }

    @Test("--forward refuses an interface with too few tx queues, in one line")
    func tooFewQueues() throws {
        let binary = try #require(Live.wirecapBinary(), "wirecap binary not built")
        try Live.withTestbed(queues: 2) { a in
            let r = try Live.run([binary, "capture", "-i", a.captureInterface, "-q", "0,1", "--forward", "lo", "--duration", "1"])
            #expect(r.status != 0)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(r.stderr)")
            #expect(r.stderr.contains("needs 2 tx queues"), "\(r.stderr)")
        }
    }
}
