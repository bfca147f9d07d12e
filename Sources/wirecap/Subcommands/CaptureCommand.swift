import ArgumentParser

// Placeholder until the owning change lands; replaced, not extended.
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture", abstract: "(not built yet)")
    func run() throws { throw ExitCode(1) }
}
