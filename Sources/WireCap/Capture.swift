import Atomics
import WireCapCore
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket

/// One interface to capture from and which of its rx queues.
public struct InterfaceSelection: Sendable, Hashable {
    /// The interface name, e.g. `eth0`.
    public var name: String
    /// Device rx queues; nil: all of them.
    public var queues: [Int]?

    public init(_ name: String, queues: [Int]? = nil) {
        self.name = name
        self.queues = queues
    }
}

/// Which kernel path a ``Capture`` reads packets from.
///
/// Both give the same handles, with the same zero-copy packet views: a handle
/// reads a chunk through the buddy group's descriptors and the backend's
/// memory bases whichever backend filled them (see `CaptureBackend` in WireCapXDP).
public enum CaptureBackendChoice: Sendable, Hashable {
    /// AF_XDP: one XSK socket per device rx queue, an XDP program redirecting to them,
    /// frames in the pools (the WireCAP design proper). Needs CAP_NET_ADMIN+CAP_BPF.
    case xdp
    /// AF_PACKET TPACKET_V3 rings, one socket per selected queue (an
    /// ``InterfaceSelection``'s `queues` gives the socket count; nil: one per rx
    /// queue), joined in one PACKET_FANOUT group; a retired block is a chunk. The
    /// fallback without AF_XDP and the stock-Linux baseline. Needs CAP_NET_RAW.
    /// - Parameters:
    ///   - fanout: how the kernel spreads packets over the sockets.
    ///   - rollover: PACKET_FANOUT_FLAG_ROLLOVER (a full ring's packets go to another socket).
    case afpacket(fanout: FanoutMode, rollover: Bool)
}

/// Everything ``Capture/open(_:configuration:)`` needs besides the interfaces.
public struct CaptureSettings: Sendable {
    /// The backend, default ``CaptureBackendChoice/xdp``.
    public var backend = CaptureBackendChoice.xdp
    /// Ring shape per socket with ``CaptureBackendChoice/afpacket(fanout:rollover:)``
    /// (it replaces the core's pool geometry there; mode, T and the timeout still apply).
    public var afpacketGeometry = AFPacketGeometry.default
    /// M, R, N, frame size, T, basic/advanced mode and the partial-chunk timeout
    /// (pcap's buffer timeout: a partly filled chunk is delivered after it).
    public var core = CaptureConfiguration()
    /// The capture filter (nil: every packet), applied per packet in the handle;
    /// build it from WireCapFilter's `PacketFilter` (see ``PacketPredicate``).
    public var filter: PacketPredicate?
    /// Bytes of each packet shown to the application (pcap's snaplen), default 262144.
    public var snapLength = 262_144
    /// How long blocking calls wait for a chunk before a timeout result, default 100 ms.
    public var readTimeoutNanoseconds: UInt64 = 100_000_000
    /// CPUs for the capture threads (thread t → `cpus[t % count]`); empty: unpinned.
    public var captureCPUs: [Int] = []
    /// Capture threads per interface; nil: one per queue.
    public var captureThreads: Int?
    /// Busy-poll the rings instead of the adaptive sleep (one core per capture thread).
    public var busyPoll = false
    /// Back the pools with huge pages (falls back with a warning).
    public var hugePages = false
    /// Replace an XDP program already attached to an interface (AF_XDP).
    public var force = false
    /// Force generic (SKB) XDP (AF_XDP).
    public var genericXDP = false
    /// Suppress the engine's notes on stderr.
    public var quiet = true

    public init() {}
}

/// A running capture: one engine (and buddy group) per interface, one
/// ``CaptureHandle`` per queue, on either backend (``CaptureSettings/backend``).
///
/// ```swift
/// var settings = CaptureSettings()
/// settings.readTimeoutNanoseconds = 50_000_000
/// let capture = try Capture.open([InterfaceSelection("eth0")], configuration: settings)
/// try capture.start()
/// let handle = capture.handles[0]
/// _ = handle.loop(count: 1000) { packet in inspect(packet.bytes) }
/// capture.close()
/// ```
///
/// Buddy groups: the queues of one interface form one group (offload moves
/// chunks only between them); queues of different interfaces never exchange chunks.
///
/// - warning: `start`, `close` from one control thread; each handle from its own thread;
///   handles must stop before `close()` (it unmaps the pools).
public final class Capture: @unchecked Sendable {
    /// The engines, one per interface, in the order given: `CaptureEngine`s
    /// (AF_XDP) or `AFPacketEngine`s, as ``CaptureSettings/backend`` chose.
    public let engines: [any CaptureBackend]
    /// The handles: per interface, per queue, in order.
    public let handles: [CaptureHandle]
    /// The settings the capture was opened with.
    public let settings: CaptureSettings
    private let state: State

    final class State: ChunkSourceState {
        let closed = ManagedAtomic<Bool>(false)
        // Acquire: pairs with the release stores in stop() and finish(), so the chunks the
        // engines flushed before them are seen by a handle that sees the flag.
        var isFinished: Bool { closed.load(ordering: .acquiring) }
    }

    private init(engines: [any CaptureBackend], handles: [CaptureHandle], settings: CaptureSettings, state: State) {
        self.engines = engines
        self.handles = handles
        self.settings = settings
        self.state = state
    }

