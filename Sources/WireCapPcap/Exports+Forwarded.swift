#if canImport(Glibc)
import Glibc
#endif
import CWireCapPcap
import WireCap

// The rest of libpcap's calls that take a `pcap_t *`. For a WireCap handle they
// are answered from the handle (link type Ethernet, its snap length and
// precision) or passed to the real libpcap handle of the same link type and snap
// length that it keeps (pcap_open_dead): pcap_compile, pcap_dump_open. Calls
// that take no handle (savefiles, device lists, name tables) are not defined
// here at all: the program reaches the system libpcap directly.

@_cdecl("pcap_compile")
public func wirecap_pcap_compile(_ p: OpaquePointer?, _ program: UnsafeMutablePointer<wc_bpf_program>?,
                                 _ expression: UnsafePointer<CChar>?, _ optimize: Int32, _ netmask: UInt32) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.compile(p, program, expression, optimize, netmask) }
    let r = RealPcap.compile(h.realHandle(), program, expression, optimize, netmask)
    if r < 0 { h.takeRealError() }
    return r
}

/// `call` on the real libpcap handle a WireCap handle keeps (its error taken over
/// when it returns nil), or on `p` itself when `p` is not WireCap's.
@inline(__always)
private func onRealHandle<T>(_ p: OpaquePointer?, _ call: (OpaquePointer?) -> T?) -> T? {
    guard let h = PcapHandle.lookup(p) else { return call(p) }
    let result = call(h.realHandle())
    if result == nil { h.takeRealError() }
    return result
}

@_cdecl("pcap_dump_open")
public func wirecap_pcap_dump_open(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> OpaquePointer? {
    onRealHandle(p) { RealPcap.dumpOpen($0, path) }
}

@_cdecl("pcap_dump_open_append")
public func wirecap_pcap_dump_open_append(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> OpaquePointer? {
    onRealHandle(p) { RealPcap.dumpOpenAppend($0, path) }
}

@_cdecl("pcap_dump_fopen")
public func wirecap_pcap_dump_fopen(_ p: OpaquePointer?, _ file: UnsafeMutablePointer<FILE>?) -> OpaquePointer? {
    onRealHandle(p) { RealPcap.dumpFopen($0, file) }
}

/// An activated-only getter: libpcap's PCAP_ERROR_NOT_ACTIVATED before activation.
@inline(__always)
private func activatedValue(_ p: OpaquePointer?, real: (OpaquePointer?) -> Int32, _ value: (PcapHandle) -> Int32) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return real(p) }
    return h.activated ? value(h) : WC_PCAP_ERROR_NOT_ACTIVATED
}

@_cdecl("pcap_datalink")
public func wirecap_pcap_datalink(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.datalink) { _ in Int32(WC_DLT_EN10MB) }
}

@_cdecl("pcap_datalink_ext")
public func wirecap_pcap_datalink_ext(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.datalinkExt) { _ in Int32(WC_DLT_EN10MB) }
}

@_cdecl("pcap_snapshot")
public func wirecap_pcap_snapshot(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.snapshot) { $0.snapLength }
}

@_cdecl("pcap_get_tstamp_precision")
public func wirecap_pcap_get_tstamp_precision(_ p: OpaquePointer?) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.getTstampPrecision(p) }
    return h.nanoseconds ? WC_PCAP_TSTAMP_PRECISION_NANO : WC_PCAP_TSTAMP_PRECISION_MICRO
}

@_cdecl("pcap_is_swapped")
public func wirecap_pcap_is_swapped(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.isSwapped) { _ in 0 }
}

@_cdecl("pcap_major_version")
public func wirecap_pcap_major_version(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.majorVersion) { _ in 2 }
}

@_cdecl("pcap_minor_version")
public func wirecap_pcap_minor_version(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.minorVersion) { _ in 4 }
}

@_cdecl("pcap_bufsize")
public func wirecap_pcap_bufsize(_ p: OpaquePointer?) -> Int32 {
    activatedValue(p, real: RealPcap.bufsize) { $0.snapLength }
}

@_cdecl("pcap_file")
public func wirecap_pcap_file(_ p: OpaquePointer?) -> UnsafeMutablePointer<FILE>? {
    guard PcapHandle.lookup(p) != nil else { return RealPcap.file(p) }
    return nil
}

/// One link type: Ethernet. The array is the caller's, freed with pcap_free_datalinks (free).
@_cdecl("pcap_list_datalinks")
public func wirecap_pcap_list_datalinks(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?) -> Int32 {
    guard PcapHandle.lookup(p) != nil else { return RealPcap.listDatalinks(p, out) }
    return oneValueList(Int32(WC_DLT_EN10MB), out)
}

@_cdecl("pcap_set_datalink")
public func wirecap_pcap_set_datalink(_ p: OpaquePointer?, _ dlt: Int32) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.setDatalink(p, dlt) }
    if dlt == Int32(WC_DLT_EN10MB) { return 0 }
    h.setError("wirecap: \(h.device): only DLT_EN10MB (Ethernet) is captured, not link type \(dlt)")
    return WC_PCAP_ERROR
}

/// One time stamp type: host (the kernel's, as each packet arrives).
@_cdecl("pcap_list_tstamp_types")
public func wirecap_pcap_list_tstamp_types(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?) -> Int32 {
    guard PcapHandle.lookup(p) != nil else { return RealPcap.listTstampTypes(p, out) }
    return oneValueList(Int32(WC_PCAP_TSTAMP_HOST), out)
}

private func oneValueList(_ value: Int32, _ out: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?) -> Int32 {
    guard let raw = malloc(MemoryLayout<Int32>.size) else { return WC_PCAP_ERROR }
    let list = raw.bindMemory(to: Int32.self, capacity: 1)
    list.pointee = value
    out?.pointee = list
    return 1
}

/// WireCap captures what arrives: PCAP_D_IN and PCAP_D_INOUT are that, PCAP_D_OUT is refused.
@_cdecl("pcap_setdirection")
public func wirecap_pcap_setdirection(_ p: OpaquePointer?, _ direction: Int32) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.setDirection(p, direction) }
    if direction == Int32(WC_PCAP_D_IN) || direction == Int32(WC_PCAP_D_INOUT) { return 0 }
    h.setError("wirecap: \(h.device): WireCap captures received packets only (no PCAP_D_OUT)")
    return WC_PCAP_ERROR
}

@_cdecl("pcap_inject")
public func wirecap_pcap_inject(_ p: OpaquePointer?, _ bytes: UnsafeRawPointer?, _ size: Int) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.inject(p, bytes, size) }
    h.setError("wirecap: \(h.device): sending is not supported on a WireCap handle")
    return WC_PCAP_ERROR
}

@_cdecl("pcap_sendpacket")
public func wirecap_pcap_sendpacket(_ p: OpaquePointer?, _ bytes: UnsafePointer<UInt8>?, _ size: Int32) -> Int32 {
    guard let h = PcapHandle.lookup(p) else { return RealPcap.sendpacket(p, bytes, size) }
    h.setError("wirecap: \(h.device): sending is not supported on a WireCap handle")
    return WC_PCAP_ERROR
}

@_cdecl("pcap_setsampling")
public func wirecap_pcap_setsampling(_ p: OpaquePointer?) -> UnsafeMutableRawPointer? {
    guard PcapHandle.lookup(p) != nil else { return RealPcap.setsampling(p) }
    return nil
}
