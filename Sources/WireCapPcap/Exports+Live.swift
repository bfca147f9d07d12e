#if canImport(Glibc)
import Glibc
#endif
import CWireCapPcap
import WireCap
import WireCapSystem

// libpcap's live-capture calls, exported under libpcap's names. Each looks the
// `pcap_t *` up first: a WireCap handle is answered here, any other handle goes
// to the system libpcap unchanged (RealPcap). pcap_breakloop is in C (handle.c):
// it runs in signal handlers.

/// pcap_create: a WireCap handle for an interface WireCap captures, else the
/// system libpcap's handle (with one line on stderr saying why).
@_cdecl("pcap_create")
public func wirecap_pcap_create(_ source: UnsafePointer<CChar>?, _ errbuf: UnsafeMutablePointer<CChar>?) -> OpaquePointer? {
    let device = source.map { String(cString: $0) }
    let preload: PreloadSettings
    switch Takeover.settings {
    case .success(let s): preload = s
    case .failure(let e):
        PcapHandle.copy("wirecap: \(e.message)", into: errbuf)
        return nil
    }
    if let reason = Takeover.refusal(device) {
        if reason != "no network interface of that name" {
            Takeover.note("\(device ?? "any"): not captured through WireCap (\(reason)): the system's libpcap captures it")
        }
        return RealPcap.create(source, errbuf)
    }
    return PcapHandle.make(device: device!, preload: preload, errbuf: errbuf)
}

/// pcap_open_live: create, set, activate, as libpcap does it.
@_cdecl("pcap_open_live")
public func wirecap_pcap_open_live(_ source: UnsafePointer<CChar>?, _ snaplen: Int32, _ promisc: Int32, _ timeout: Int32,
                                   _ errbuf: UnsafeMutablePointer<CChar>?) -> OpaquePointer? {
    guard let p = wirecap_pcap_create(source, errbuf) else { return nil }
    guard let h = PcapHandle.lookup(p) else {
        // The system libpcap's handle: let it do the whole open.
        RealPcap.close(p)
        return RealPcap.openLive(source, snaplen, promisc, timeout, errbuf)
    }
    h.snapLength = snaplen
    h.promiscuous = promisc != 0
    h.timeoutMilliseconds = timeout
    let status = h.activate()
    if status < 0 {
        PcapHandle.copy(String(cString: h.errorBuffer), into: errbuf)
        h.close()
        return nil
    }
    return p
}

@_cdecl("pcap_activate")
public func wirecap_pcap_activate(_ p: OpaquePointer?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.activate(p) }
    return h.activate()
}

/// A pcap_set_* call: before activation it sets the option, after it libpcap's
/// PCAP_ERROR_ACTIVATED.
@inline(__always)
private func beforeActivation(_ p: OpaquePointer?, _ value: Int32, real: (OpaquePointer?, Int32) -> Int32,
                              _ set: (PcapHandle) -> Int32) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return real(p, value) }
    if h.activated { return WC_PCAP_ERROR_ACTIVATED }
    return set(h)
}

@_cdecl("pcap_set_snaplen")
public func wirecap_pcap_set_snaplen(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setSnaplen) { $0.snapLength = v; return 0 }
}

@_cdecl("pcap_set_promisc")
public func wirecap_pcap_set_promisc(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setPromisc) { $0.promiscuous = v != 0; return 0 }
}

@_cdecl("pcap_set_timeout")
public func wirecap_pcap_set_timeout(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setTimeout) { $0.timeoutMilliseconds = max(0, v); return 0 }
}

/// The program's buffer size is not WireCap's: the memory per queue is
/// `wirecap exec --buffer` (or -R); accepted and ignored.
@_cdecl("pcap_set_buffer_size")
public func wirecap_pcap_set_buffer_size(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setBufferSize) { _ in 0 }
}

/// Immediate mode: WireCap delivers a partly filled chunk after the partial-chunk
/// timeout (1 ms by default) in any case; accepted.
@_cdecl("pcap_set_immediate_mode")
public func wirecap_pcap_set_immediate_mode(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setImmediateMode) { _ in 0 }
}

@_cdecl("pcap_set_tstamp_precision")
public func wirecap_pcap_set_tstamp_precision(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setTstampPrecision) { h in
        switch v {
        case WC_PCAP_TSTAMP_PRECISION_MICRO: h.nanoseconds = false; return 0
        case WC_PCAP_TSTAMP_PRECISION_NANO: h.nanoseconds = true; return 0
        default: return WC_PCAP_ERROR_TSTAMP_PRECISION_NOTSUP
        }
    }
}

/// Time stamps are the kernel's, taken as each packet arrives (host time):
/// PCAP_TSTAMP_HOST is accepted, any other type gets libpcap's warning.
@_cdecl("pcap_set_tstamp_type")
public func wirecap_pcap_set_tstamp_type(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setTstampType) { _ in v == WC_PCAP_TSTAMP_HOST ? 0 : WC_PCAP_WARNING_TSTAMP_TYPE_NOTSUP }
}

@_cdecl("pcap_set_rfmon")
public func wirecap_pcap_set_rfmon(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setRfmon) { _ in v == 0 ? 0 : WC_PCAP_ERROR_RFMON_NOTSUP }
}

