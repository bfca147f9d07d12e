import WireCapEngine
import WireCapSystem

/// The flow-bypass section of the engine's XDP program (issue 17; ``FlowBypassMap``).
///
/// It runs on a captured queue (a socket at `XSKMAP[q]`), after the timestamp and
/// before a kernel filter: it builds the packet's ``BypassKey`` on the stack
/// (fp−176 … fp−137, zeroed first) and looks it up. On a live entry the packet is
/// counted for its flow (atomic adds: several CPUs may hit one flow) and its queue
/// (`COUNTS[2E + q]` packets, `COUNTS[3E + q]` bytes, per-CPU, E the XSKMAP's
/// slots) and leaves with the table's action; it never reaches the socket. Any
/// other packet (no key, no entry, an entry past its deadline or idle time) goes
/// on to the filter and the steering with r1 = ctx.
///
/// ```
///   zero key; r2 = data, r3 = data_end
///   Ethernet (14 B), up to two 802.1Q/802.1ad/0x9100 tags: the outer vid → key.vlan
///   IPv4: version 4, IHL ≥ 5, not a fragment → proto, addresses; l4 = ip + IHL·4
///   IPv6: version 6, next header not 0/43/44/51/60 → proto, addresses; l4 = ip + 40
///   TCP/UDP/SCTP with 4 bytes of header: the ports; a TCP FIN or RST → out
///   e = lookup(BYPASS, key); none → out
///   now = bpf_ktime_get_ns; now ≥ e.deadline → out; (s64)(now − e.lastSeen) > e.idle → out
///   e.lastSeen = now; lock e.packets += 1; lock e.bytes += len; COUNTS += 1, len
///   return drop | pass
///   out: r1 = ctx
/// ```
extension XSKRedirectProgram {
    /// The key's place on the stack.
    static let bypassKeySlot: Int16 = -176

