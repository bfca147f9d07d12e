import Foundation
import Testing
import WireCapTestSupport

/// `make install` / `make uninstall`'s script over the debug build (no root: a
/// DESTDIR). The man pages are the generate-manual plugin's in `make install`;
/// here two pages the test writes stand in for them, since what is checked is
/// where files go and that uninstall takes back exactly what install put there.
@Suite struct InstallTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `argv` with `environment` added. - Returns: status, stdout, stderr.
    static func run(_ argv: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Every file under `root`, relative, sorted.
    static func files(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: root + "/" + $0, isDirectory: &d) && !d.boolValue }
            .sorted()
    }

    @Test("install puts wirecap, the library, completions and man pages under PREFIX; exec finds the installed library; uninstall removes exactly those and the directories it made")
    func installAndUninstall() throws {
        let wirecap = try #require(TestTools.wirecapBinary(), "build the wirecap executable first")
        let bin = URL(fileURLWithPath: wirecap).deletingLastPathComponent().path
        try #require(FileManager.default.fileExists(atPath: bin + "/libwirecap-pcap.so"), "build libwirecap-pcap.so first")
        let base = NSTemporaryDirectory() + "wirecap-install-\(LiveTestbeds.uniqueName(prefix: "i"))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let destdir = base + "/root", man = base + "/man", prefix = "/usr/local", root = destdir + prefix
        try FileManager.default.createDirectory(atPath: man, withIntermediateDirectories: true)
        for page in ["wirecap.1", "wirecap.exec.1"] { try ".Dt \(page)\n".write(toFile: man + "/" + page, atomically: true, encoding: .utf8) }
        // Something already there, which neither install nor uninstall may touch.
        try FileManager.default.createDirectory(atPath: root + "/share/man/man1", withIntermediateDirectories: true)
        try "other\n".write(toFile: root + "/share/man/man1/other.1", atomically: true, encoding: .utf8)

        let script = Self.repository.appendingPathComponent("scripts/install-files").path
        let env = ["WIRECAP_BIN_DIR": bin, "WIRECAP_MAN_DIR": man]
        let (status, out, err) = try Self.run([script, "install", destdir, prefix, "swift"], environment: env)
        #expect(status == 0, "\(err)")
        #expect(out.contains("installed 7 files"), "\(out)")
        let installed = Self.files(root)
        #expect(installed == ["bin/wirecap", "lib/wirecap/install-manifest", "lib/wirecap/libwirecap-pcap.so",
                              "share/bash-completion/completions/wirecap", "share/fish/vendor_completions.d/wirecap.fish",
                              "share/man/man1/other.1", "share/man/man1/wirecap.1", "share/man/man1/wirecap.exec.1",
                              "share/zsh/site-functions/_wirecap"], "\(installed)")
        let zsh = try String(contentsOfFile: root + "/share/zsh/site-functions/_wirecap", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef wirecap"))
        let bash = try String(contentsOfFile: root + "/share/bash-completion/completions/wirecap", encoding: .utf8)
        #expect(bash.contains("exec"), "the completions know the exec subcommand")
        #expect(FileManager.default.isExecutableFile(atPath: root + "/bin/wirecap"))

        // The installed wirecap preloads the installed library.
        let (s2, env2, e2) = try Self.run([root + "/bin/wirecap", "exec", "--", "/usr/bin/env"])
        #expect(s2 == 0, "\(e2)")
        #expect(env2.contains("LD_PRELOAD=\(root)/lib/wirecap/libwirecap-pcap.so"), "\(env2)")

        let (s3, out3, err3) = try Self.run([script, "uninstall", destdir, prefix, "swift"])
        #expect(s3 == 0, "\(err3)")
        #expect(out3.contains("removed 8 files"), "\(out3)")
        #expect(Self.files(destdir) == ["usr/local/share/man/man1/other.1"], "\(Self.files(destdir))")
        for gone in ["bin", "lib", "share/bash-completion", "share/zsh", "share/fish"] {
            #expect(!FileManager.default.fileExists(atPath: root + "/" + gone), "\(gone) was left behind")
        }
        let (s4, _, err4) = try Self.run([script, "uninstall", destdir, prefix, "swift"])
        #expect(s4 == 1 && err4.split(separator: "\n").count == 1 && err4.contains("nothing to uninstall"), "\(err4)")
    }
}