    /// Opens the interfaces: checks privileges, builds each engine (pools, sockets,
    /// XDP program attached) and the handles. Capture threads start with ``start()``.
    ///
    /// - Throws: ``CaptureError`` — `.usage` for an unknown interface, a queue out
    ///   of range, a bad configuration or filter; `.busy` when another XDP program is
    ///   attached (use `force`); `.permission` without root / CAP_NET_ADMIN+CAP_BPF
    ///   (AF_PACKET: CAP_NET_RAW).
    public static func open(_ interfaces: [InterfaceSelection], configuration settings: CaptureSettings) throws(CaptureError) -> Capture {
        guard !interfaces.isEmpty else { throw CaptureError(.usage, "no interface given: name one with -i") }
        let names = interfaces.map(\.name)
        if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw CaptureError(.usage, "interface \(dup) given twice: list each interface once")
        }
        do { try settings.core.validate() } catch { throw CaptureError(.usage, error.message) }
        guard settings.snapLength >= 1 else { throw CaptureError(.usage, "snap length must be at least 1 byte, got \(settings.snapLength)") }
        if settings.backend == .xdp {
            do { try Privileges.require() } catch { throw CaptureError(.permission, error.description) }
        } else {
            do { try settings.afpacketGeometry.validate() } catch { throw CaptureError(error) }
        }
        for i in interfaces where !InterfaceInfo.exists(i.name) {
            throw CaptureError(.usage, "unknown interface \(i.name): check the name with `ip link`")
        }
        var options = EngineOptions()
        options.cpus = settings.captureCPUs
        options.captureThreads = settings.captureThreads
        options.wakePolicy = settings.busyPoll ? .busyPoll : .adaptive
        options.hugePages = settings.hugePages
        options.force = settings.force
        options.attachMode = settings.genericXDP ? .generic : nil
        options.quiet = settings.quiet
        var engines: [any CaptureBackend] = []
        let state = State()
        var handles: [CaptureHandle] = []
        for i in interfaces {
            let queues = i.queues ?? Array(0..<InterfaceInfo.rxQueueCount(i.name))
            let engine: any CaptureBackend
            do throws(XDPError) {
                switch settings.backend {
                case .xdp:
                    engine = try CaptureEngine(interface: i.name, queues: queues, configuration: settings.core, options: options)
                case .afpacket(let fanout, let rollover):
                    var a = AFPacketOptions()
                    a.geometry = settings.afpacketGeometry
                    a.fanout = fanout
                    a.rollover = rollover
                    a.cpus = settings.captureCPUs
                    a.captureThreads = settings.captureThreads
                    a.quiet = settings.quiet
                    engine = try AFPacketEngine(interface: i.name, sockets: queues.count, configuration: settings.core, options: a)
                }
            } catch {
                engines.forEach { $0.close() }
                throw CaptureError(error)
            }
            engines.append(engine)
            handles += makeHandles(engine, interface: i.name, settings: settings, state: state)
        }
        return Capture(engines: engines, handles: handles, settings: settings, state: state)
    }

    /// One handle per group index of `engine`. Reads packets the same way on both
    /// backends (descriptors + `memoryLayout` bases); the consumer endpoint is
    /// passed only for its futex wait.
    private static func makeHandles(_ engine: any CaptureBackend, interface: String, settings: CaptureSettings,
                                    state: State) -> [CaptureHandle] {
        let layout = engine.memoryLayout
        return (0..<engine.queues.count).map { j in
            CaptureHandle(interface: interface, index: j, group: engine.group, bases: layout.bases,
                          deviceQueues: layout.deviceQueues, source: state, filter: settings.filter,
                          snapLength: settings.snapLength, readTimeoutNanoseconds: settings.readTimeoutNanoseconds,
                          consumer: engine.consumer(j),
                          ledger: { [engine] in engine.ledger(final: engine.lifecycle.state == .closed) })
        }
    }

    /// Starts capturing on every engine. Before it, nothing is captured and nothing
    /// counted (no frame posted, no program attached); when it returns, every socket
    /// receives (readiness).
    public func start() throws(CaptureError) {
        for e in engines {
            do { try e.start() } catch {
                engines.forEach { $0.stop() }
                throw CaptureError(error)
            }
        }
    }

    /// Stops capturing without losing what was received: every engine stops
    /// redirecting, drains its rings and flushes its partial chunks into the
    /// handles' queues, then the capture is marked finished. Handles go on
    /// returning the packets still queued, then ``DispatchResult/finished``; call
    /// ``close()`` once they are done. Idempotent.
    public func stop() {
        engines.forEach { $0.stop() }
        // Release: pairs with the acquire in isFinished (the engines stopped and flushed first).
        state.closed.store(true, ordering: .releasing)
    }

    /// The loss ledger of every interface (final after ``close()``). Any thread.
    public func ledger() -> [CaptureLedger] {
        engines.map { $0.ledger(final: $0.lifecycle.state == .closed) }
    }

    /// The handle of `queue` on `interface`, if opened.
    public func handle(interface: String, queue: Int) -> CaptureHandle? {
        handles.first { $0.interface == interface && $0.queue == queue }
    }

    /// Per-queue counters of every engine, in handle order. Any thread.
    public func statistics() -> [QueueStatistics] { engines.flatMap { $0.statistics() } }

    /// Marks the capture finished (blocked handle calls return ``DispatchResult/finished``
    /// within 100 ms, ``CaptureHandle/breakCheckNanoseconds``), then closes every engine: capture threads stopped,
    /// XDP programs detached first, sockets closed (AF_PACKET rings unmapped), pools freed. Idempotent.
    /// Handles must have stopped (use ``CaptureHandle/breakLoop()`` and join).
    public func close() {
        stop()
        engines.forEach { $0.close() }
    }

    /// Only marks the capture finished, so handles drain and return
    /// ``DispatchResult/finished``; call ``close()`` after they stopped.
    public func finish() {
        // Release: pairs with the acquire in isFinished.
        state.closed.store(true, ordering: .releasing)
    }

    deinit { close() }
}
