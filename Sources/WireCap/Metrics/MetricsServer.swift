#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import WireCapXDP

/// A minimal HTTP/1.1 responder for Prometheus scrapes: `GET /metrics` (or `/`)
/// answers `200` with the exporter's text; anything else `404`/`405`. One
/// connection at a time, `Connection: close`, on its own thread.
///
/// Binds to loopback unless told otherwise (`--metrics 0.0.0.0:9108` exposes it).
/// The accept loop polls every 100 ms for ``stop()``; it never spins.
public final class MetricsServer: @unchecked Sendable {
    /// The address bound, e.g. `127.0.0.1:9108` (port resolved when 0 was asked).
    public let address: String
    /// The TCP port bound.
    public let port: UInt16
    private let fd: Int32
    private let exporter: MetricsExporter
    private let running = Atomic<Bool>(true)
    private var thread: SystemThread?

    /// Parses `host:port` (IPv4 dotted quad; host defaults to 127.0.0.1).
    public static func parse(_ text: String) -> (host: String, port: UInt16)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 1, let p = UInt16(parts[0]) { return ("127.0.0.1", p) }
        guard parts.count == 2, let p = UInt16(parts[1]) else { return nil }
        let host = parts[0].isEmpty ? "127.0.0.1" : String(parts[0])
        var a = in_addr()
        guard inet_pton(AF_INET, host, &a) == 1 else { return nil }
        return (host, p)
    }

    /// Binds `host:port` and starts serving `exporter`.
    /// - Throws: ``CaptureError`` `.usage` for a bad address, `.busy` when the port is taken.
    public init(listen: String, exporter: MetricsExporter) throws(CaptureError) {
        guard let (host, requested) = Self.parse(listen) else {
            throw CaptureError(.usage, "--metrics '\(listen)': expected HOST:PORT, e.g. 127.0.0.1:9108")
        }
        self.exporter = exporter
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw CaptureError(.system, "socket(AF_INET): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = requested.bigEndian
        inet_pton(AF_INET, host, &sa.sin_addr)
        let bound = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(s, 16) == 0 else {
            let e = errno
            close(s)
            if e == EADDRINUSE { throw CaptureError(.busy, "metrics address \(host):\(requested) already in use: pick another port with --metrics") }
            throw CaptureError(.system, "bind(\(host):\(requested)): \(String(cString: strerror(e)))")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        port = UInt16(bigEndian: actual.sin_port)
        address = "\(host):\(port)"
        fd = s
        do {
            thread = try SystemThread(name: "wc-metrics") { [self] in self.serve() }
        } catch {
            close(s)
            throw CaptureError(error)
        }
    }

    private func serve() {
        while running.load(ordering: .relaxed) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 { continue }
            let c = accept(fd, nil, nil)
            if c < 0 { continue }
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 16384 {
            let n = buffer.withUnsafeMutableBytes { read(c, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            request += buffer[0..<n]
            if request.count >= 4, request.suffix(4).elementsEqual([13, 10, 13, 10]) { break }
            if let text = String(validating: request, as: UTF8.self), text.contains("\r\n\r\n") { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        var status = "200 OK"
        var body: [UInt8]
        var type = "text/plain; version=0.0.4; charset=utf-8"
        if parts.count < 2 {
            status = "400 Bad Request"; body = Array("bad request\n".utf8); type = "text/plain"
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            status = "405 Method Not Allowed"; body = Array("only GET\n".utf8); type = "text/plain"
        } else if parts[1] == "/metrics" || parts[1] == "/" {
            body = exporter.render()
        } else {
            status = "404 Not Found"; body = Array("try /metrics\n".utf8); type = "text/plain"
        }
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        var out = Array(head.utf8)
        if parts.first != "HEAD" { out += body }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }

    /// Stops serving and closes the socket. Idempotent.
    public func stop() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        thread?.join()
        close(fd)
    }

    deinit { stop() }
}
