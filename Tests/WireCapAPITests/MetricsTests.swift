#if canImport(Glibc)
import Glibc
#endif
import Testing
import WireCapTestSupport
import WireCap

@Suite("Prometheus endpoint")
struct MetricsTests {
    @Test("the endpoint serves the stats counters over loopback HTTP/1.1")
    func scrape() throws {
        let exporter = MetricsExporter()
        var s = QueueStatistics(queue: 0)
        s.packetsReceived = 1234
        s.dropsNoBuffer = 7
        s.offloadedOut = 3
        s.freeChunks = 10
        exporter.update(interface: "cap0", [s], deviceQueues: [2])
        s.packetsReceived = 2000
        exporter.update(interface: "cap0", [s], deviceQueues: [2])
        let server = try MetricsServer(listen: "127.0.0.1:0", exporter: exporter)
        defer { server.stop() }
        #expect(server.address.hasPrefix("127.0.0.1:"))
        let response = try #require(TestTools.httpGet(port: server.port, path: "/metrics"))
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(response.contains("text/plain; version=0.0.4"))
        #expect(response.contains(#"wirecap_received_packets_total{interface="cap0",queue="2"} 2000"#))
        #expect(response.contains(#"wirecap_dropped_packets_total{interface="cap0",queue="2",cause="no_buffer"} 7"#))
        #expect(response.contains(#"wirecap_offloaded_chunks_total{interface="cap0",queue="2",direction="out"} 3"#))
        #expect(response.contains(#"wirecap_pool_chunks{interface="cap0",queue="2",state="free"} 10"#))
        let missing = try #require(TestTools.httpGet(port: server.port, path: "/nope"))
        #expect(missing.hasPrefix("HTTP/1.1 404"))
    }

    @Test("flow offload figures per queue: bucket moves, buckets spread, spread and held packets (counters), consumer load (gauge)")
    func flowOffloadSeries() {
        let exporter = MetricsExporter()
        var s = QueueStatistics(queue: 1)
        s.bucketMoves = 5; s.bucketsSpread = 1; s.packetsSpread = 900; s.packetsHeld = 40; s.consumerLoad = 52_000
        exporter.update(interface: "cap0", [s], deviceQueues: [1])
        s.bucketMoves = 7; s.consumerLoad = 48_000
        exporter.update(interface: "cap0", [s], deviceQueues: [1])
        let text = String(decoding: exporter.render(), as: UTF8.self)
        #expect(text.contains(#"wirecap_flow_bucket_moves_total{interface="cap0",queue="1"} 7"#), "\(text)")
        #expect(text.contains(#"wirecap_flow_buckets_spread_total{interface="cap0",queue="1"} 1"#))
        #expect(text.contains(#"wirecap_flow_spread_packets_total{interface="cap0",queue="1"} 900"#))
        #expect(text.contains(#"wirecap_flow_held_packets_total{interface="cap0",queue="1"} 40"#))
        #expect(text.contains(#"wirecap_flow_consumer_load_packets_per_second{interface="cap0",queue="1"} 48000"#), "a gauge: the latest value")
    }

    @Test("the loss ledger is exported per queue: fates, every loss cause, in-flight and (signed) unexplained")
    func ledgerSeries() throws {
        let exporter = MetricsExporter()
        var q = QueueLedger(queue: 3)
        q.offered = 100; q.delivered = 80; q.poolExhausted = 4; q.writer = 2; q.filtered = 1
        q.bypassed = 10; q.bypassedBytes = 640
        let ledger = CaptureLedger(interface: "cap0", offeredSource: .xdpProgram, queues: [q], isFinal: true)
        exporter.update(ledger: ledger)
        let text = String(decoding: exporter.render(), as: UTF8.self)
        #expect(text.contains(#"wirecap_ledger_packets_total{interface="cap0",queue="3",fate="offered"} 100"#), "\(text)")
        #expect(text.contains(#"wirecap_ledger_packets_total{interface="cap0",queue="3",fate="delivered"} 80"#))
        #expect(text.contains(#"wirecap_ledger_packets_total{interface="cap0",queue="3",fate="bypassed"} 10"#), "a fate, not a loss")
        #expect(text.contains(#"wirecap_bypassed_bytes_total{interface="cap0",queue="3",place="xdp"} 640"#))
        #expect(text.contains(#"wirecap_lost_packets_total{interface="cap0",queue="3",cause="pool_exhausted"} 4"#))
        #expect(text.contains(#"wirecap_lost_packets_total{interface="cap0",queue="3",cause="writer"} 2"#))
        #expect(text.contains(#"wirecap_unexplained_packets{interface="cap0",queue="3"} 3"#), "100 − 80 − 10 − 1 − 6 = 3, shown")
        #expect(text.contains(#"wirecap_lost_packets_total{interface="cap0",queue="-1",cause="before_socket"} 0"#), "the device row too")
    }

    @Test("idle connections never lock a scraper out: twenty silent clients, then a scrape is served")
    func idleConnectionsDoNotBlock() throws {
        let exporter = MetricsExporter()
        var s = QueueStatistics(queue: 0)
        s.packetsReceived = 42
        exporter.update(interface: "cap0", [s], deviceQueues: [0])
        let server = try MetricsServer(listen: "127.0.0.1:0", exporter: exporter)
        defer { server.stop() }
        // Twenty connections that send nothing (the old responder served one at a
        // time and waited on each: seventeen such clients blocked every scrape).
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<20 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = server.port.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
            let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(r == 0)
            idle.append(fd)
        }
        let response = try #require(TestTools.httpGet(port: server.port, path: "/metrics"))
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(response.contains(#"wirecap_received_packets_total{interface="cap0",queue="0"} 42"#))
        let post = try #require(TestTools.httpRequest(port: server.port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
        #expect(post.hasPrefix("HTTP/1.1 405"))
    }

    @Test("bad and busy addresses are one clear line")
    func errors() throws {
        #expect(throws: CaptureError.self) { try MetricsServer(listen: "localhost:x", exporter: MetricsExporter()) }
        let a = try MetricsServer(listen: "127.0.0.1:0", exporter: MetricsExporter())
        defer { a.stop() }
        do {
            _ = try MetricsServer(listen: "127.0.0.1:\(a.port)", exporter: MetricsExporter())
            Issue.record("second bind should fail")
        } catch {
            #expect(error.description == "metrics address 127.0.0.1:\(a.port) already in use: pick another port with --metrics")
        }
    }
}
