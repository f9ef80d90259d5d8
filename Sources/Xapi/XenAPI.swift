public import Logging
public import XapiDB
public import Xenops

/// The XenAPI: every message of the datamodel, dispatched the way xapi's generated server does
/// (xen-api ocaml/idl/ocaml_backend/gen_server.ml, `dispatch_call`): name (with `Async.` and `Class_message` aliases) → parameter count →
/// parameter types → session → handler. Handlers are the generic object API derived from the
/// datamodel, plus the custom messages this server simulates; every other datamodel message
/// answers NOT_IMPLEMENTED.
public final class XenAPI: Sendable {
    public let database: Database
    public let configuration: XapiConfiguration
    public let tables: Tables
    let logger: Logger
    let decoder: ParameterDecoder
    let methods: MethodTable
    let handlers: [String: Handler]
    let sessions: SessionManager
    public let tasks: TaskManager
    /// The links to the xenopsd of every host this process simulates; none when the API runs
    /// without a hypervisor (power operations then answer NOT_IMPLEMENTED).
    public let bridges: HostBridges
    /// The first host's link (the master's in a pool made here).
    public var bridge: XenopsBridge? { bridges.all.first }
    /// Messages that run as foreground work of the PriorityGate from arrival to barrier.
    let foregroundMessages: Set<String>
    let eventPacer: EventPacer
    let eventFromCache = EventFromCache()
    let recordCache = RecordCache()
    /// Hosts on their way down (`host.reboot`, `host.shutdown`), which cannot be re-enabled.
    let hostPower = HostPower()

    /// An API over one simulated host (or none): its identity is made up, and it stands for
    /// whatever host the database makes the master.
    public convenience init(database: Database, configuration: XapiConfiguration, logger: Logger,
                            xenops: Xenops? = nil, eventsLoop: XenopsBridge.LoopMode = .parallel, eventsWorkers: Int = 4) {
        self.init(database: database, configuration: configuration, logger: logger,
                  hosts: xenops.map { [SimulatedHost(uuid: Identifiers.uuid(), xenops: $0)] } ?? [],
                  eventsLoop: eventsLoop, eventsWorkers: eventsWorkers)
    }

