import Foundation
import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP

/// A veth testbed: a network namespace holding the generator side of a veth
/// pair whose capture side stays in the caller's namespace.
///
/// ```
///   root namespace                 netns NAME
///   ┌──────────────┐   veth pair   ┌──────────────┐
///   │ <id>c (cap)  │◀──────────────│ <id>g (gen)  │  AF_XDP TX on queue q
///   └──────────────┘  Q rx/tx qs   └──────────────┘
///        rx queue q receives what gen queue q sent (exact per-queue steering)
/// ```
///
/// **veth quirks** (found on kernel 6.18 and documented here because they decide
/// whether packets reach the XDP program at all):
/// - veth runs a native XDP program only on packets that take its NAPI path;
///   a packet sent by a device with TSO features enabled bypasses NAPI (it is
///   not "GRO eligible") and goes straight to the stack, skipping native XDP.
///   So the generator side gets `ethtool -K <gen> tso off gso off` … and
///   the capture side keeps `gro on`, which makes NAPI always on.
/// - IPv6 is disabled on both ends so the kernel sends nothing of its own
///   (router solicitations, MLD reports) that captures would see.
/// - veth needs both ends up and delivers to rx queue `skb->queue_mapping`, the
///   sender's tx queue, which gives the per-queue steering the tests rely on.
public struct Testbed: Sendable, Codable {
    /// The namespace name.
    public var name: String
    /// The capture-side interface (root namespace).
    public var captureInterface: String
    /// The generator-side interface (inside the namespace).
    public var generatorInterface: String
    /// Queues on each side.
    public var queues: Int

    /// Interface names for a testbed name: ≤ 15 characters (IFNAMSIZ-1), derived
    /// from the name so `down` finds them again.
    public static func interfaceNames(for name: String) -> (capture: String, generator: String) {
        let safe = String(name.filter { $0.isLetter || $0.isNumber }.prefix(12))
        return ("\(safe)c", "\(safe)g")
    }

    /// Validates a testbed name (also the netns name).
    public static func validate(name: String) throws(XDPError) {
        guard !name.isEmpty, name.count <= 32,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
              name.contains(where: { $0.isLetter || $0.isNumber })
        else {
            throw XDPError.usage("testbed name", "testbed name '\(name)' must be 1-32 letters, digits, '-' or '_'")
        }
    }

    /// Creates the namespace and the veth pair and brings both ends up.
    public static func up(name: String, queues: Int) throws(XDPError) -> Testbed {
        try validate(name: name)
        guard (1...64).contains(queues) else {
            throw XDPError.usage("queues", "--queues must be 1...64, got \(queues)")
        }
        try Privileges.require()
        let (cap, gen) = interfaceNames(for: name)
        if FileManager.default.fileExists(atPath: "/var/run/netns/\(name)") {
            throw XDPError("ip netns add \(name)", errno: EEXIST, kind: .busy,
                           message: "testbed \(name) already exists (network namespace /var/run/netns/\(name)): run `wirecap testbed down --name \(name)` first")
        }
        if InterfaceInfo.exists(cap) {
            throw XDPError("ip link add \(cap)", errno: EEXIST, kind: .busy, message: "interface \(cap) already exists")
        }
        let bed = Testbed(name: name, captureInterface: cap, generatorInterface: gen, queues: queues)
        do {
            try run(["ip", "netns", "add", name])
            try run(["ip", "link", "add", cap, "numrxqueues", "\(queues)", "numtxqueues", "\(queues)",
                     "type", "veth", "peer", "name", gen, "numrxqueues", "\(queues)", "numtxqueues", "\(queues)"])
            try run(["ip", "link", "set", gen, "netns", name])
            // No IPv6 on either end: otherwise router solicitations, MLD and DAD packets
            // from the generator side show up in captures as foreign packets.
            _ = try? run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.\(gen).disable_ipv6=1"], quiet: true)
            _ = try? run(["sysctl", "-qw", "net.ipv6.conf.\(cap).disable_ipv6=1"], quiet: true)
            // Generator side: no TSO/GSO, so veth takes its NAPI path (and runs native XDP on the peer).
            _ = try? run(["ip", "netns", "exec", name, "ethtool", "-K", gen, "tso", "off", "gso", "off"], quiet: true)
            try run(["ip", "netns", "exec", name, "ip", "link", "set", gen, "up"])
            _ = try? run(["ethtool", "-K", cap, "gro", "on"], quiet: true)
            try run(["ip", "link", "set", cap, "up"])
            try run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"])
        } catch {
            bed.down()
            throw error
        }
        return bed
    }

    /// Removes the veth pair and the namespace. Never fails: missing parts are skipped.
    public func down() {
        Testbed.down(name: name)
    }

    /// Removes the testbed called `name`, whatever is left of it.
    @discardableResult
    public static func down(name: String) -> Bool {
        let (cap, _) = interfaceNames(for: name)
        var removed = false
        if InterfaceInfo.exists(cap) {
            // Deleting one end deletes the pair.
            removed = (try? run(["ip", "link", "del", cap], quiet: true)) != nil || removed
        }
        if FileManager.default.fileExists(atPath: "/var/run/netns/\(name)") {
            removed = (try? run(["ip", "netns", "del", name], quiet: true)) != nil || removed
        }
        return removed
    }

    /// Runs a command (no shell), failing with its stderr on a non-zero exit.
    @discardableResult
    package static func run(_ argv: [String], quiet: Bool = false) throws(XDPError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw XDPError(argv.joined(separator: " "), kind: .system, message: "cannot run \(argv[0]): \(error)")
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: " \n")
            throw XDPError(argv.joined(separator: " "), kind: .system,
                           message: "`\(argv.joined(separator: " "))` failed: \(text.isEmpty ? "exit \(process.terminationStatus)" : text)")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
