#if canImport(Glibc)
import Glibc
#endif
import CWireCapPcap
import Foundation
import WireCap
import WireCapCore
import WireCapEngine
import WireCapSystem

/// One `pcap_t` of WireCap: libpcap's live-capture handle over a ``Capture`` of
/// every rx queue of one interface, presented as one packet stream.
///
/// Before `pcap_activate` it holds the `pcap_set_*` options; activation opens
/// the capture (the settings `wirecap exec` handed over, ``PreloadSettings``),
/// starts it, and keeps a real libpcap handle from `pcap_open_dead` of the same
/// link type, snap length and time stamp precision for the calls that need one
/// (`pcap_compile`, `pcap_dump_open`).
///
/// **Reading.** One thread (the program's) takes every queue's handle in turn,
/// non-blocking, at most one chunk from each per round: each queue's packets
/// reach the program in arrival order in basic mode, the default (with
/// `--mode advanced`, a chunk a buddy offloaded is read from that buddy's capture
/// queue, so a queue's chunks can interleave when the program fell behind by T% of R). Callbacks see the
/// packets in place (zero-copy); `pcap_next`/`pcap_next_ex` copy one packet into
/// the handle's buffer, since the chunk is recycled when its last packet is read.
///
/// **Waiting and the selectable fd.** The fd is an eventfd the engine's capture
/// threads write when a chunk arrives for a queue whose reader announced a sleep
/// (``arm()``), and `pcap_breakloop` writes after setting its flag. A blocking
/// read polls it; a program may poll it too: it is readable whenever packets may
/// be waiting, and a read that finds nothing clears it and arms it again.
///
/// - warning: one thread uses a handle, except `pcap_breakloop` (any thread or a
///   signal handler), as with libpcap.
final class PcapHandle {
    let device: String
    let preload: PreloadSettings
    /// The C words (break flag, eventfd) the `pcap_t *` points at.
    private(set) var words: OpaquePointer!
    let eventFD: Int32
    /// pcap_geterr's text.
    let errorBuffer: UnsafeMutablePointer<CChar>

    // pcap_set_* before activation.
    var snapLength: Int32 = 262_144
    var promiscuous = false
    var timeoutMilliseconds: Int32 = 0
    var nanoseconds = false
    var nonBlocking = false

    private var capture: Capture?
    /// Activated: the capture is open (until pcap_close).
    var activated: Bool { capture != nil }
    /// The one interface's engine of the capture.
    private var engine: (any CaptureBackend)? { capture?.engines.first }
    private var handles: [CaptureHandle] = []
    /// Per handle: a dispatch stopped at its packet limit, so its chunk may hold more.
    private var mayHoldRest: [Bool] = []
    /// The handle a round starts with (rotates, so no queue waits behind another).
    private var start = 0
    let filter = FilterProgram()
    /// The real libpcap handle of the same link type and snap length.
    private(set) var dead: OpaquePointer?
    /// pcap_next_ex's packet: header and bytes, valid until the next read.
    private let nextHeader = UnsafeMutablePointer<wc_pcap_pkthdr>.allocate(capacity: 1)
    private var nextData: UnsafeMutablePointer<UInt8>?
    private var ledgerFD: Int32 = -1

