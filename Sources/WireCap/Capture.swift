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

/// Everything ``Capture/open(_:configuration:)`` needs besides the interfaces:
/// the engine's settings (one ``EngineSettings``, shared with the CLI, whose fields
/// read and write through this type: `settings.core`, `settings.backend`, …) and
/// what the handles do with packets.
@dynamicMemberLookup
public struct CaptureSettings: Sendable {
    /// The engine: backend, M, R, N, T, mode, partial timeout, threads, placement.
    /// The API is quiet by default (`engine.quiet = true`). What advanced mode
    /// offloads reads and writes through here too: `settings.offload` (flow buckets
    /// by default, or whole chunks), `settings.flowBuckets`, `settings.strictFlowAffinity`
    /// (see ``EngineSettings/offload``).
    public var engine: EngineSettings
    /// The capture filter (nil: every packet), applied per packet in the handle;
    /// build it from WireCapFilter's `PacketFilter` (see ``PacketPredicate``).
    public var filter: PacketPredicate?
    /// Bytes of each packet shown to the application (pcap's snaplen), default 262144.
    public var snapLength = 262_144
    /// How long blocking calls wait for a chunk before a timeout result, default 100 ms.
    public var readTimeoutNanoseconds: UInt64 = 100_000_000

    public init() {
        engine = EngineSettings()
        engine.quiet = true
    }

    /// The engine settings' fields, as if they were this type's.
    public subscript<Value>(dynamicMember path: WritableKeyPath<EngineSettings, Value>) -> Value {
        get { engine[keyPath: path] }
        set { engine[keyPath: path] = newValue }
    }
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
        guard settings.snapLength >= 1 else { throw CaptureError(.usage, "snap length must be at least 1 byte, got \(settings.snapLength)") }
        var engines: [any CaptureBackend] = []
        let state = State()
        var handles: [CaptureHandle] = []
        for i in interfaces {
            let engine: any CaptureBackend
            do { engine = try openEngine(i, settings: settings.engine) } catch {
                engines.forEach { $0.close() }
                throw error
            }
            engines.append(engine)
            handles += makeHandles(engine, interface: i.name, settings: settings, state: state)
        }
        return Capture(engines: engines, handles: handles, settings: settings, state: state)
    }

    /// Opens one engine (one buddy group) on `selection` with `settings`: the one
    /// place an engine is built, for ``open(_:configuration:)`` and for the CLI
    /// (which drives the engine with its own consumers). On AF_PACKET the
    /// selection's queue count is the socket count (nil: one per rx queue).
    ///
    /// - Throws: ``CaptureError`` — `.usage` for an unknown interface, a queue out
    ///   of range or a bad configuration; `.busy` when another XDP program is
    ///   attached (set `force`); `.permission` without root / CAP_NET_ADMIN+CAP_BPF
    ///   (AF_PACKET: CAP_NET_RAW).
    public static func openEngine(_ selection: InterfaceSelection, settings: EngineSettings) throws(CaptureError) -> any CaptureBackend {
        do { try settings.core.validate() } catch { throw CaptureError(.usage, error.message) }
        do throws(XDPError) {
            if settings.backend == .xdp { try Privileges.require() } else { try settings.afpacketGeometry.validate() }
        } catch { throw CaptureError(error) }
        guard InterfaceInfo.exists(selection.name) else {
            throw CaptureError(.usage, "unknown interface \(selection.name): check the name with `ip link`")
        }
        let queues = selection.queues ?? Array(0..<InterfaceInfo.rxQueueCount(selection.name))
        do throws(XDPError) {
            switch settings.backend {
            case .xdp:
                return try CaptureEngine(interface: selection.name, queues: queues, settings: settings)
            case .afpacket:
                return try AFPacketEngine(interface: selection.name, sockets: queues.count, settings: settings)
            }
        } catch { throw CaptureError(error) }
    }

    /// One handle per group index of `engine`, each owning the queue's consumer
    /// endpoint (both backends: descriptors + `memoryLayout` bases).
    private static func makeHandles(_ engine: any CaptureBackend, interface: String, settings: CaptureSettings,
                                    state: State) -> [CaptureHandle] {
        (0..<engine.queues.count).map { j in
            CaptureHandle(interface: interface, consumer: engine.consumer(j), source: state, filter: settings.filter,
                          snapLength: settings.snapLength, readTimeoutNanoseconds: settings.readTimeoutNanoseconds,
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
