#if canImport(Glibc)
import Glibc
#endif
import CWireCapPcap

/// The system libpcap's own entry points, each found once with
/// `dlsym(RTLD_NEXT, name)`: what the library's exported functions call for a
/// handle that is not WireCap's, and for the real handle (`pcap_open_dead`)
/// inside a WireCap handle.
///
/// Every pointer is a lazy global (thread-safe one-time initialisation); the
/// ones a signal handler could need are in C (handle.c).
enum RealPcap {
    typealias Handle = OpaquePointer

    /// The next definition of `name` after this library, or a one-line error and abort.
    static func symbol<T>(_ name: String, as type: T.Type) -> T {
        guard let p = wc_dlsym_next(name) else {
            let line = "wirecap: the system libpcap has no \(name) (is libpcap loaded?)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            abort()
        }
        return unsafeBitCast(p, to: type)
    }

    typealias CharP = UnsafePointer<CChar>?
    typealias MutCharP = UnsafeMutablePointer<CChar>?

    static let create = symbol("pcap_create", as: (@convention(c) (CharP, MutCharP) -> Handle?).self)
    static let openLive = symbol("pcap_open_live", as: (@convention(c) (CharP, Int32, Int32, Int32, MutCharP) -> Handle?).self)
    static let openDead = symbol("pcap_open_dead_with_tstamp_precision",
                                 as: (@convention(c) (Int32, Int32, UInt32) -> Handle?).self)
    static let activate = symbol("pcap_activate", as: (@convention(c) (Handle?) -> Int32).self)
    static let close = symbol("pcap_close", as: (@convention(c) (Handle?) -> Void).self)
    static let geterr = symbol("pcap_geterr", as: (@convention(c) (Handle?) -> MutCharP).self)
    static let perror = symbol("pcap_perror", as: (@convention(c) (Handle?, CharP) -> Void).self)
    typealias IntSetter = @convention(c) (Handle?, Int32) -> Int32
    typealias IntGetter = @convention(c) (Handle?) -> Int32
    static func intSetter(_ name: String) -> IntSetter { symbol(name, as: IntSetter.self) }
    static func intGetter(_ name: String) -> IntGetter { symbol(name, as: IntGetter.self) }
    static let setSnaplen = intSetter("pcap_set_snaplen")
    static let setPromisc = intSetter("pcap_set_promisc")
    static let setTimeout = intSetter("pcap_set_timeout")
    static let setBufferSize = intSetter("pcap_set_buffer_size")
    static let setImmediateMode = intSetter("pcap_set_immediate_mode")
    static let setTstampPrecision = intSetter("pcap_set_tstamp_precision")
    static let setTstampType = intSetter("pcap_set_tstamp_type")
    static let setRfmon = intSetter("pcap_set_rfmon")
    static let setProtocolLinux = intSetter("pcap_set_protocol_linux")
    static let setDatalink = intSetter("pcap_set_datalink")
    static let setDirection = intSetter("pcap_setdirection")
    static let canSetRfmon = intGetter("pcap_can_set_rfmon")
    static let datalink = intGetter("pcap_datalink")
    static let datalinkExt = intGetter("pcap_datalink_ext")
    static let snapshot = intGetter("pcap_snapshot")
    static let fileno = intGetter("pcap_fileno")
    static let selectableFD = intGetter("pcap_get_selectable_fd")
    static let getTstampPrecision = intGetter("pcap_get_tstamp_precision")
    static let isSwapped = intGetter("pcap_is_swapped")
    static let majorVersion = intGetter("pcap_major_version")
    static let minorVersion = intGetter("pcap_minor_version")
    static let bufsize = intGetter("pcap_bufsize")
    static let requiredSelectTimeout = symbol("pcap_get_required_select_timeout",
                                              as: (@convention(c) (Handle?) -> UnsafePointer<timeval>?).self)
    static let file = symbol("pcap_file", as: (@convention(c) (Handle?) -> UnsafeMutablePointer<FILE>?).self)
    static let setnonblock = symbol("pcap_setnonblock", as: (@convention(c) (Handle?, Int32, MutCharP) -> Int32).self)
    static let getnonblock = symbol("pcap_getnonblock", as: (@convention(c) (Handle?, MutCharP) -> Int32).self)
    static let dispatch = symbol("pcap_dispatch", as: (@convention(c) (Handle?, Int32, wc_pcap_handler?, UnsafeMutablePointer<UInt8>?) -> Int32).self)
    static let loop = symbol("pcap_loop", as: (@convention(c) (Handle?, Int32, wc_pcap_handler?, UnsafeMutablePointer<UInt8>?) -> Int32).self)
    static let next = symbol("pcap_next", as: (@convention(c) (Handle?, UnsafeMutablePointer<wc_pcap_pkthdr>?) -> UnsafePointer<UInt8>?).self)
    static let nextEx = symbol("pcap_next_ex", as: (@convention(c) (Handle?, UnsafeMutablePointer<UnsafeMutablePointer<wc_pcap_pkthdr>?>?,
                                                                     UnsafeMutablePointer<UnsafePointer<UInt8>?>?) -> Int32).self)
    static let stats = symbol("pcap_stats", as: (@convention(c) (Handle?, UnsafeMutablePointer<wc_pcap_stat>?) -> Int32).self)
    static let setfilter = symbol("pcap_setfilter", as: (@convention(c) (Handle?, UnsafeMutablePointer<wc_bpf_program>?) -> Int32).self)
    static let compile = symbol("pcap_compile", as: (@convention(c) (Handle?, UnsafeMutablePointer<wc_bpf_program>?, CharP, Int32, UInt32) -> Int32).self)
    static let listDatalinks = symbol("pcap_list_datalinks", as: (@convention(c) (Handle?, UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?) -> Int32).self)
    static let listTstampTypes = symbol("pcap_list_tstamp_types", as: (@convention(c) (Handle?, UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?) -> Int32).self)
    static let dumpOpen = symbol("pcap_dump_open", as: (@convention(c) (Handle?, CharP) -> OpaquePointer?).self)
    static let dumpOpenAppend = symbol("pcap_dump_open_append", as: (@convention(c) (Handle?, CharP) -> OpaquePointer?).self)
    static let dumpFopen = symbol("pcap_dump_fopen", as: (@convention(c) (Handle?, UnsafeMutablePointer<FILE>?) -> OpaquePointer?).self)
    static let inject = symbol("pcap_inject", as: (@convention(c) (Handle?, UnsafeRawPointer?, Int) -> Int32).self)
    static let sendpacket = symbol("pcap_sendpacket", as: (@convention(c) (Handle?, UnsafePointer<UInt8>?, Int32) -> Int32).self)
    static let setsampling = symbol("pcap_setsampling", as: (@convention(c) (Handle?) -> UnsafeMutableRawPointer?).self)
    /// libpcap's classic BPF interpreter (never interposed).
}
