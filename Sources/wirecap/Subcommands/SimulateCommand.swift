import ArgumentParser

// Placeholder until the owning change lands; replaced, not extended.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "(not built yet)")
    func run() throws { throw ExitCode(1) }
}
