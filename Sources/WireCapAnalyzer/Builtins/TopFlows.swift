import WireCap

/// The top N flows by bytes and by packets (5-tuple + VLAN, IPv4 and IPv6).
///
/// Each worker counts into its own ``FlowTable``; the merge adds tables, so a
/// flow split between workers by an offload is counted exactly.
public struct TopFlows: Analyzer {
    public var name: String { "top-flows" }
    /// Flows shown per ranking.
    public let limit: Int
    /// Flows each worker's table holds.
    public let capacity: Int

    public init(limit: Int = 10, capacity: Int = 65_536) {
        self.limit = limit
        self.capacity = capacity
    }

    /// One worker's flows.
    public struct State: AnalyzerState {
        /// The flows.
        public let table: FlowTable
        /// Packets without an IP 5-tuple.
        public var nonIP: UInt64 = 0
        /// Non-first IP fragments, and those whose first fragment was not seen.
        public var fragments: UInt64 = 0, unattributedFragments: UInt64 = 0
        /// The ports of fragmented datagrams (later fragments join their datagram's flow).
        @usableFromInline var fragmentPorts = FragmentPorts()

        @inlinable
        public mutating func process(packet: Packet) {
            guard let (parsed, fragment) = FlowKey.parseWithFragment(packet.bytes, linkType: packet.linkType) else {
                nonIP &+= 1
                return
            }
            var key = parsed
            if let fragment { attribute(&key, fragment) }
            table.add(key, bytes: packet.wireLength)
        }

        @usableFromInline
        mutating func attribute(_ key: inout FlowKey, _ fragment: FlowKey.Fragment) {
            fragmentPorts.attribute(&key, fragment)
            if !fragment.isFirst { fragments &+= 1 }
            if key.unattributedFragments != 0 { unattributedFragments &+= 1 }
        }

        public mutating func merge(_ o: State) {
            table.merge(o.table)
            nonIP &+= o.nonIP
            fragments &+= o.fragments
            unattributedFragments &+= o.unattributedFragments
        }
    }

    public func makeState(worker: Int) -> State { State(table: FlowTable(capacity: capacity)) }

    public func report(_ s: State) -> AnalysisReport {
        var flows: [(FlowKey, FlowCounts)] = []
        s.table.forEach { flows.append(($0, $1)) }
        let byBytes = flows.sorted { $0.1.bytes != $1.1.bytes ? $0.1.bytes > $1.1.bytes : $0.0.hash64 < $1.0.hash64 }.prefix(limit)
        let byPackets = flows.sorted { $0.1.packets != $1.1.packets ? $0.1.packets > $1.1.packets : $0.0.hash64 < $1.0.hash64 }.prefix(limit)
        var lines = ["\(flows.count) flows (\(s.table.overflow.packets) packets in flows beyond the table, \(s.nonIP) non-IP packets, \(s.fragments) later IP fragments of which \(s.unattributedFragments) without their first)"]
        lines.append("top \(limit) by bytes:")
        lines += byBytes.map { "  \($0.1.bytes) B  \($0.1.packets) pkts  \($0.0)" }
        lines.append("top \(limit) by packets:")
        lines += byPackets.map { "  \($0.1.packets) pkts  \($0.1.bytes) B  \($0.0)" }
        return AnalysisReport(
            name: name, lines: lines,
            values: ["flows": UInt64(flows.count), "overflow_packets": s.table.overflow.packets, "non_ip": s.nonIP,
                     "fragments": s.fragments, "unattributed_fragments": s.unattributedFragments],
            rows: byBytes.map { ["bytes", "\($0.0)", "\($0.1.packets)", "\($0.1.bytes)"] }
                + byPackets.map { ["packets", "\($0.0)", "\($0.1.packets)", "\($0.1.bytes)"] })
    }
}

/// Several built-in analyzers in one pass (static dispatch, one state per worker).
public struct BuiltinAnalyzers: Analyzer {
    public var name: String { "builtins" }
    public var counters: TrafficCounters?
    public var ipv4: IPv4Counter?
    public var topFlows: TopFlows?
    public var load: PacketHandlerLoad?
    /// What the analysis asks of flow offload (`wirecap analyze --strict-affinity`: strict).
    public var flowAffinity: FlowAffinity

    public init(counters: TrafficCounters? = TrafficCounters(), ipv4: IPv4Counter? = nil, topFlows: TopFlows? = nil,
                load: PacketHandlerLoad? = nil, flowAffinity: FlowAffinity = .preferred) {
        self.counters = counters
        self.ipv4 = ipv4
        self.topFlows = topFlows
        self.load = load
        self.flowAffinity = flowAffinity
    }

    /// One worker's states.
    public struct State: AnalyzerState {
        public var counters: TrafficCounters.State?
        public var ipv4: IPv4Counter.State?
        public var topFlows: TopFlows.State?
        public var load: PacketHandlerLoad.State?

        @inlinable
        public mutating func process(packet: Packet) {
            if counters != nil { counters!.process(packet: packet) }
            if ipv4 != nil { ipv4!.process(packet: packet) }
            if topFlows != nil { topFlows!.process(packet: packet) }
            if load != nil { load!.process(packet: packet) }
        }

        public mutating func merge(_ o: State) {
            if let c = o.counters { counters?.merge(c) }
            if let c = o.ipv4 { ipv4?.merge(c) }
            if let c = o.topFlows { topFlows?.merge(c) }
            if let c = o.load { load?.merge(c) }
        }
    }

    public func makeState(worker: Int) -> State {
        State(counters: counters?.makeState(worker: worker), ipv4: ipv4?.makeState(worker: worker),
              topFlows: topFlows?.makeState(worker: worker), load: load?.makeState(worker: worker))
    }

    public func report(_ s: State) -> AnalysisReport {
        var parts: [AnalysisReport] = []
        if let a = counters, let st = s.counters { parts.append(a.report(st)) }
        if let a = ipv4, let st = s.ipv4 { parts.append(a.report(st)) }
        if let a = topFlows, let st = s.topFlows { parts.append(a.report(st)) }
        if let a = load, let st = s.load { parts.append(a.report(st)) }
        return Self.combine(parts)
    }

    /// The individual reports, in order.
    public func reports(_ s: State) -> [AnalysisReport] {
        var parts: [AnalysisReport] = []
        if let a = counters, let st = s.counters { parts.append(a.report(st)) }
        if let a = ipv4, let st = s.ipv4 { parts.append(a.report(st)) }
        if let a = topFlows, let st = s.topFlows { parts.append(a.report(st)) }
        if let a = load, let st = s.load { parts.append(a.report(st)) }
        return parts
    }

    static func combine(_ parts: [AnalysisReport]) -> AnalysisReport {
        var values: [String: UInt64] = [:]
        for p in parts { for (k, v) in p.values { values["\(p.name).\(k)"] = v } }
        return AnalysisReport(name: "builtins", lines: parts.flatMap { ["[\($0.name)]"] + $0.lines }, values: values,
                              rows: parts.flatMap(\.rows))
    }
}
