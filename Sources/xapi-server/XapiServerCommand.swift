import ArgumentParser

/// `xapi-server`: the XenAPI server with its xenopsd-like engine and xenstore, in one process.
@main
struct XapiServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xapi-server",
        abstract: "A XenAPI-compatible control plane: xapi, xenopsd and xenstored in one process.",
        subcommands: [ServeCommand.self, DiagnosticsCommand.self, CoverageCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
