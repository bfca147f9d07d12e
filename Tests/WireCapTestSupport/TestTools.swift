import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Finds the binaries the tests run and talks to the servers they start; one copy
/// for every test target.
public enum TestTools {
    /// The `wirecap` executable next to the test runner, else the newest `.build*/{debug,release}/wirecap`.
    public static func wirecapBinary() -> String? {
        let fm = FileManager.default
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let candidate = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("wirecap").path
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var best: (String, Date)?
        for entry in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where entry.hasPrefix(".build") {
            for config in ["debug", "release"] {
                let path = root.appendingPathComponent(entry).appendingPathComponent(config).appendingPathComponent("wirecap").path
                if fm.isExecutableFile(atPath: path),
                   let date = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                   best == nil || date > best!.1 {
                    best = (path, date)
                }
            }
        }
        return best?.0
    }

    /// Sends `request` to 127.0.0.1:`port` over a plain socket and reads the response
    /// until the server closes (nil when nothing listens).
    public static func httpRequest(port: UInt16, _ request: String) -> String? {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return nil }
        defer { close(s) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { return nil }
        let req = Array(request.utf8)
        _ = req.withUnsafeBytes { send(s, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(s, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `GET path` from 127.0.0.1:`port`, closing after the response.
    public static func httpGet(port: UInt16, path: String) -> String? {
        TestTools.httpRequest(port: port, "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    }
}
