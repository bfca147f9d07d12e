import ArgumentParser

// Placeholder until the owning change lands; replaced, not extended.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "(not built yet)")
    func run() throws { throw ExitCode(1) }
}