    private init(device: String, preload: PreloadSettings, eventFD: Int32) {
        self.device = device
        self.preload = preload
        self.eventFD = eventFD
        errorBuffer = .allocate(capacity: Int(WC_PCAP_ERRBUF_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(WC_PCAP_ERRBUF_SIZE))
        nextHeader.initialize(to: wc_pcap_pkthdr())
    }

    /// A new handle on `device`, registered (retained until ``close()``), or nil with
    /// the reason in `errbuf`.
    static func make(device: String, preload: PreloadSettings, errbuf: UnsafeMutablePointer<CChar>?) -> OpaquePointer? {
        let fd: Int32
        do { fd = try Sys.eventFD() } catch {
            copy("wirecap: \(device): \(error.description)", into: errbuf)
            return nil
        }
        let handle = PcapHandle(device: device, preload: preload, eventFD: fd)
        let object = Unmanaged.passRetained(handle).toOpaque()
        guard let w = wc_handle_register(object, fd) else {
            Unmanaged<PcapHandle>.fromOpaque(object).release()
            Sys.close(fd)
            copy("wirecap: \(device): too many open WireCap handles (256)", into: errbuf)
            return nil
        }
        handle.words = w
        return w
    }

    /// The WireCap handle `p` points at, or nil when `p` is the system libpcap's.
    static func lookup(_ p: OpaquePointer?) -> PcapHandle? {
        guard let w = wc_handle_lookup(UnsafeRawPointer(p)) else { return nil }
        return Unmanaged<PcapHandle>.fromOpaque(wc_handle_object(w)).takeUnretainedValue()
    }

    /// Copies `text` into a libpcap error buffer (PCAP_ERRBUF_SIZE, NUL-terminated).
    static func copy(_ text: String, into buffer: UnsafeMutablePointer<CChar>?) {
        guard let buffer else { return }
        var n = 0
        for byte in text.utf8 where n < Int(WC_PCAP_ERRBUF_SIZE) - 1 {
            buffer[n] = CChar(bitPattern: byte)
            n += 1
        }
        buffer[n] = 0
    }

    /// Sets pcap_geterr's text.
    func setError(_ text: String) { Self.copy(text, into: errorBuffer) }

    /// One line on stderr (unless the settings say quiet).
    func note(_ text: String) {
        Takeover.note(text)
    }

    // MARK: Activation

    /// pcap_activate: opens and starts the capture. - Returns: 0 or a PCAP_ERROR_* code.
    func activate() -> Int32 {
        if activated { return WC_PCAP_ERROR_ACTIVATED }
        if snapLength <= 0 || snapLength > 262_144 { snapLength = 262_144 }
        var settings: EngineSettings
        do { settings = try preload.engineSettings() } catch {
            setError("wirecap: \(error.message)")
            return WC_PCAP_ERROR
        }
        settings.promiscuous = promiscuous && !preload.promiscuousOff
        var cs = CaptureSettings()
        cs.engine = settings
        // The handles show whole packets (the filter sees them whole, as libpcap's
        // kernel filter does); the snap length is applied in the header here.
        cs.snapLength = 262_144
        cs.readTimeoutNanoseconds = 0
        cs.filter = filter.predicate
        if preload.ledgerPath != nil { openLedgerFile() }
        let capture: Capture
        do {
            capture = try Capture.open([InterfaceSelection(device, queues: preload.queues)], configuration: cs)
        } catch {
            setError("wirecap: \(error.message)")
            switch error.kind {
            case .permission: return WC_PCAP_ERROR_PERM_DENIED
            case .usage where !InterfaceInfo.exists(device): return WC_PCAP_ERROR_NO_SUCH_DEVICE
            default: return WC_PCAP_ERROR
            }
        }
        let engine = capture.engines[0]
        engine.shell.wakeups.notify(eventFD: eventFD)
        for h in capture.handles { h.isNonBlocking = true }
        do { try capture.start() } catch {
            setError("wirecap: \(error.message)")
            capture.close()
            return WC_PCAP_ERROR
        }
        self.capture = capture
        handles = capture.handles
        mayHoldRest = Array(repeating: false, count: handles.count)
        nextData = .allocate(capacity: Int(snapLength))
        dead = RealPcap.openDead(Int32(WC_DLT_EN10MB), snapLength, nanoseconds ? 1 : 0)
        _ = arm()
        let c = capture.settings.engine.core
        note("capturing on \(device) queues \(handles.map { String($0.queue) }.joined(separator: ",")) "
             + "(\(engine.attachDescription) XDP, \(c.mode) mode, \(c.queueBytes >> 20) MiB per queue) for \(Self.programName) through libpcap")
        return 0
    }

    /// The real libpcap handle for calls that need one: the activated handle's, or
    /// (before activation) one made for the options set so far.
    func realHandle() -> OpaquePointer? {
        if let dead { return dead }
        dead = RealPcap.openDead(Int32(WC_DLT_EN10MB), snapLength <= 0 || snapLength > 262_144 ? 262_144 : snapLength,
                                 nanoseconds ? 1 : 0)
        return dead
    }

    /// Copies the real handle's error text into this handle's (after a forwarded call failed).
    func takeRealError() {
        if let dead, let text = RealPcap.geterr(dead) { setError(String(cString: text)) }
    }

    static var programName: String {
        Sys.readSmallFile("/proc/self/comm") ?? "the program"
    }

    // MARK: Reading

    /// Reads up to `limit` packets (≤ 0: what one round over the queues holds, at
    /// most a chunk each), calling `body` with each in place.
    ///
    /// - Returns: the packets read (0: the timeout passed, or nothing waits in
    ///   non-blocking mode); -2 when pcap_breakloop was called before any packet
    ///   (the request is taken); -1 when the capture ended.
    @inline(__always)
    func read(limit: Int, block: Bool, _ body: (Packet) -> Void) -> Int32 {
        guard activated else {
            setError("wirecap: \(device): the handle is not activated")
            return WC_PCAP_ERROR
        }
        if wc_handle_take_break(words) != 0 { return WC_PCAP_ERROR_BREAK }
        // The read timeout only matters once a round found nothing: its clock is read then.
        var deadline: UInt64?
        while true {
            let (n, finished) = round(limit: limit, body)
            if n > 0 { return Int32(clamping: n) }
            if wc_handle_take_break(words) != 0 { return WC_PCAP_ERROR_BREAK }
            if finished {
                setError("wirecap: the capture on \(device) ended")
                return WC_PCAP_ERROR
            }
            if !block {
                _ = arm()
                // A break whose eventfd write arm() just emptied: readable again, so a
                // program polling the fd sees it.
                if wc_handle_break_requested(words) != 0 { Sys.signal(eventFD: eventFD) }
                return 0
            }
            var waitMilliseconds: Int32 = -1
            if timeoutMilliseconds > 0 {
                let now = Sys.monotonicNanoseconds()
                let end = deadline ?? now &+ UInt64(timeoutMilliseconds) * 1_000_000
                deadline = end
                if now >= end { return 0 }
                waitMilliseconds = Int32(clamping: (end - now + 999_999) / 1_000_000)
            }
            if arm() { continue }
            // A break whose eventfd write arm() just emptied set its flag first.
            if wc_handle_take_break(words) != 0 { return WC_PCAP_ERROR_BREAK }
            var p = pollfd(fd: eventFD, events: Int16(POLLIN), revents: 0)
            _ = try? Sys.poll(&p, count: 1, timeoutMilliseconds: waitMilliseconds)   // EINTR: the loop looks again
        }
    }

    /// One round over the handles, non-blocking: at most one chunk (or the rest of
    /// one) from each, `limit` packets in all (≤ 0: no limit).
    @inline(__always)
    private func round(limit: Int, _ body: (Packet) -> Void) -> (Int, finished: Bool) {
        var n = 0
        var finished = 0
        let count = handles.count
        let words = self.words
        var i = start
        for _ in 0..<count {
            let h = handles[i]
            let want = limit > 0 ? limit - n : 0
            switch h.dispatch(maxPackets: want, { (p: Packet) in
                body(p)
                // A break from inside the callback stops the chunk after this packet.
                if wc_handle_break_requested(words) != 0 { h.breakLoop() }
            }) {
            case .processed(let m):
                n += m
                mayHoldRest[i] = want > 0 && m == want
            case .broken:
                mayHoldRest[i] = true
            case .finished:
                finished += 1
            }
            i = i + 1 == count ? 0 : i + 1
            if limit > 0 && n >= limit { break }
        }
        start = start + 1 == count ? 0 : start + 1
        return (n, finished == count)
    }

    /// Empties the eventfd, announces a sleep on every queue and looks again: a
    /// chunk that lands after the announcement writes the eventfd (the engine's
    /// capture thread, ``ConsumerWakeups``), one that landed before is seen here,
    /// and then the eventfd is written at once.
    /// - Returns: whether packets may be waiting.
    func arm() -> Bool {
        guard let engine else { return false }
        Sys.reset(eventFD: eventFD)
        let wakeups = engine.shell.wakeups
        for h in handles { wakeups.announce(consumer: h.index) }
        var work = mayHoldRest.contains(true)
        if !work { work = handles.contains { engine.group.captureQueueLength($0.index) > 0 } }
        if work { Sys.signal(eventFD: eventFD) }
        return work
    }

    /// The pcap header of `p` with this handle's snap length and precision.
    @inline(__always)
    static func header(_ p: Packet, snapLength: Int, nanoseconds: Bool) -> wc_pcap_pkthdr {
        let t = p.timestamp
        let sub = t % 1_000_000_000
        return wc_pcap_pkthdr(ts: timeval(tv_sec: Int(t / 1_000_000_000), tv_usec: Int(nanoseconds ? sub : sub / 1000)),
                              caplen: UInt32(min(p.bytes.count, snapLength)), len: UInt32(truncatingIfNeeded: p.wireLength))
    }

    /// pcap_dispatch / pcap_loop's delivery: `callback` with each packet in place.
    @inline(__always)
    func deliver(limit: Int, block: Bool, _ callback: wc_pcap_handler, _ user: UnsafeMutablePointer<UInt8>?) -> Int32 {
        let snap = Int(snapLength), nano = nanoseconds
        return read(limit: limit, block: block) { p in
            var h = Self.header(p, snapLength: snap, nanoseconds: nano)
            callback(user, &h, p.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// pcap_loop: until `count` packets (≤ 0: forever), a break or an error; it
    /// always waits, also in non-blocking mode, as libpcap's does.
    func loop(count: Int, _ callback: wc_pcap_handler, _ user: UnsafeMutablePointer<UInt8>?) -> Int32 {
        var remaining = count
        while true {
            let r = deliver(limit: count > 0 ? remaining : 0, block: true, callback, user)
            if r < 0 { return r }
            if count > 0 {
                remaining -= Int(r)
                if remaining <= 0 { return 0 }
            }
        }
    }

    /// pcap_next_ex: the next packet copied into the handle's buffer.
    /// - Returns: 1, 0 (timeout / nothing in non-blocking mode), -1 or -2.
    func next(_ header: UnsafeMutablePointer<UnsafeMutablePointer<wc_pcap_pkthdr>?>?,
              _ data: UnsafeMutablePointer<UnsafePointer<UInt8>?>?) -> Int32 {
        guard activated, let buffer = nextData else {
            setError("wirecap: \(device): the handle is not activated")
            return WC_PCAP_ERROR
        }
        let snap = Int(snapLength), nano = nanoseconds
        let out = nextHeader
        let r = read(limit: 1, block: !nonBlocking) { p in
            out.pointee = Self.header(p, snapLength: snap, nanoseconds: nano)
            if let base = p.bytes.baseAddress { buffer.update(from: base.assumingMemoryBound(to: UInt8.self), count: Int(out.pointee.caplen)) }
        }
        if r == 1 {
            header?.pointee = out
            data?.pointee = UnsafePointer(buffer)
        }
        return r
    }

    /// pcap_setnonblock.
    func setNonBlocking(_ on: Bool) { nonBlocking = on }

    // MARK: Statistics

    /// pcap_stats from the loss ledger: `ps_recv` every packet that reached the
    /// queues and the filter did not reject (delivered, waiting, or lost in
    /// WireCap: Linux libpcap's count includes its drops too), `ps_drop` WireCap's
    /// losses (every cause but the device's), `ps_ifdrop` the device's
    /// (before-socket). Counters wrap at 2^32, as libpcap's.
    func stats() -> wc_pcap_stat? {
        guard let capture else {
            setError("wirecap: \(device): the handle is not activated")
            return nil
        }
        let t = capture.ledger().reduce(QueueLedger(queue: -1)) { $0.adding($1.total) }
        let received = t.offered &- t.filtered &- t.sampled &- t.beyondCount &- t.beforeSocket
        return wc_pcap_stat(ps_recv: UInt32(truncatingIfNeeded: received),
                            ps_drop: UInt32(truncatingIfNeeded: t.lost &- t.beforeSocket),
                            ps_ifdrop: UInt32(truncatingIfNeeded: t.beforeSocket))
    }

    // MARK: Closing

    /// pcap_close: stops the capture (the XDP program leaves the interface), writes
    /// the final ledger if asked, releases everything and the handle itself.
    func close() {
        // Chunks the program stopped reading in the middle of (-c, a break): what it saw
        // is delivered, the rest a delivery drop, before the capture's final ledger.
        for h in handles { h.releaseChunkInProgress() }
        handles = []
        if let capture {
            capture.close()
            if ledgerFD >= 0 { writeLedger(capture.ledger()) }
        }
        capture = nil
        if ledgerFD >= 0 { Sys.close(ledgerFD) }
        if let dead { RealPcap.close(dead) }
        dead = nil
        let w = words!
        words = nil
        wc_handle_unregister(w)
        Sys.close(eventFD)
        Unmanaged.passUnretained(self).release()
    }

    deinit {
        errorBuffer.deallocate()
        nextHeader.deallocate()
        nextData?.deallocate()
    }

    /// Opens the ledger file while the process may still write anywhere (tcpdump
    /// gives up root after activation).
    private func openLedgerFile() {
        guard let path = preload.ledgerPath else { return }
        ledgerFD = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if ledgerFD < 0 { note("cannot write the ledger to \(path): \(String(cString: strerror(errno)))") }
    }

    private func writeLedger(_ ledgers: [CaptureLedger]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var data = try? encoder.encode(ledgers) else { return }
        data.append(0x0A)
        _ = data.withUnsafeBytes { Glibc.write(ledgerFD, $0.baseAddress, $0.count) }
    }
}

