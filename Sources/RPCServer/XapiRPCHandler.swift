import Codec
public import Logging
public import Xapi
public import Wire
import XapiDB

/// Connects the HTTP layer to the XenAPI: decodes the wire format, dispatches, waits until the
/// call's writes are durable, and encodes the answer. Undecodable requests are transport
/// failures (HTTP 500), as in xapi; API errors are ordinary RPC answers.
public struct XapiRPCHandler: RPCHandler {
    /// What an answer waits for before it is sent.
    public enum DurableWait: String, Sendable, CaseIterable {
        /// The persisted changes this call made (none for a read).
        case call
        /// Every persisted change made by anyone before the answer: the behaviour before
        /// per-call durability, kept as the baseline of bench/durability.
        case all
    }

    let api: XenAPI
    let logger: Logger
    let durableWait: DurableWait
    let diagnosticsDocument: @Sendable () async -> JSON

    public init(api: XenAPI, logger: Logger, durableWait: DurableWait = .call,
                diagnostics: @escaping @Sendable () async -> JSON = { .object([]) }) {
        self.api = api
        self.logger = logger
        self.durableWait = durableWait
        diagnosticsDocument = diagnostics
    }

    public func xmlrpc(body: [UInt8], context: RPCRequestContext) async -> RPCReply {
        let call: MethodCall
        do {
            call = try XMLRPC.parseCall(body)
        } catch {
            logger.debug("undecodable XML-RPC request", metadata: ["error": "\(error)"])
            return .transportFailure(message: error.message)
        }
        if call.name == "system.listMethods", case .success(let names) = await api.call(call.name, [], origin: origin(context)) {
            return .ok(body: XMLRPC.bare(names))
        }
        switch await perform(call.name, call.params, context) {
        case .value(let value): return .ok(body: XMLRPC.success(value))
        case .shared(let answer): return .ok(body: answer.encoded(as: "xmlrpc", XMLRPC.success))
        case .failure(let error): return .ok(body: XMLRPC.failure(error.errorDescription))
        }
    }

    public func jsonrpc(body: [UInt8], context: RPCRequestContext) async -> RPCReply {
        let request: JSONRPC.Request
        do {
            request = try JSONRPC.parseRequest(body)
        } catch {
            logger.debug("undecodable JSON-RPC request", metadata: ["error": "\(error)"])
            return .transportFailure(message: error.message)
        }
        switch await perform(request.method, request.params, context) {
        case .value(let value): return .ok(body: JSONRPC.success(value, for: request))
        // JSON-RPC answers carry the request's id, so only the result's encoding is shared.
        case .shared(let answer):
            return .ok(body: JSONRPC.success(encodedResult: answer.encoded(as: "json-result", JSONRPC.encodedResult), for: request))
        case .failure(let error): return .ok(body: JSONRPC.failure(error.errorDescription, for: request))
        }
    }

    public func diagnostics(checks: Set<DiagnosticsCheck>) async -> [UInt8] {
        var members: [JSON.Member] = []
        if case .object(let engine) = await diagnosticsDocument() { members = engine }
        if checks.contains(.refs) { members.append(JSON.Member("refs", referenceReport())) }
        return JSON.object(members).bytes
    }

    /// `?check=refs`: `ok`, the number of faults, and each fault as an object.
    private func referenceReport() -> JSON {
        let faults = api.referenceFaults().map { fault -> JSON in
            switch fault {
            case .dangling(let path, let row, let target, let targetClass):
                .object(["kind": .string("dangling"), "field": .string(path.description), "row": .string(row),
                         "target": .string(target), "target_class": .string(targetClass)])
            case .drift(let path, let row, let missing, let extra):
                .object(["kind": .string("drift"), "field": .string(path.description), "row": .string(row),
                         "missing": .array(missing.map(JSON.string)), "extra": .array(extra.map(JSON.string))])
            }
        }
        return .object(["ok": .bool(faults.isEmpty), "count": .int(faults.count), "faults": .array(faults)])
    }

    private func perform(_ method: String, _ params: [Value], _ context: RPCRequestContext) async -> Answer {
        // Durable before acknowledged: whatever this call wrote is on disk before we answer.
        let scope = WriteScope()
        let result = await WriteScope.$current.withValue(scope) { await api.answer(method, params, origin: origin(context)) }
        switch durableWait {
        case .call: await api.database.waitUntilDurable(upTo: scope.generation)
        case .all: await api.database.waitUntilDurable()
        }
        if case .failure(let error) = result, logger.logLevel <= .debug {
            logger.debug("call failed", metadata: ["method": "\(method)", "error": "\(error.errorDescription)"])
        }
        return result
    }

    private func origin(_ context: RPCRequestContext) -> CallOrigin {
        CallOrigin(transport: context.listener == .unixSocket ? .unixSocket : .tcp, originator: context.originator)
    }
}
