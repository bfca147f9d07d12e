import Synchronization
import WireCapCore
import WireCapSystem
import WireCapEngine

/// The flow-bypass table of an engine's XDP program (issue 17): a BPF LRU hash map
/// from ``BypassKey`` (one direction of a flow) to an ``Entry``. The program
/// (``XSKRedirectProgram``) looks each captured packet up in it; user space makes,
/// changes and ends entries here.
///
/// Who writes what: user space writes a whole entry when it makes or renews one;
/// the program adds to `packets` and `bytes` with atomic adds (several CPUs may
/// hit one flow) and stores `lastSeen` plainly (any recent CPU's clock is good
/// enough for an idle check of seconds). Counts are per flow and informative: the
/// ledger's exact figures are the per-queue counters in COUNTS.
public final class FlowBypassMap: FlowBypassTable, @unchecked Sendable {
    /// One map value (forty bytes; the program reads and writes these offsets).
    ///
    /// ```
    ///   0 packets   8 bytes   16 lastSeen   24 deadline   32 idle      (u64 each)
    /// ```
    /// `lastSeen` and `deadline` are CLOCK_MONOTONIC ns (`bpf_ktime_get_ns`);
    /// `deadline` = `UInt64.max`: none. The program takes a packet as bypassed only
    /// while `now < deadline` and `now − lastSeen ≤ idle` (signed: another CPU may
    /// have stored a slightly later `lastSeen`).
    package struct Entry {
        package var packets: UInt64 = 0
        package var bytes: UInt64 = 0
        package var lastSeen: UInt64 = 0
        package var deadline: UInt64 = .max
        package var idle: UInt64 = 0
        package init() {}
        static let packetsOffset: Int16 = 0, bytesOffset: Int16 = 8, lastSeenOffset: Int16 = 16
        static let deadlineOffset: Int16 = 24, idleOffset: Int16 = 32
    }

    public let settings: FlowBypassSettings
    /// The map's fd (the program is loaded with it).
    package let fd: Int32
    private let made = Atomic<Int>(0)

    /// Creates the map (``FlowBypassSettings/capacity`` entries).
    public init(settings: FlowBypassSettings) throws(XDPError) {
        try settings.validate()
        self.settings = settings
        fd = try XDPLib.createLRUHashMap(name: "wirecap_bypass", keySize: BypassKey.size,
                                         valueSize: MemoryLayout<Entry>.size, entries: settings.capacity)
    }

    deinit { Sys.close(fd) }

    public var requests: Int { made.load(ordering: .relaxed) }  // Relaxed: a statistic, no data hangs on it.

    public func bypass(_ flow: BypassKey, for duration: Duration?, idle: Duration?) throws(XDPError) {
        if let duration, duration <= .zero { throw XDPError.usage("bypass", "a bypass lasts a positive time, got \(duration)") }
        if let idle, idle <= .zero { throw XDPError.usage("bypass", "a bypass idle time is positive, got \(idle)") }
        let now = Sys.monotonicNanoseconds()
        var fresh = Entry()
        fresh.lastSeen = now
        fresh.deadline = duration.map { now &+ min($0.nanoseconds, UInt64.max - now) } ?? .max
        // Signed in the program: keep it below 2^63.
        fresh.idle = min((idle ?? settings.idleTimeout).nanoseconds, UInt64(Int64.max))
        var made = 0
        do {
            for direction in [flow, flow.reversed] {
                var key = direction
                var value = fresh
                let new = try XDPLib.updateElement(fd, key: &key, value: &value, onlyIfNew: true)
                if !new {
                    // Renewed: new limits, the counts kept (a packet the program counts between
                    // the read and the write is lost to the flow's count, never to the ledger).
                    var old = Entry()
                    if XDPLib.lookupElement(fd, key: &key, value: &old) {
                        value.packets = old.packets
                        value.bytes = old.bytes
                    }
                    _ = try XDPLib.updateElement(fd, key: &key, value: &value)
                }
                made += 1
            }
        } catch {
            // Never half a flow: a direction made before the failure goes again.
            if made == 1 { var key = flow; XDPLib.deleteElement(fd, key: &key) }
            throw error
        }
        self.made.add(1, ordering: .relaxed)
    }

    public func end(_ flow: BypassKey) {
        for direction in [flow, flow.reversed] {
            var key = direction
            XDPLib.deleteElement(fd, key: &key)
        }
    }

    public func flows() -> [BypassedFlow] {
        let now = Sys.monotonicNanoseconds()
        // Each direction once (assigned, never added: a batch walk sees an entry once,
        // but keying by the direction makes that a property of this code too).
        var directions: [BypassKey: Entry] = [:]
        XDPLib.forEachEntry(fd, keySize: BypassKey.size, valueSize: MemoryLayout<Entry>.size) { k, v in
            directions[k.loadUnaligned(as: BypassKey.self)] = v.loadUnaligned(as: Entry.self)
        }
        var merged: [BypassKey: BypassedFlow] = [:]
        for (key, e) in directions {
            let active = now < e.deadline && Int64(bitPattern: now &- e.lastSeen) <= Int64(bitPattern: e.idle)
            let c = key.canonical
            var f = merged[c] ?? BypassedFlow(key: c, packets: 0, bytes: 0, isActive: false)
            f.packets &+= e.packets
            f.bytes &+= e.bytes
            f.isActive = f.isActive || active
            merged[c] = f
        }
        return merged.values.sorted { $0.bytes > $1.bytes }
    }
}
