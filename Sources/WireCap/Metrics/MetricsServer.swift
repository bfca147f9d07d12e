#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import Atomics

/// The Prometheus endpoint: `GET /metrics` (or `/`) answers `200` with the
/// exporter's text exposition; another path `404`, another method `405`.
///
/// Served by SwiftNIO's HTTP/1 pipeline (`configureHTTPServerPipeline`) on one
/// event-loop thread of its own, off the capture threads:
/// - connections are served concurrently (keep-alive allowed);
/// - a connection that sends nothing for ``idleTimeout`` (a client that never
///   finishes its headers, or an idle keep-alive) is closed;
/// - at most ``connectionLimit`` connections are open at once; one more is
///   closed as soon as it is accepted, so idle clients can never lock a
///   scraper out.
///
/// Binds to loopback unless told otherwise (`--metrics 0.0.0.0:9108` exposes it).
public final class MetricsServer: @unchecked Sendable {
    /// The address bound, e.g. `127.0.0.1:9108` (port resolved when 0 was asked).
    public let address: String
    /// The TCP port bound.
    public let port: UInt16
    /// Longest silence on a connection before it is closed.
    public static let idleTimeout: TimeAmount = .seconds(5)
    /// Most connections open at once.
    public static let connectionLimit = 64

    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let stopped = ManagedAtomic<Bool>(false)

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
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = ConnectionCount()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                // The limit: counted on the one event loop, so no lock is needed.
                guard open.value < Self.connectionLimit else { return channel.close() }
                open.value += 1
                channel.closeFuture.whenComplete { _ in open.value -= 1 }
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(exporter: exporter))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
        do {
            channel = try bootstrap.bind(host: host, port: Int(requested)).wait()
        } catch {
            try? group.syncShutdownGracefully()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                throw CaptureError(.busy, "metrics address \(host):\(requested) already in use: pick another port with --metrics")
            }
            throw CaptureError(.system, "bind(\(host):\(requested)): \(error)")
        }
        port = UInt16(channel.localAddress?.port ?? Int(requested))
        address = "\(host):\(port)"
    }

    /// Stops serving and closes every connection. Idempotent.
    public func stop() {
        // Acquire-release: the one caller that flips it runs the shutdown; a second caller returns.
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    deinit { stop() }

    /// Open connections (touched on the server's one event loop only).
    final class ConnectionCount: @unchecked Sendable { var value = 0 }
}

/// Answers one HTTP/1 request at a time on a connection with the exporter's text.
final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let exporter: MetricsExporter
    private var head: HTTPRequestHead?

    init(exporter: MetricsExporter) { self.exporter = exporter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            let (status, body, type): (HTTPResponseStatus, [UInt8], String)
            if h.method != .GET && h.method != .HEAD {
                (status, body, type) = (.methodNotAllowed, Array("only GET\n".utf8), "text/plain")
            } else if h.uri == "/metrics" || h.uri == "/" {
                (status, body, type) = (.ok, exporter.render(), "text/plain; version=0.0.4; charset=utf-8")
            } else {
                (status, body, type) = (.notFound, Array("not found: try /metrics\n".utf8), "text/plain")
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.count))
            let keepAlive = h.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))), promise: nil)
            if h.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: body.count)
                buffer.writeBytes(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                // The channel (Sendable), not the context, crosses into the completion.
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }
}
