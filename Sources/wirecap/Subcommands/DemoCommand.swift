import ArgumentParser

// Placeholder until the owning change lands; replaced, not extended.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "(not built yet)")
    func run() throws { throw ExitCode(1) }
}
