// The RPC path without HTTP: `XapiRPCHandler` answering `VM.get_record` (and a few other
// calls) from the exact bodies bench/rpc sends, in one thread, in process. Server CPU under wrk
// swings with whatever else the shared machine runs; this isolates decode + dispatch + record
// + encode so that changes to them can be compared run against run. Build with -c release:
//     swift run -c release rpc-path-bench [seconds-per-case]
import Foundation
import Logging
import RPCServer
import Xapi
import XapiDB

func xml(_ method: String, _ params: [String]) -> [UInt8] {
    var s = "<?xml version='1.0'?>\n<methodCall>\n<methodName>\(method)</methodName>\n<params>\n"
    for p in params { s += "<param>\n<value><string>\(p)</string></value>\n</param>\n" }
    s += "</params>\n</methodCall>\n"
    return Array(s.utf8)
}

func body(_ reply: RPCReply) -> [UInt8] {
    guard case .ok(let body) = reply else { fatalError("transport failure: \(reply)") }
    return body
}

func member(_ name: String, in body: [UInt8]) -> String {
    let text = String(decoding: body, as: UTF8.self)
    guard let r = text.range(of: "<name>\(name)</name><value>") else { fatalError("no \(name) in \(text.prefix(300))") }
    return String(text[r.upperBound...].prefix { $0 != "<" })
}

/// Median of 7 rounds of ~`seconds`/7 each, in µs per call.
func measure(_ seconds: Double, _ name: String, _ call: () async -> RPCReply) async {
    var bytes = 0
    let clock = ContinuousClock()
    var perCall: [Double] = []
    var iterations = 100
    for _ in 0..<7 {
        while true {
            let elapsed = await clock.measure { for _ in 0..<iterations { bytes = body(await call()).count } }
            let s = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if s >= seconds / 7 || iterations >= 10_000_000 {
                perCall.append(s * 1e6 / Double(iterations))
                break
            }
            iterations *= 2
        }
    }
    perCall.sort()
    print(String(format: "%-34@ %7.2f µs/call [%.2f–%.2f]  %6d B", name as NSString, perCall[3], perCall[0], perCall[6], bytes))
}

// Everything runs in this nonisolated function: top-level code is on the main actor, and
// closures formed there would hop to it and back on every call.
func run() async throws {
    let seconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 1.0

    let database = Database()
    let api = XenAPI(database: database, configuration: XapiConfiguration(password: "pw"), logger: Logger(label: "rpc-path-bench"))
    _ = try DemoPool.createIfEmpty(in: api, options: .init(vms: 10))
    let handler = XapiRPCHandler(api: api, logger: Logger(label: "rpc-path-bench"))
    let context = RPCRequestContext(listener: .tcp, path: "/")

    let session = member("Value", in: body(await handler.xmlrpc(body: xml("session.login_with_password", ["root", "pw", "1.0", "bench"]), context: context)))
    let all = String(decoding: body(await handler.xmlrpc(body: xml("VM.get_all", [session]), context: context)), as: UTF8.self)
    var vm = ""
    for part in all.components(separatedBy: "<value>OpaqueRef:").dropFirst() {
        let ref = "OpaqueRef:" + part.prefix { $0 != "<" }
        let isDom0 = member("Value", in: body(await handler.xmlrpc(body: xml("VM.get_is_control_domain", [session, ref]), context: context)))
        if isDom0 == "<boolean>0" || isDom0.isEmpty { vm = ref; break }
    }
    precondition(!vm.isEmpty, "no guest VM")
    let xmlGetRecord = xml("VM.get_record", [session, vm])
    let xmlGetNameLabel = xml("VM.get_name_label", [session, vm])
    let xmlGetAllRecords = xml("VM.get_all_records", [session])
    let jsonGetRecord = Array(#"{"jsonrpc": "2.0", "method": "VM.get_record", "params": ["\#(session)", "\#(vm)"], "id": 1}"#.utf8)

    print("rpc-path-bench: median of 7 rounds, in-process, one thread; load average \(String((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.prefix(14) ?? "?"))")
    await measure(seconds, "XML-RPC VM.get_record") { await handler.xmlrpc(body: xmlGetRecord, context: context) }
    await measure(seconds, "JSON-RPC VM.get_record") { await handler.jsonrpc(body: jsonGetRecord, context: context) }
    await measure(seconds, "XML-RPC VM.get_name_label") { await handler.xmlrpc(body: xmlGetNameLabel, context: context) }
    await measure(seconds, "XML-RPC VM.get_all_records (10+)") { await handler.xmlrpc(body: xmlGetAllRecords, context: context) }
}

try await run()
