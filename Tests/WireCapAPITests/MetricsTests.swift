import Testing
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
        let response = try #require(httpGet(port: server.port, path: "/metrics"))
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(response.contains("text/plain; version=0.0.4"))
        #expect(response.contains(#"wirecap_received_packets_total{interface="cap0",queue="2"} 2000"#))
        #expect(response.contains(#"wirecap_dropped_packets_total{interface="cap0",queue="2",cause="no_buffer"} 7"#))
        #expect(response.contains(#"wirecap_offloaded_chunks_total{interface="cap0",queue="2",direction="out"} 3"#))
        #expect(response.contains(#"wirecap_pool_chunks{interface="cap0",queue="2",state="free"} 10"#))
        let missing = try #require(httpGet(port: server.port, path: "/nope"))
        #expect(missing.hasPrefix("HTTP/1.1 404"))
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
