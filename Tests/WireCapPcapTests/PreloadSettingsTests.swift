import Foundation
import Testing
import WireCap
import WireCapCore
import WireCapTestSupport

/// The options `wirecap exec` hands to the library, and its usage errors (no root needed).
@Suite struct PreloadSettingsTests {
    @Test("every option survives the environment variable and builds the same engine settings")
    func roundTrip() throws {
        var p = PreloadSettings()
        p.bufferBytes = 64 << 20
        p.cellsPerChunk = 128
        p.fillRingSize = 4096
        p.spill = false
        p.mode = .advanced
        p.offload = .chunk
        p.flowBuckets = 256
        p.strictFlowAffinity = true
        p.offloadThresholdPercent = 40
        p.partialTimeoutNanoseconds = 2_000_000
        p.queues = [1, 0]
        p.captureCPUs = [1]
        p.busyPoll = true
        p.force = true
        p.promiscuousOff = true
        p.quiet = true
        p.ledgerPath = "/tmp/a;b=c%3B.json"
        p.logPath = "/tmp/log;x"
        let back = try PreloadSettings(decoding: p.encoded)
        #expect(back == p)
        let s = try back.engineSettings()
        #expect(s.core.geometry.cellsPerChunk == 128 && s.core.mode == .advanced && s.core.spill == nil)
        #expect(s.core.offload == .chunk && s.core.flowBuckets == 256 && s.core.strictFlowAffinity)
        #expect(s.core.queueBytes == 64 << 20 && s.core.offloadThresholdPercent == 40)
        #expect(s.wakePolicy == .busyPoll && s.force && s.captureCPUs == [1])
        #expect(try PreloadSettings(decoding: PreloadSettings().encoded) == PreloadSettings())
    }

    @Test("bad handed-over text is one error naming the key")
    func badText() {
        for (text, fragment) in [("M=x", "M='x' is not a number"), ("mode=fast", "mode='fast'"), ("bogus=1", "unknown key 'bogus'"),
                                 ("noequals", "'noequals' is no key=value pair"), ("queues=a", "queues='a'"),
                                 ("offload=bytes", "offload='bytes': flow or chunk"), ("buckets=x", "buckets='x' is not a number")] {
            #expect(throws: CaptureError.self) { try PreloadSettings(decoding: text) }
            do { _ = try PreloadSettings(decoding: text) } catch { #expect(error.message.contains(fragment), "\(text): \(error.message)") }
        }
    }

    @Test("wirecap exec usage errors: one line on stderr, exit 2; a missing program exits 127")
    func execUsageErrors() throws {
        let wirecap = try #require(TestTools.wirecapBinary(), "build the wirecap executable first")
        for (args, fragment) in [([String](), "name the program to run after --"),
                                 (["-i", "eth0", "--", "true"], "-i belongs to the program"),
                                 (["--mode", "fast", "--", "true"], "--mode must be basic or advanced"),
                                 (["-M", "300", "--", "true"], "must divide"),
                                 (["--offload", "flow", "--", "true"], "--offload needs --mode advanced"),
                                 (["--mode", "advanced", "--flow-buckets", "100", "--", "true"], "--flow-buckets must be a power of two in 64...65536, got 100")] {
            let (status, _, err) = try Shim.run([wirecap, "exec"] + args)
            #expect(status == 2, "\(args): \(err)")
            let lines = err.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(fragment), "\(args): \(err)")
        }
        let (status, _, err) = try Shim.run([wirecap, "exec", "--", "/nonexistent/program"])
        #expect(status == 127 && err.split(separator: "\n").count == 1 && err.contains("cannot run '/nonexistent/program'"), "\(err)")
    }

    @Test("wirecap exec hands the options over: the program sees LD_PRELOAD and WIRECAP_PCAP")
    func environment() throws {
        let wirecap = try #require(TestTools.wirecapBinary(), "build the wirecap executable first")
        let (status, out, err) = try Shim.run([wirecap, "exec", "-M", "128", "--buffer", "64MiB", "--mode", "basic", "--", "/usr/bin/env"])
        let (flowStatus, flowOut, flowErr) = try Shim.run([wirecap, "exec", "--mode", "advanced", "--offload", "chunk", "--", "/usr/bin/env"])
        #expect(flowStatus == 0 && flowOut.contains("mode=advanced;offload=chunk;"), "\(flowErr)")
        #expect(status == 0, "\(err)")
        let vars = Dictionary(out.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let eq = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<eq]), String(line[line.index(after: eq)...]))
        }, uniquingKeysWith: { a, _ in a })
        #expect(vars["LD_PRELOAD"]?.hasSuffix("/libwirecap-pcap.so") == true, "\(out)")
        let p = try PreloadSettings(decoding: try #require(vars[PreloadSettings.variable]))
        #expect(p.cellsPerChunk == 128 && p.bufferBytes == 64 << 20 && p.mode == .basic)
    }
}
