import Foundation
import Testing
import WireCapTestSupport
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// Zero-copy forwarding (paper §3.2.2b) on two veth testbeds: packets captured on
/// testbed A are sent out of testbed B's capture-side interface from the pool memory
/// they were received into, and a second `wirecap capture` inside B's namespace
/// checks every sequence number and checksum.
@Suite("Zero-copy forwarding (veth)", .serialized, .enabled(if: Live.isRoot, Live.skipReason))
struct ForwardTests {
    @Test("every captured packet leaves through the other interface intact (verified downstream), none lost")
    func forwardsEveryPacketIntact() throws {
        let binary = try #require(Live.wirecapBinary(), "wirecap binary not built")
        try Live.withTestbed(queues: 2) { a in
            try Live.withTestbed(queues: 2) { b in
                let receiver = try WirecapProcess(["/usr/sbin/ip", "netns", "exec", b.name, binary, "capture",
                                                   "-i", b.generatorInterface, "-q", "0,1", "--verify",
                                                   "--idle-exit", "3", "--stats-interval", "0"])
                #expect(receiver.waitReady(), "receiver ready: \(receiver.stderr)")
                let forwarder = try WirecapProcess([binary, "capture", "-i", a.captureInterface, "-q", "0,1",
                                                    "--forward", b.captureInterface, "--idle-exit", "2",
                                                    "--stats-interval", "0"])
                #expect(forwarder.waitReady(), "forwarder ready: \(forwarder.stderr)")
                let sent = try Generator.run(Live.generator(a, count: 60_000, rate: 60_000), inNamespace: a.name)
                let (fs, fo, fe) = forwarder.finish()
                let (rs, ro, re) = receiver.finish()
                print("forward: sent \(sent.sent)\n\(fo)\(fe)\nreceiver:\n\(ro)\(re)")
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
