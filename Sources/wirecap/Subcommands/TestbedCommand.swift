import ArgumentParser
import Foundation
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap testbed up|down`: a veth pair with a generator namespace.
struct TestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Create or remove a multi-queue veth testbed (generator side in its own network namespace).",
        subcommands: [Up.self, Down.self])

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create netns NAME and a veth pair with Q queues; print both interface names.")

        @Option(help: "Testbed (and network namespace) name.")
        var name: String

        @Option(help: "Rx/tx queues on each side.")
        var queues = 2

        @Flag(help: "Print the names as JSON.")
        var json = false

        func run() throws {
            let bed: Testbed
            do { bed = try Testbed.up(name: name, queues: queues) } catch { CLI.fail(error) }
            do {
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(bed), as: UTF8.self))
                } else {
                    print("capture interface:   \(bed.captureInterface) (this namespace, \(bed.queues) rx queues)")
                    print("generator interface: \(bed.generatorInterface) (netns \(bed.name))")
                }
            }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove testbed NAME (its veth pair and netns).")

        @Option(help: "Testbed name.")
        var name: String

        func run() throws {
            do { try Testbed.validate(name: name) } catch { CLI.fail(error) }
            do { try Privileges.require() } catch { CLI.fail(error) }
            if !Testbed.down(name: name) {
                CLI.note("testbed \(name): nothing to remove")
            }
        }
    }
}