@_cdecl("pcap_can_set_rfmon")
public func wirecap_pcap_can_set_rfmon(_ p: OpaquePointer?) -> Int32 {
    guard PcapHandle.lookup(p) != nil else { return RealPcap.canSetRfmon(p) }
    return 0
}

/// The protocol of the packet socket: WireCap takes every frame; accepted.
@_cdecl("pcap_set_protocol_linux")
public func wirecap_pcap_set_protocol_linux(_ p: OpaquePointer?, _ v: Int32) -> Int32 {
    beforeActivation(p, v, real: RealPcap.setProtocolLinux) { _ in 0 }
}

@_cdecl("pcap_setnonblock")
public func wirecap_pcap_setnonblock(_ p: OpaquePointer?, _ on: Int32, _ errbuf: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.setnonblock(p, on, errbuf) }
    h.setNonBlocking(on != 0)
    return 0
}

@_cdecl("pcap_getnonblock")
public func wirecap_pcap_getnonblock(_ p: OpaquePointer?, _ errbuf: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.getnonblock(p, errbuf) }
    return h.nonBlocking ? 1 : 0
}

@_cdecl("pcap_dispatch")
public func wirecap_pcap_dispatch(_ p: OpaquePointer?, _ count: Int32, _ callback: wc_pcap_handler?,
                                  _ user: UnsafeMutablePointer<UInt8>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.dispatch(p, count, callback, user) }
    guard let callback else { h.setError("wirecap: pcap_dispatch without a callback"); return WC_PCAP_ERROR }
    return h.deliver(limit: Int(count), block: !h.nonBlocking, callback, user)
}

@_cdecl("pcap_loop")
public func wirecap_pcap_loop(_ p: OpaquePointer?, _ count: Int32, _ callback: wc_pcap_handler?,
                              _ user: UnsafeMutablePointer<UInt8>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.loop(p, count, callback, user) }
    guard let callback else { h.setError("wirecap: pcap_loop without a callback"); return WC_PCAP_ERROR }
    return h.loop(count: Int(count), callback, user)
}

@_cdecl("pcap_next_ex")
public func wirecap_pcap_next_ex(_ p: OpaquePointer?, _ header: UnsafeMutablePointer<UnsafeMutablePointer<wc_pcap_pkthdr>?>?,
                                 _ data: UnsafeMutablePointer<UnsafePointer<UInt8>?>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.nextEx(p, header, data) }
    return h.next(header, data)
}

@_cdecl("pcap_next")
public func wirecap_pcap_next(_ p: OpaquePointer?, _ header: UnsafeMutablePointer<wc_pcap_pkthdr>?) -> UnsafePointer<UInt8>? {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.next(p, header) }
    var hp: UnsafeMutablePointer<wc_pcap_pkthdr>?
    var data: UnsafePointer<UInt8>?
    guard h.next(&hp, &data) == 1, let hp else { return nil }
    header?.pointee = hp.pointee
    return data
}

@_cdecl("pcap_get_selectable_fd")
public func wirecap_pcap_get_selectable_fd(_ p: OpaquePointer?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.selectableFD(p) }
    return h.activated ? h.eventFD : -1
}

@_cdecl("pcap_fileno")
public func wirecap_pcap_fileno(_ p: OpaquePointer?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.fileno(p) }
    return h.activated ? h.eventFD : -1
}

/// No timeout is required: the selectable fd becomes readable when packets wait.
@_cdecl("pcap_get_required_select_timeout")
public func wirecap_pcap_get_required_select_timeout(_ p: OpaquePointer?) -> UnsafePointer<timeval>? {
    guard PcapHandle.lookup(p) != nil else { return RealPcap.requiredSelectTimeout(p) }
    return nil
}

@_cdecl("pcap_stats")
public func wirecap_pcap_stats(_ p: OpaquePointer?, _ ps: UnsafeMutablePointer<wc_pcap_stat>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.stats(p, ps) }
    guard let s = h.stats() else { return WC_PCAP_ERROR }
    ps?.pointee = s
    return 0
}

/// pcap_setfilter: the program, copied, runs on every packet in user space
/// (libpcap's `bpf_filter`); rejected packets are the ledger's `filtered`.
@_cdecl("pcap_setfilter")
public func wirecap_pcap_setfilter(_ p: OpaquePointer?, _ program: UnsafeMutablePointer<wc_bpf_program>?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.setfilter(p, program) }
    h.filter.install(program)
    return 0
}

@_cdecl("pcap_close")
public func wirecap_pcap_close(_ p: OpaquePointer?) {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.close(p) }
    h.close()
}

@_cdecl("pcap_geterr")
public func wirecap_pcap_geterr(_ p: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.geterr(p) }
    return h.errorBuffer
}

@_cdecl("pcap_perror")
public func wirecap_pcap_perror(_ p: OpaquePointer?, _ prefix: UnsafePointer<CChar>?) {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.perror(p, prefix) }
    let text = (prefix.map { String(cString: $0) + ": " } ?? "") + String(cString: h.errorBuffer) + "\n"
    Sys.printError(text)
}
