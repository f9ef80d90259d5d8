import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals
import Xenstore

/// Runs only the xenstore daemon on a unix socket (for Xen's clients, tests and benchmarks).
@main
struct Xenstored: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xenstored",
        abstract: "xapi-swift's xenstored: the xenstore wire protocol on a unix socket.")

    @Option(help: "Unix socket for privileged (dom0) clients; point XENSTORED_PATH at it.")
    var socket: String

    @Option(
        name: .customLong("domain-socket"),
        help: "DOMID:PATH — an extra socket whose clients act as unprivileged domain DOMID (repeatable).")
    var domainSockets: [String] = []

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level \(logLevel)")
        }
        var listeners = [XenstoreSocketServer.Listener(path: socket, domid: 0)]
        for spec in domainSockets {
            let parts = spec.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let domid = UInt32(parts[0]), domid <= 65535 else {
                throw ValidationError("--domain-socket wants DOMID:PATH, got \(spec)")
            }
            listeners.append(XenstoreSocketServer.Listener(path: String(parts[1]), domid: domid))
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "xenstored")
        let daemon = XenstoreDaemon(logger: logger)
        let server = XenstoreSocketServer(daemon: daemon, listeners: listeners, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
