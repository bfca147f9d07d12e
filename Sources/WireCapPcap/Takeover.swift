#if canImport(Glibc)
import Glibc
#endif
import WireCap
import WireCapSystem

/// Which devices WireCap captures and which it leaves to the system libpcap,
/// and the settings `wirecap exec` handed over.
enum Takeover {
    /// The settings from ``PreloadSettings/variable`` (the API's defaults when it is
    /// not set: the library was preloaded by hand), or the reason they are bad.
    static let settings: Result<PreloadSettings, CaptureError> = {
        guard let raw = getenv(PreloadSettings.variable) else { return .success(PreloadSettings()) }
        do throws(CaptureError) { return .success(try PreloadSettings(decoding: String(cString: raw))) } catch { return .failure(error) }
    }()

    /// Whether the library's notes stay off stderr: the settings say quiet, or
    /// this is dumpcap run by tshark/Wireshark as their capture child (`-Z`),
    /// whose stderr is the parent's message pipe, where a line of ours is garbage.
    static let quiet: Bool = {
        if case .success(let s) = settings, s.quiet { return true }
        if case .success(let s) = settings, s.logPath != nil { return false }
        let comm = Sys.readSmallFile("/proc/self/comm").map { $0.filter { !$0.isWhitespace } }
        guard comm == "dumpcap", let cmdline = Sys.readFile("/proc/self/cmdline") else { return false }
        return cmdline.split(separator: "\0").contains("-Z")
    }()

    /// Where notes go: the settings' log file (appended), else stderr.
    static let noteFD: Int32 = {
        guard case .success(let s) = settings, let path = s.logPath else { return 2 }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        return fd >= 0 ? fd : 2
    }()

    /// One line of the library (`wirecap: …`), unless ``quiet``.
    static func note(_ text: String) {
        guard !quiet else { return }
        let line = "wirecap: \(text)\n"
        _ = line.withCString { write(noteFD, $0, strlen($0)) }
    }

    /// Why WireCap does not capture `device` (nil: it does). Devices it cannot
    /// take: the `any` pseudo-device, names that are no network interface (USB,
    /// Bluetooth, nflog… go to libpcap, which knows them), loopback, interfaces
    /// whose link type is not Ethernet (WireCap's packets are Ethernet frames), and
    /// every interface when the kernel has no AF_XDP sockets.
    static func refusal(_ device: String?) -> String? {
        guard let device, device != "any" else { return "the 'any' pseudo-device" }
        guard InterfaceInfo.exists(device) else { return "no network interface of that name" }
        if (InterfaceInfo.flags(device) ?? 0) & UInt32(IFF_LOOPBACK) != 0 { return "loopback" }
        if let type = InterfaceInfo.linkType(device), type != 1 {
            return "link type ARPHRD \(type), not Ethernet"
        }
        let s = socket(44 /* AF_XDP */, Int32(SOCK_RAW.rawValue), 0)
        if s < 0 && errno == EAFNOSUPPORT { return "the kernel has no AF_XDP sockets" }
        if s >= 0 { Glibc.close(s) }
        return nil
    }
}