    /// Emits the section (see the extension's documentation). Registers r0–r8 are
    /// scratch; r9 is the context throughout. Without `countsFD` (the test program)
    /// no queue counter is kept.
    static func emitBypass(into a: inout EBPFAssembler, mapFD: Int32, action: FlowBypassSettings.Action,
                           countsFD: Int32?, entries: Int) {
        let K = bypassKeySlot
        let out = a.label(), l3 = a.label(), v4 = a.label()
        let ports = a.label(), withPorts = a.label(), lookup = a.label(), act = a.label()
        func jeq(_ r: UInt8, _ k: Int32, _ l: EBPFAssembler.Label) { a.jump(EBPF.classJMP | EBPF.jmpJEQ | EBPF.sourceK, dst: r, imm: k, to: l) }
        func jne(_ r: UInt8, _ k: Int32, _ l: EBPFAssembler.Label) { a.jump(EBPF.classJMP | EBPF.jmpJNE | EBPF.sourceK, dst: r, imm: k, to: l) }
        // `if r + n > data_end goto l` with r a packet pointer (r4 scratch).
        func need(_ r: UInt8, _ n: Int32, else l: EBPFAssembler.Label) {
            a.emit(EBPF.mov64X, dst: 4, src: r)
            a.emit(EBPF.add64K, dst: 4, imm: n)
            a.jump(EBPF.classJMP | EBPF.jmpJGT | EBPF.sourceX, dst: 4, src: 3, to: l)
        }
        // Ethertypes as a 16-bit load of wire bytes reads them (little-endian).
        func wire16(_ v: UInt16) -> Int32 { Int32(v.byteSwapped) }
        func isTag(_ r: UInt8, _ l: EBPFAssembler.Label) {
            for t: UInt16 in [0x8100, 0x88A8, 0x9100] { jeq(r, wire16(t), l) }
        }
        func copy(_ size: UInt8, from off: Int16, toKey at: Int) {
            a.emit(EBPF.load(size), dst: 4, src: 1, off: off)
            a.emit(EBPF.store(size), dst: 10, src: 4, off: K + Int16(at))
        }
        for i in 0..<5 { a.emit(EBPF.storeImmediate(EBPF.sizeDW), dst: 10, off: K + Int16(8 * i), imm: 0) }
        a.emit(EBPF.load(EBPF.sizeW), dst: 2, src: 9, off: EBPF.mdData)
        a.emit(EBPF.load(EBPF.sizeW), dst: 3, src: 9, off: EBPF.mdDataEnd)
        // Ethernet and up to two tags: after n tags the EtherType is at 12 + 4n and the
        // network header at 14 + 4n; the outer tag's vid (at 14) goes into the key.
        for n in 0...2 {
            let header = Int16(14 + 4 * n)
            need(2, Int32(header), else: out)
            if n == 1 {
                a.emit(EBPF.load(EBPF.sizeH), dst: 0, src: 2, off: 14)
                a.emit(EBPF.and64K, dst: 0, imm: wire16(0x0FFF))
                a.emit(EBPF.store(EBPF.sizeH), dst: 10, src: 0, off: K + Int16(BypassKey.vlanOffset))
            }
            a.emit(EBPF.load(EBPF.sizeH), dst: 5, src: 2, off: header - 2)
            a.emit(EBPF.mov64X, dst: 1, src: 2)
            a.emit(EBPF.add64K, dst: 1, imm: Int32(header))
            if n == 2 { isTag(5, out); break }   // a third tag: not a key the table can hold
            let tagged = a.label()
            isTag(5, tagged)
            a.jump(to: l3)
            a.bind(tagged)
        }
        a.bind(l3)
        jeq(5, wire16(0x0800), v4)
        jne(5, wire16(0x86DD), out)
        // IPv6
        need(1, 40, else: out)
        a.emit(EBPF.load(EBPF.sizeB), dst: 0, src: 1, off: 0)
        a.emit(EBPF.rsh64K, dst: 0, imm: 4)
        jne(0, 6, out)
        a.emit(EBPF.load(EBPF.sizeB), dst: 8, src: 1, off: 6)
        a.emit(EBPF.store(EBPF.sizeB), dst: 10, src: 8, off: K + Int16(BypassKey.protoOffset))
        for i in 0..<4 {
            copy(EBPF.sizeW, from: Int16(8 + 4 * i), toKey: BypassKey.sourceOffset + 4 * i)
            copy(EBPF.sizeW, from: Int16(24 + 4 * i), toKey: BypassKey.destinationOffset + 4 * i)
        }
        a.emit(EBPF.storeImmediate(EBPF.sizeB), dst: 10, off: K + Int16(BypassKey.versionOffset), imm: 6)
        a.emit(EBPF.add64K, dst: 1, imm: 40)
        for header: Int32 in [0, 43, 44, 51, 60] { jeq(8, header, out) }   // extension headers: not followed
        a.jump(to: ports)
        // IPv4
        a.bind(v4)
        need(1, 20, else: out)
        a.emit(EBPF.load(EBPF.sizeB), dst: 0, src: 1, off: 0)
        a.emit(EBPF.mov64X, dst: 4, src: 0)
        a.emit(EBPF.rsh64K, dst: 4, imm: 4)
        jne(4, 4, out)
        a.emit(EBPF.and64K, dst: 0, imm: 15)
        a.emit(EBPF.lsh64K, dst: 0, imm: 2)
        a.jump(EBPF.classJMP | EBPF.jmpJLT | EBPF.sourceK, dst: 0, imm: 20, to: out)
        a.emit(EBPF.load(EBPF.sizeH), dst: 4, src: 1, off: 6)
        a.emit(EBPF.and64K, dst: 4, imm: wire16(0x3FFF))   // MF or a fragment offset: a fragment
        jne(4, 0, out)
        a.emit(EBPF.load(EBPF.sizeB), dst: 8, src: 1, off: 9)
        a.emit(EBPF.store(EBPF.sizeB), dst: 10, src: 8, off: K + Int16(BypassKey.protoOffset))
        copy(EBPF.sizeW, from: 12, toKey: BypassKey.sourceOffset)
        copy(EBPF.sizeW, from: 16, toKey: BypassKey.destinationOffset)
        a.emit(EBPF.storeImmediate(EBPF.sizeB), dst: 10, off: K + Int16(BypassKey.versionOffset), imm: 4)
        a.emit(EBPF.add64X, dst: 1, src: 0)   // l4: IHL·4 ∈ [20, 60], as the verifier knows from the and/shift/check
        // Ports (TCP, UDP, SCTP), when their 4 bytes are there.
        a.bind(ports)
        jeq(8, 6, withPorts)
        jeq(8, 17, withPorts)
        jne(8, 132, lookup)
        a.bind(withPorts)
        need(1, 4, else: lookup)
        copy(EBPF.sizeW, from: 0, toKey: BypassKey.portsOffset)
        // TCP FIN or RST: never bypassed, so the application sees every connection end.
        jne(8, 6, lookup)
        need(1, 14, else: lookup)
        a.emit(EBPF.load(EBPF.sizeB), dst: 4, src: 1, off: 13)
        a.emit(EBPF.and64K, dst: 4, imm: 0x05)
        jne(4, 0, out)
        // The entry, and whether it is live.
        a.bind(lookup)
        a.emit(EBPF.mov64X, dst: 2, src: 10)
        a.emit(EBPF.add64K, dst: 2, imm: Int32(K))
        a.loadMap(1, fd: mapFD)
        a.emit(EBPF.call, imm: EBPF.helperMapLookup)
        jeq(0, 0, out)
        a.emit(EBPF.mov64X, dst: 7, src: 0)
        a.emit(EBPF.call, imm: EBPF.helperKtimeGetNs)
        a.emit(EBPF.load(EBPF.sizeDW), dst: 1, src: 7, off: FlowBypassMap.Entry.deadlineOffset)
        a.jump(EBPF.classJMP | EBPF.jmpJGE | EBPF.sourceX, dst: 0, src: 1, to: out)
        a.emit(EBPF.mov64X, dst: 2, src: 0)
        a.emit(EBPF.load(EBPF.sizeDW), dst: 1, src: 7, off: FlowBypassMap.Entry.lastSeenOffset)
        a.emit(EBPF.sub64X, dst: 2, src: 1)
        a.emit(EBPF.load(EBPF.sizeDW), dst: 1, src: 7, off: FlowBypassMap.Entry.idleOffset)
        a.jump(EBPF.classJMP | EBPF.jmpJSGT | EBPF.sourceX, dst: 2, src: 1, to: out)
        // Bypassed: count it for the flow and the queue.
        a.emit(EBPF.store(EBPF.sizeDW), dst: 7, src: 0, off: FlowBypassMap.Entry.lastSeenOffset)
        a.emit(EBPF.mov64K, dst: 1, imm: 1)
        a.emit(EBPF.atomicAdd64, dst: 7, src: 1, off: FlowBypassMap.Entry.packetsOffset)
        a.emit(EBPF.mov64X, dst: 1, src: 9)
        a.emit(EBPF.call, imm: EBPF.helperXDPGetBuffLen)
        a.emit(EBPF.mov64X, dst: 8, src: 0)
        a.emit(EBPF.atomicAdd64, dst: 7, src: 8, off: FlowBypassMap.Entry.bytesOffset)
        if let countsFD {
            // This CPU's copies of COUNTS[2E + q] (packets) and COUNTS[3E + q] (bytes).
            for (section, by) in [(ProgramCounters.Section.bypassedPackets, UInt8(0)), (.bypassedBytes, UInt8(8))] {
                a.emit(EBPF.load(EBPF.sizeW), dst: 6, src: 9, off: EBPF.mdRxQueueIndex)
                a.emit(EBPF.add64K, dst: 6, imm: Int32(section.rawValue) * Int32(entries))
                a.emit(EBPF.store(EBPF.sizeW), dst: 10, src: 6, off: -8)
                a.emit(EBPF.mov64X, dst: 2, src: 10)
                a.emit(EBPF.add64K, dst: 2, imm: -8)
                a.loadMap(1, fd: countsFD)
                a.emit(EBPF.call, imm: EBPF.helperMapLookup)
                jeq(0, 0, act)
                a.emit(EBPF.load(EBPF.sizeDW), dst: 1, src: 0, off: 0)
                if by == 0 { a.emit(EBPF.add64K, dst: 1, imm: 1) } else { a.emit(EBPF.add64X, dst: 1, src: by) }
                a.emit(EBPF.store(EBPF.sizeDW), dst: 0, src: 1, off: 0)
            }
        }
        a.bind(act)
        a.emit(EBPF.mov64K, dst: 0, imm: action == .drop ? EBPF.xdpDrop : EBPF.xdpPass)
        a.emit(EBPF.exit)
        a.bind(out)
        a.emit(EBPF.mov64X, dst: 1, src: 9)
    }

    /// The bypass section alone as an XDP program (a bypassed packet gets the
    /// table's action, any other `XDP_TX`, so a test tells them apart whatever the
    /// action): what its tests run through `BPF_PROG_TEST_RUN`.
    package static func bypassTestInstructions(_ map: FlowBypassMap) throws(XDPError) -> [UInt64] {
        var a = EBPFAssembler()
        a.emit(EBPF.mov64X, dst: 9, src: 1)
        emitBypass(into: &a, mapFD: map.fd, action: map.settings.action, countsFD: nil, entries: 1)
        a.emit(EBPF.mov64K, dst: 0, imm: EBPF.xdpTX)
        a.emit(EBPF.exit)
        do { return try a.finish() } catch { throw XDPError("XDP program", kind: .usage, message: error.description) }
    }
}
