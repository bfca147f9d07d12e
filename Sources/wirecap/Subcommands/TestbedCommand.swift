import ArgumentParser

// Placeholder until the owning change lands; replaced, not extended.
struct TestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "testbed", abstract: "(not built yet)")
    func run() throws { throw ExitCode(1) }
}