    /// An API over the hosts this process simulates, the first of them the master's.
    public init(database: Database, configuration: XapiConfiguration, logger: Logger,
                hosts: [SimulatedHost], eventsLoop: XenopsBridge.LoopMode = .parallel, eventsWorkers: Int = 4) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
        self.tables = Tables(database)
        eventPacer = EventPacer(clock: database.clock)
        decoder = ParameterDecoder(model: database.model)
        sessions = SessionManager(tables: tables)
        let tables = self.tables
        let tasks = TaskManager(database: database, tables: tables)
        self.tasks = tasks
        bridges = HostBridges(hosts.enumerated().map { index, host in
            var hostLogger = logger
            if hosts.count > 1 { hostLogger[metadataKey: "host"] = "\(index + 1)" }
            return XenopsBridge(xenops: host.xenops, hostUUID: host.uuid, standsForMaster: index == 0,
                                xenstoreSocket: host.xenstoreSocket, database: database,
                                tables: tables, tasks: tasks, mode: eventsLoop, workers: eventsWorkers, logger: hostLogger)
        })
        let registry: HandlerRegistry
        do {
            registry = try HandlerRegistry(HandlerRegistry.tables, model: database.model)
        } catch {
            preconditionFailure("the handler tables do not match the datamodel: \(error)")
        }
        let handlers = registry.handlers
        self.handlers = handlers
        foregroundMessages = registry.foreground
        let model = database.model
        methods = MethodTable(model: model) { message in
            handlers[message.wireName] ?? ObjectAPI.handler(for: message, model: model)
        }
        database.setNextQueueLimit(bytes: configuration.eventNextQueueBytes)
    }

    /// Runs one call and returns its value or its XenAPI error.
    public func call(_ name: String, _ params: [Value], origin: CallOrigin) async -> Result<Value, XapiError> {
        switch await answer(name, params, origin: origin) {
        case .value(let value): .success(value)
        case .shared(let shared): .success(shared.value)
        case .failure(let error): .failure(error)
        }
    }

    /// Runs one call for the wire layer: an answer shared with other callers comes as such, so
    /// its encoding can be shared too.
    public func answer(_ name: String, _ params: [Value], origin: CallOrigin) async -> Answer {
        let reply = ReplySlot()
        do {
            let value: Value
            let (method, isAsync, bare) = resolve(name)
            if let bridge, runsInForeground(method) {
                // A power or plug operation is foreground from the moment it arrives, whichever
                // spelling the client used (`Async.VM.start`, `VM_start`): session check and task
                // bookkeeping included, not only the part under `withVMOperation`.
                value = try await bridge.xenops.priority.foreground {
                    try await dispatch(method, bare, isAsync: isAsync, params, origin: origin, reply: reply)
                }
            } else {
                value = try await dispatch(method, bare, isAsync: isAsync, params, origin: origin, reply: reply)
            }
            return reply.sharedAnswer.map(Answer.shared) ?? .value(value)
        } catch let error as XapiError {
            return .failure(error)
        } catch {
            return .failure(.internalError(String(describing: error)))
        }
    }

    /// Whether a call is PriorityGate foreground work from its arrival (power and plug
    /// operations), decided on the resolved message so that every spelling agrees.
    func runsInForeground(_ method: MethodTable.Method?) -> Bool {
        guard let method else { return false }
        return foregroundMessages.contains(method.message.wireName)
    }

    /// The method a wire name calls, whether it asked for the async form, and the name without
    /// the `Async.` prefix (what errors and task labels show).
    func resolve(_ wireName: String) -> (method: MethodTable.Method?, isAsync: Bool, name: String) {
        var name = Substring(wireName)
        var isAsync = false
        if name.hasPrefix("Async.") {
            name = name.dropFirst(6)
            isAsync = true
        }
        if name.hasPrefix("InternalAsync.") {
            name = name.dropFirst(14)
            isAsync = true
        }
        let bare = String(name)
        return (methods.lookup(bare), isAsync, bare)
    }

    private func dispatch(_ method: MethodTable.Method?, _ name: String, isAsync: Bool, _ params: [Value],
                          origin: CallOrigin, reply: ReplySlot) async throws -> Value {
        if name == "system.listMethods" { return .array(methods.names.map(Value.string)) }
        guard let method else {
            // xapi treats the first parameter of an unknown call as a session before it gives up.
            if case .string(let session)? = params.first { _ = try sessions.validate(session, api: self) }
            throw XapiError.messageMethodUnknown(name)
        }
        let message = method.message
        if message.lifecycle == .removed { throw XapiError.messageRemoved }

        let arguments = method.arguments
        let first = method.takesSession ? 1 : 0
        let received = params.count - first
        let hasDefaults = method.required < arguments.count
        if received < 0 || (hasDefaults ? received < method.required : received != arguments.count) {
            throw XapiError.messageParameterCountMismatch(method: name, expected: method.required, received: max(received, 0))
        }

        var session: String?
        if method.takesSession {
            guard case .string(let s) = params[0] else {
                throw XapiError.internalError("Expected session ref, got '\(params[0].debugDescription)'")
            }
            session = s
        }
        var args: [Value] = []
        args.reserveCapacity(arguments.count)
        for (index, parameter) in arguments.enumerated() {
            if first + index < params.count {
                args.append(try decoder.decode(params[first + index], as: parameter.type))
            } else {
                args.append(parameter.defaultValue!)
            }
        }
        if let s = session { try sessions.validate(s, api: self) }
        if isAsync, !message.isAsync { throw XapiError.noAsyncMode(rpc: name) }

        guard let handler = method.handler else { throw XapiError.notImplemented(message.wireName) }
        let call = Call(api: self, message: message, name: name, session: session, args: args, origin: origin,
                        task: nil, logger: logger, reply: reply)
        if isAsync {
            return .string(try tasks.runAsync(call, label: "Async." + name, handler: handler))
        }
        if message.isAsync {
            return try await tasks.runWithTransientTask(call, label: name, handler: handler)
        }
        return try await handler(call)
    }

    /// The bridge of the xenopsd on `host`; `HOST_OFFLINE` when none of this process runs there,
    /// NOT_IMPLEMENTED for `message` when the API runs without any.
    func bridge(onHost host: String, for message: String) throws(XapiError) -> XenopsBridge {
        guard !bridges.all.isEmpty else { throw .notImplemented(message) }
        let t = tables
        let bridges = bridges
        return try database.read { s throws(XapiError) in try bridges.requireBridge(onHost: host, in: s, t) }
    }

    /// The pool's master: the host this process answers for.
    public func localHost() -> String {
        let tables = tables
        return database.read { s in XenAPI.localHost(in: s, tables: tables) }
    }

    /// The uuid of the pool's master in a database, nil when it has no pool yet.
    public static func masterUUID(in database: Database) -> String? {
        let tables = Tables(database)
        return database.read { s in
            let master = localHost(in: s, tables: tables)
            return s.contains(tables.host, master) ? (try? s.get(tables.host, master, .uuid))?.stringValue : nil
        }
    }

    static func localHost(in s: DatabaseState, tables: Tables) -> String {
        for pool in s.refs(tables.pool) {
            if case .string(let master)? = try? s.get(tables.pool, pool, .master), s.contains(tables.host, master) {
                return master
            }
        }
        return s.refs(tables.host).first ?? nullRef
    }
}
