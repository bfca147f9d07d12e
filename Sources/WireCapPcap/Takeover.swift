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

    /// Why WireCap does not capture `device` (nil: it does). Devices it cannot
    /// take: the `any` pseudo-device, names that are no network interface (USB,
    /// Bluetooth, nflog… go to libpcap, which knows them), loopback, interfaces
    /// whose link type is not Ethernet (WireCap's packets are Ethernet frames), and
    /// every interface when the kernel has no AF_XDP sockets.
    static func refusal(_ device: String?) -> String? {
        guard let device, device != "any" else { return "the 'any' pseudo-device" }
        guard InterfaceInfo.exists(device) else { return "no network interface of that name" }
        let flags = Sys.readSmallFile("/sys/class/net/\(device)/flags").flatMap { UInt32(trimmed($0).dropFirst(2), radix: 16) } ?? 0
        if flags & UInt32(IFF_LOOPBACK) != 0 { return "loopback" }
        if let type = Sys.readSmallFile("/sys/class/net/\(device)/type").flatMap({ Int(trimmed($0)) }), type != 1 {
            return "link type ARPHRD \(type), not Ethernet"
        }
        let s = socket(44 /* AF_XDP */, Int32(SOCK_RAW.rawValue), 0)
        if s < 0 && errno == EAFNOSUPPORT { return "the kernel has no AF_XDP sockets" }
        if s >= 0 { Glibc.close(s) }
        return nil
    }

    private static func trimmed(_ s: String) -> Substring {
        var t = Substring(s)
        while let last = t.last, last.isWhitespace { t.removeLast() }
        return t
    }
}
