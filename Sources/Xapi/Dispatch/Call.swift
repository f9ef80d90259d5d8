public import Logging
public import XapiDB

/// Where a request came from: xapi treats its unix socket as pre-authenticated root.
public struct CallOrigin: Sendable {
    public enum Transport: Sendable { case tcp, unixSocket, `internal` }

    public var transport: Transport
    /// The `originator` header or login parameter, used for per-originator session limits.
    public var originator: String?

    public init(transport: Transport, originator: String? = nil) {
        self.transport = transport
        self.originator = originator
    }

    public static let `internal` = CallOrigin(transport: .internal)
}

/// One decoded XenAPI call on its way to a handler.
public struct Call: Sendable {
    public let api: XenAPI
    public let message: MessageSchema
    /// The name the client used, after `Async.` stripping (what errors and task labels show).
    public let name: String
    /// The caller's (validated) session, or nil for the login family.
    public let session: String?
    /// Arguments after the session, decoded to their datamodel types, defaults filled in.
    public let args: [Value]
    public let origin: CallOrigin
    /// The database task of an `Async.` call, or the transient task of a synchronous call of an
    /// async-capable message; nil otherwise.
    public let task: String?
    public let logger: Logger
    let reply: ReplySlot

    public var database: Database { api.database }
    public var tables: Tables { api.tables }

    /// The argument the message's datamodel calls `name` (after the session; defaults are
    /// filled in by dispatch). A name the message does not have is a bug in the handler and
    /// answers INTERNAL_ERROR naming it.
    public func argument(_ name: String) throws(XapiError) -> Value {
        let parameters = message.callParameters
        guard let index = parameters.firstIndex(where: { $0.name == name }) else {
            throw .internalError("\(message.wireName) has no parameter \(name)")
        }
        let position = index - parameters.startIndex
        if position < args.count { return args[position] }
        guard let value = parameters[index].defaultValue else {
            throw .internalError("\(message.wireName): no value for \(name)")
        }
        return value
    }

    /// A string or ref argument.
    public func string(_ name: String) throws(XapiError) -> String { try read(name, \.stringValue) }
    public func bool(_ name: String) throws(XapiError) -> Bool { try read(name, \.boolValue) }
    public func int(_ name: String) throws(XapiError) -> Int64 { try read(name, \.intValue) }
    public func double(_ name: String) throws(XapiError) -> Double { try read(name, \.doubleValue) }

    /// A set of refs or strings.
    public func strings(_ name: String) throws(XapiError) -> [String] {
        try read(name) { value in value.arrayValue.map { $0.compactMap(\.stringValue) } }
    }

    private func read<T>(_ name: String, _ typed: (Value) -> T?) throws(XapiError) -> T {
        let value = try argument(name)
        guard let result = typed(value) else { throw mistyped(name, value) }
        return result
    }

    private func mistyped(_ name: String, _ value: Value) -> XapiError {
        .internalError("\(message.wireName): parameter \(name) is not of the type its handler reads (\(value))")
    }

    /// Cancellation point: TASK_CANCELLED once `task.cancel` has been called on this call's task.
    public func checkCancelled() throws(XapiError) {
        guard let task else { return }
        if api.tasks.isCancelling(task, api: api) { throw .taskCancelled(task: task) }
    }

    func with(task: String?) -> Call {
        Call(api: api, message: message, name: name, session: session, args: args, origin: origin, task: task,
             logger: logger, reply: reply)
    }
}

/// A handler of one message. Throwing anything but `XapiError` reports INTERNAL_ERROR.
public typealias Handler = @Sendable (Call) async throws -> Value
