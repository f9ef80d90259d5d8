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

    public func string(_ index: Int) -> String { args[index].stringValue ?? "" }
    public func bool(_ index: Int) -> Bool { args[index].boolValue ?? false }
    public func int(_ index: Int) -> Int64 { args[index].intValue ?? 0 }

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
