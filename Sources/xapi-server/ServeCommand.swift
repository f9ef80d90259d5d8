import Wire
import ArgumentParser
import Foundation
import Logging
import RPCServer
import ServiceLifecycle
import Simulator
import UnixSignals
import Xapi
import XapiDB
import Xenops
import Xenstore

/// Runs the server. The flag names are relied on by tests and tools; keep them.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the server (the default).")

    @Option(help: "Address of the TCP listener.")
    var host = "127.0.0.1"

    @Option(help: "Port of the TCP listener.")
    var port = 8080

    @Option(name: .customLong("unix-socket"), help: "Path of the local unix socket (pre-authenticated as root). Default: <state-dir>/xapi.sock.")
    var unixSocket: String?

    @Option(name: .customLong("state-dir"), help: "Directory holding the database, the password and the sockets.")
    var stateDir = "state"

    @Flag(name: .customLong("in-memory"), help: "Keep everything in memory (tests); nothing is written to disk.")
    var inMemory = false

    @Option(help: "Name of the local superuser.")
    var user = "root"

    @Option(help: "Password of the local superuser. Default: generated on first start and kept in <state-dir>/password.")
    var password: String?

    @Option(name: .customLong("demo-vms"), help: "Number of halted demo VMs created with the demo pool on first start.")
    var demoVMs = 10

    @Option(name: .customLong("xenstore-socket"), help: "Path of the master's xenstore wire socket (members' sit beside it: xenstored-2.sock…). Default: <state-dir>/xenstored.sock.")
    var xenstoreSocket: String?

    @Option(name: .customLong("hosts"), help: "Hosts of the pool simulated in this process, each with its own hypervisor, xenopsd and xenstore.")
    var hosts = 1

    @Option(name: .customLong("simulation"), help: "Timings of the simulated hosts: realistic (devices in ms, guests boot in 0.5 s) or instant.")
    var simulation = "realistic"

    @Option(name: .customLong("device-step-delay-ms"), help: "Overrides the simulation's delay before each XenbusState step.")
    var deviceStepDelayMs: Int?

    @Option(name: .customLong("guest-agent-period"), help: "Seconds between a guest agent's reports after its first (0: report once).")
    var guestAgentPeriod = 60.0

    @Option(name: .customLong("events-loop"), help: "How xenops updates reach the database: parallel (per-VM lanes) or fifo (xapi's single loop).")
    var eventsLoop = "parallel"

    @Option(name: .customLong("events-workers"), help: "Workers of the parallel events loop.")
    var eventsWorkers = 4

    @Option(name: .customLong("xenops-workers"), help: "Xenops worker pool size per queue set (xenopsd: 4).")
    var xenopsWorkers = 4

    @Option(name: .customLong("session-idle-timeout"), help: "Seconds after which an idle session is destroyed (xapi: 86400).")
    var sessionIdleTimeout = 86_400.0

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between database passes: pool heartbeat for event.next, session and task expiry (xapi: 30).")
    var heartbeatInterval = 30.0

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(name: .customLong("max-body-bytes"), help: "Largest accepted request body (xapi: 300 KiB).")
    var maxBodyBytes = 300 * 1024

    @Option(name: .customLong("max-connections"), help: "Concurrent TCP connections (xapi: 800).")
    var maxConnections = 800

    @Option(name: .customLong("event-queue-bytes"), help: "Bound of the event.next queue in bytes of serialised events (xapi: 10,000,000).")
    var eventQueueBytes = 10_000_000

    @Option(name: .customLong("event-from-delay-ms"), help: "Fixed delay before every non-task event.from scan (xapi: 50).")
    var eventFromDelayMs = 0

    @Option(name: .customLong("event-from-min-interval-ms"), help: "Minimum time between a session's non-task event.from answers.")
    var eventFromMinIntervalMs = 50

    @Option(name: .customLong("durable-wait"), help: "What an answer waits to be on disk: call (what the call wrote) or all (every change so far; the old baseline, for benchmarks).")
    var durableWaitName = "call"

    mutating func run() async throws {
        guard let durableWait = XapiRPCHandler.DurableWait(rawValue: durableWaitName) else {
            throw ValidationError("unknown --durable-wait '\(durableWaitName)' (call or all)")
        }
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "xapi-server")
        let fileManager = FileManager.default
        if !inMemory {
            try fileManager.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        }
        let secret = try resolvePassword()
        var configuration = XapiConfiguration(password: secret)
        configuration.user = user
        configuration.eventFromDelay = .milliseconds(eventFromDelayMs)
        configuration.eventFromMinimumInterval = .milliseconds(eventFromMinIntervalMs)
        configuration.eventNextQueueBytes = eventQueueBytes
        configuration.sessionIdleTimeout = .milliseconds(Int64(sessionIdleTimeout * 1000))
        configuration.heartbeatInterval = .milliseconds(Int64(heartbeatInterval * 1000))

        let database = Database()
        var services: [any Service] = []
        if !inMemory {
            let persister = Persister(database: database, store: try SQLiteStore(path: stateDir + "/xapi.db"), logger: logger)
            _ = try await persister.load()
            services.append(PersistenceService(persister: persister))
        }
        guard let loopMode = XenopsBridge.LoopMode(rawValue: eventsLoop) else {
            throw ValidationError("--events-loop must be parallel or fifo")
        }
        var xenopsConfiguration = XenopsConfiguration()
        xenopsConfiguration.workerPoolSize = xenopsWorkers
        // As xenopsd's simulator backend: a guest asking to reboot soon after boot is not delayed.
        xenopsConfiguration.minimumRebootDelay = .zero
        var timings: SimulatedHypervisor.Configuration
        switch simulation {
        case "realistic":
            timings = .realistic
            // A 10 GbE migration network moves about a GiB a second.
            xenopsConfiguration.migrationBandwidth = 1 << 30
        case "instant":
            timings = .init()
            // Hosts go down as soon as a reboot or shutdown is accepted.
            configuration.hostShutdownDelay = .zero
        default: throw ValidationError("--simulation must be realistic or instant")
        }
        if let deviceStepDelayMs { timings.deviceStepDelay = .milliseconds(deviceStepDelayMs) }
        timings.agentSchedule = guestAgentPeriod > 0 ? .every(.milliseconds(Int64(guestAgentPeriod * 1000))) : .once
        guard (1...64).contains(hosts) else { throw ValidationError("--hosts must be between 1 and 64 (a pool's limit)") }
        let inventory = try HostInventory(path: inMemory ? nil : stateDir + "/inventory", database: database, hosts: hosts)
        let masterSocket = xenstoreSocket ?? (inMemory ? nil : absolute(stateDir + "/xenstored.sock"))
        // The hosts share the process's CPUs, so they share the gate that paces them.
        let gate = PriorityGate()
        var simulated: [SimulatedHost] = []
        for (index, uuid) in inventory.uuids.enumerated() {
            let label = index == 0 ? "" : "-\(index + 1)"
            let xenstore = XenstoreDaemon(logger: Logger(label: "xenstored" + label))
            let machine = SimulatedHypervisor(store: xenstore, configuration: timings, logger: Logger(label: "simulator" + label))
            let xenops = Xenops(store: xenstore, hypervisor: machine, configuration: xenopsConfiguration, priority: gate,
                                logger: Logger(label: "xenops" + label))
            let socket = masterSocket.map { index == 0 ? $0 : HostInventory.memberSocket($0, index: index) }
            if let socket {
                services.append(XenstoreSocketServer(daemon: xenstore, listeners: [.init(path: socket)], logger: Logger(label: "xenstored" + label)))
            }
            services.append(xenops)
            simulated.append(SimulatedHost(uuid: uuid, xenops: xenops, xenstoreSocket: socket))
        }
        let api = XenAPI(database: database, configuration: configuration, logger: logger,
                         hosts: simulated, eventsLoop: loopMode, eventsWorkers: eventsWorkers)
        if try DemoPool.createIfEmpty(in: api, options: .init(vms: demoVMs, address: host, hosts: inventory.uuids)) {
            logger.info("created the demo pool", metadata: ["vms": "\(demoVMs)"])
        }
        try api.registerStorageDrivers()
        api.bootSimulatedHosts()

        let socketPath = unixSocket ?? (inMemory ? nil : absolute(stateDir + "/xapi.sock"))
        let http = XapiHTTPServer(
            configuration: HTTPServerConfiguration(host: host, port: port, unixSocketPath: socketPath,
                                                   maxBodyBytes: maxBodyBytes, maxTCPConnections: maxConnections),
            handler: XapiRPCHandler(api: api, logger: logger, durableWait: durableWait,
                                    diagnostics: { api.bridges.diagnostics(in: api.database, api.tables) }),
            logger: logger)
        for bridge in api.bridges.all { services.append(EventsLoopService(bridge: bridge)) }
        services.append(http)
        // Last in, first out: at shutdown this answers parked event calls before HTTP drains.
        services.append(HousekeepingService(api: api))

        print("xapi-server listening on http://\(host):\(port)/" + (socketPath.map { " and unix socket \($0)" } ?? ""))
        // The password itself is not written to the log when it can be read elsewhere: from the
        // command line, or from its 0600 file in the state directory.
        if password != nil {
            print("log in as '\(user)' with the password given by --password")
        } else if !inMemory {
            print("log in as '\(user)' with the password kept in \(absolute(stateDir + "/password"))")
        } else {
            // Nothing in memory outlives the process, and this is the only place it can be read.
            print("log in as '\(user)' with password '\(secret)' (generated; --in-memory keeps it nowhere)")
        }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The given password, or the one kept in the state directory, or a new one (kept there
    /// with mode 0600 unless running in memory).
    private func resolvePassword() throws -> String {
        if let password { return password }
        let file = stateDir + "/password"
        if !inMemory, let kept = try? String(contentsOfFile: file, encoding: .utf8) {
            return kept.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        let generated = String((0..<16).map { _ in alphabet[Int(rng.next(upperBound: UInt64(alphabet.count)))] })
        if !inMemory, !FileManager.default.createFile(atPath: file, contents: Data(generated.utf8), attributes: [.posixPermissions: 0o600]) {
            throw ValidationError("cannot write the password file \(file)")
        }
        return generated
    }
}
