// Codec throughput: the hand-written XML-RPC and JSON codecs against Foundation's
// (XMLParser, JSONSerialization) on the same documents. Build with -c release:
//     swift run -c release codec-bench
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Codec
import XapiDB

// MARK: Inputs

/// A Python `xmlrpc.client` call: `VM.set_other_config(session, vm, {12 entries})`, 1,495 B.
func pythonSetOtherConfig() -> [UInt8] {
    let config: [(String, String)] = [
        ("install-methods", "cdrom,nfs,http,ftp"), ("linux_template", "true"),
        ("mac_seed", "6b5d2a6e-0f0c-4d8b-9b7a-1c2d3e4f5a6b"), ("vgpu_pci", ""),
        ("base_template_name", "Debian Bookworm 12"), ("import_task", "OpaqueRef:NULL"),
        ("folder", "/Production/Web &amp; API"), ("HideFromXenCenter", "false"),
        ("XenCenter.CustomFields.owner", "ops-team@example.com"), ("auto_poweron", "true"),
        ("last_shutdown_reason", "halted"), ("notes", "migrated 2024-11-03 &lt;batch 7&gt;"),
    ]
    var s = "<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.set_other_config</methodName>\n<params>\n"
    s += "<param>\n<value><string>OpaqueRef:6f8b2c3e-9c1d-4d7e-8a51-0b3c2d4e5f60</string></value>\n</param>\n"
    s += "<param>\n<value><string>OpaqueRef:0b9e7a3c-1f2d-4e5a-9b8c-7d6e5f4a3b2c</string></value>\n</param>\n"
    s += "<param>\n<value><struct>\n"
    for (k, v) in config { s += "<member>\n<name>\(k)</name>\n<value><string>\(v)</string></value>\n</member>\n" }
    s += "</struct></value>\n</param>\n</params>\n</methodCall>\n"
    return Array(s.utf8)
}

/// An `event.from` result of the kind an initial sync returns: `count` VM `mod` events with
/// full ~90-field snapshots, `valid_ref_counts` as `<i4>`, and a token.
func eventFromResult(events count: Int) -> Value {
    var state: UInt64 = 0x5EED
    func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
    func uuid() -> String {
        let hex = Array("0123456789abcdef")
        return [8, 4, 4, 4, 12].map { n in String((0..<n).map { _ in hex[Int(next() % 16)] }) }.joined(separator: "-")
    }
    func ref() -> Value { .string("OpaqueRef:" + uuid()) }
    var events: [Value] = []
    for i in 0..<count {
        var record = Structure()
        record.append("uuid", .string(uuid()))
        record.append("allowed_operations", .array(["changing_dynamic_range", "pause", "clean_shutdown", "snapshot", "export"].map(Value.string)))
        record.append("current_operations", .structure(Structure()))
        record.append("name_label", .string("web-\(i) (Debian 12)"))
        record.append("name_description", .string("front end <tier \(i % 3)> & cache"))
        record.append("power_state", .string("Running"))
        record.append("user_version", .int(1))
        record.append("is_a_template", .bool(false))
        record.append("resident_on", ref())
        record.append("memory_static_max", .int(4_294_967_296))
        record.append("memory_dynamic_min", .int(2_147_483_648))
        record.append("VCPUs_max", .int(4))
        record.append("VCPUs_at_startup", .int(2))
        record.append("actions_after_shutdown", .string("destroy"))
        record.append("PV_args", .string(""))
        record.append("HVM_boot_params", .structure(["order": .string("cdn"), "firmware": .string("uefi")]))
        record.append("platform", .structure(["viridian": .string("true"), "acpi": .string("1"), "apic": .string("true"),
                                              "pae": .string("true"), "nx": .string("true"), "cores-per-socket": .string("2")]))
        record.append("other_config", .structure(["base_template_name": .string("Debian Bookworm 12"),
                                                  "import_task": .string("OpaqueRef:NULL"),
                                                  "mac_seed": .string(uuid()), "install-methods": .string("cdrom,nfs,http,ftp")]))
        record.append("domid", .int(Int64(i + 1)))
        record.append("is_control_domain", .bool(false))
        record.append("metrics", ref())
        record.append("guest_metrics", ref())
        record.append("VBDs", .array([ref(), ref(), ref()]))
        record.append("VIFs", .array([ref(), ref()]))
        record.append("start_time", .dateTime(DateTime(secondsSinceEpoch: 1_742_357_784 + Int64(i))))
        record.append("snapshot_time", .dateTime(.epoch))
        record.append("ha_restart_priority", .string("restart"))
        record.append("tags", .array([.string("prod"), .string("web")]))
        record.append("blocked_operations", .structure(Structure()))
        record.append("memory_overhead", .int(41_943_040))
        record.append("has_vendor_device", .bool(true))
        record.append("requires_reboot", .bool(false))
        record.append("domain_type", .string("hvm"))
        // The rest of the ~90 fields: short strings, ints, bools, refs, empty maps and sets.
        for f in 0..<57 {
            let v: Value
            switch f % 6 {
            case 0: v = .string("")
            case 1: v = .int(Int64(next() % 100_000))
            case 2: v = .bool(f % 4 == 1)
            case 3: v = .string("OpaqueRef:NULL")
            case 4: v = .structure(Structure())
            default: v = .array([])
            }
            record.append("field_\(f)", v)
        }
        var event = Structure()
        event.append("id", .string(String(100_000 + i)))
        event.append("timestamp", .string("0.0"))
        event.append("class", .string("vm"))
        event.append("operation", .string("mod"))
        event.append("ref", ref())
        event.append("snapshot", .structure(record))
        events.append(.structure(event))
    }
    var counts = Structure()
    for table in ["vm", "host", "sr", "vdi", "vbd", "vif", "network", "pif", "pbd", "task", "session", "pool",
                  "vm_metrics", "vm_guest_metrics", "host_metrics", "console", "message", "pci", "vgpu", "blob"] {
        counts.append(table, .int32(Int32(next() % 500)))
    }
    var result = Structure()
    result.append("events", .array(events))
    result.append("valid_ref_counts", .structure(counts))
    result.append("token", .string("00000000000000101205,00000000000000000000"))
    return .structure(result)
}

/// The same document as a method call, since the parser under test reads calls.
func asCall(_ value: Value) -> [UInt8] {
    var out = Array("<?xml version=\"1.0\"?><methodCall><methodName>event.from</methodName><params><param>".utf8)
    value.writeXMLRPC(into: &out)
    out += Array("</param></params></methodCall>".utf8)
    return out
}

// MARK: Foundation baselines

/// XMLParser feeding a lean value builder: the fastest honest use of Foundation (no structure
/// validation, so it is if anything flattered).
final class FoundationXMLRPCDecoder: NSObject, XMLParserDelegate {
    enum Container { case params([Value]), array([Value]), structure(Structure, String) }
    var stack: [Container] = []
    var text = ""
    var completed: Value?
    var typedInValue: [Bool] = []
    var methodName = ""
    var params: [Value] = []

    static func decode(_ bytes: [UInt8]) -> MethodCall? {
        let parser = XMLParser(data: Data(bytes))
        let decoder = FoundationXMLRPCDecoder()
        parser.delegate = decoder
        guard parser.parse(), parser.parserError == nil else { return nil }
        return MethodCall(name: decoder.methodName, params: decoder.params)
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        text = ""
        switch name {
        case "params": stack.append(.params([]))
        case "array": stack.append(.array([]))
        case "struct": stack.append(.structure(Structure(), ""))
        case "value": typedInValue.append(false)
        case "string", "int", "i4", "i8", "boolean", "double", "dateTime.iso8601", "base64", "nil":
            if !typedInValue.isEmpty { typedInValue[typedInValue.count - 1] = true }
        default: break
        }
        if name == "array" || name == "struct", !typedInValue.isEmpty { typedInValue[typedInValue.count - 1] = true }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "methodName": methodName = text
        case "name":
            // Containers are popped before mutation and pushed back, so arrays are not copied.
            if case .structure(let s, _)? = stack.popLast() { stack.append(.structure(s, text)) }
        case "string": completed = .string(text)
        case "int", "i4", "i8": completed = Int64(text).map(Value.int)
        case "boolean": completed = .bool(text == "1")
        case "double": completed = Double(text).map(Value.double)
        case "dateTime.iso8601": completed = DateTime(parsing: text).map(Value.dateTime)
        case "nil": completed = .null
        case "array":
            if case .array(let a)? = stack.popLast() { completed = .array(a) }
        case "struct":
            if case .structure(let s, _)? = stack.popLast() { completed = .structure(s) }
        case "value":
            let typed = typedInValue.popLast() ?? false
            let value = typed ? (completed ?? .null) : .string(text)
            switch stack.popLast() {
            case .array(var a)?:
                a.append(value)
                stack.append(.array(a))
            case .structure(var s, let key)?:
                s.append(key, value)
                stack.append(.structure(s, ""))
            case .params(var p)?:
                p.append(value)
                stack.append(.params(p))
            case nil: break
            }
        case "params":
            if case .params(let p)? = stack.popLast() { params = p }
        default: break
        }
        text = ""
    }
}

func anyTree(_ value: Value) -> Any {
    switch value {
    case .string(let s): return s
    case .int(let i): return i
    case .int32(let i): return i
    case .double(let d): return d
    case .bool(let b): return b
    case .dateTime(let t): return t.description
    case .null: return NSNull()
    case .array(let a): return a.map(anyTree)
    case .structure(let s):
        var d: [String: Any] = [:]
        for m in s.members { d[m.key] = anyTree(m.value) }
        return d
    }
}

// MARK: Timing

nonisolated(unsafe) var blackhole = 0

/// Median time per call over several rounds of about `roundSeconds` each.
func perCall(rounds: Int = 7, roundSeconds: Double = 0.25, _ body: () -> Int) -> Duration {
    let clock = ContinuousClock()
    blackhole &+= body()  // warm-up
    var n = 1
    while true {
        let t = clock.measure { for _ in 0..<n { blackhole &+= body() } }
        if t >= .seconds(roundSeconds / 4) {
            n = max(1, Int(Double(n) * roundSeconds / (Double(t.components.attoseconds) / 1e18 + Double(t.components.seconds))))
            break
        }
        n *= 2
    }
    var samples: [Duration] = []
    for _ in 0..<rounds {
        let t = clock.measure { for _ in 0..<n { blackhole &+= body() } }
        samples.append(t / n)
    }
    return samples.sorted()[rounds / 2]
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

struct Row {
    var name: String
    var bytes: Int
    var ours: Duration
    var foundation: Duration?
    var foundationName: String
}

func mbps(_ bytes: Int, _ d: Duration) -> String { String(format: "%.0f MB/s", Double(bytes) / seconds(d) / 1e6) }
func micros(_ d: Duration) -> String {
    let us = seconds(d) * 1e6
    return us < 100 ? String(format: "%.2f µs", us) : us < 10_000 ? String(format: "%.0f µs", us) : String(format: "%.1f ms", us / 1000)
}

func printTable(_ rows: [Row]) {
    print("| case | bytes | ours | Foundation | ratio |")
    print("| --- | ---: | --- | --- | ---: |")
    for r in rows {
        let ours = "\(mbps(r.bytes, r.ours)), \(micros(r.ours))"
        let base = r.foundation.map { "\(mbps(r.bytes, $0)), \(micros($0)) (\(r.foundationName))" } ?? "—"
        let ratio = r.foundation.map { String(format: "%.1f×", seconds($0) / seconds(r.ours)) } ?? "—"
        print("| \(r.name) | \(r.bytes) | \(ours) | \(base) | \(ratio) |")
    }
}

// MARK: Run

let smallCall = pythonSetOtherConfig()
let eventFrom = eventFromResult(events: 125)
let bigCall = asCall(eventFrom)
let jsonRequest = Array(#"{"jsonrpc":"2.0","method":"VM.set_other_config","params":["OpaqueRef:6f8b2c3e-9c1d-4d7e-8a51-0b3c2d4e5f60","OpaqueRef:0b9e7a3c-1f2d-4e5a-9b8c-7d6e5f4a3b2c",{"install-methods":"cdrom,nfs,http,ftp","linux_template":"true","mac_seed":"6b5d2a6e-0f0c-4d8b-9b7a-1c2d3e4f5a6b","folder":"/Production/Web & API","notes":"migrated 2024-11-03 <batch 7>"}],"id":42}"#.utf8)
let jsonRequestParsed = try! JSONRPC.parseRequest(jsonRequest)
let bigJSON = JSONRPC.success(eventFrom, for: jsonRequestParsed)
let bigAny = anyTree(eventFrom)

// Both decoders must agree before their speed means anything.
precondition(try! XMLRPC.parseCall(smallCall) == FoundationXMLRPCDecoder.decode(smallCall)!)
precondition(try! XMLRPC.parseCall(bigCall) == FoundationXMLRPCDecoder.decode(bigCall)!)
precondition((try? JSONSerialization.jsonObject(with: Data(bigJSON))) != nil)

print("xapi-swift codec benchmark (\(ProcessInfo.processInfo.activeProcessorCount) CPUs, median of 7 rounds)")
print("inputs: Python call \(smallCall.count) B; event.from document \(bigCall.count) B XML / \(bigJSON.count) B JSON "
      + "(125 VM events × ~90 fields); JSON-RPC call \(jsonRequest.count) B")
print("")

var rows: [Row] = []
rows.append(Row(name: "XML-RPC parse, Python call", bytes: smallCall.count,
                ours: perCall { (try? XMLRPC.parseCall(smallCall))?.params.count ?? 0 },
                foundation: perCall { FoundationXMLRPCDecoder.decode(smallCall)?.params.count ?? 0 },
                foundationName: "XMLParser"))
rows.append(Row(name: "XML-RPC parse, event.from", bytes: bigCall.count,
                ours: perCall { (try? XMLRPC.parseCall(bigCall))?.params.count ?? 0 },
                foundation: perCall { FoundationXMLRPCDecoder.decode(bigCall)?.params.count ?? 0 },
                foundationName: "XMLParser"))
rows.append(Row(name: "JSON-RPC parse, call", bytes: jsonRequest.count,
                ours: perCall { (try? JSONRPC.parseRequest(jsonRequest))?.params.count ?? 0 },
                foundation: perCall { (try? JSONSerialization.jsonObject(with: Data(jsonRequest))) == nil ? 0 : 1 },
                foundationName: "JSONSerialization → Any"))
rows.append(Row(name: "JSON parse, event.from", bytes: bigJSON.count,
                ours: perCall { if case .structure(let s)? = try? JSONText.parse(bigJSON) { return s.count } else { return 0 } },
                foundation: perCall { (try? JSONSerialization.jsonObject(with: Data(bigJSON))) == nil ? 0 : 1 },
                foundationName: "JSONSerialization → Any"))
rows.append(Row(name: "XML-RPC write, event.from response", bytes: XMLRPC.success(eventFrom).count,
                ours: perCall { XMLRPC.success(eventFrom).count }, foundation: nil, foundationName: ""))
rows.append(Row(name: "JSON write, event.from response", bytes: bigJSON.count,
                ours: perCall { JSONRPC.success(eventFrom, for: jsonRequestParsed).count },
                foundation: perCall { (try? JSONSerialization.data(withJSONObject: bigAny))?.count ?? 0 },
                foundationName: "JSONSerialization.data"))
rows.append(Row(name: "jsonByteCount, event.from", bytes: bigJSON.count,
                ours: perCall { eventFrom.jsonByteCount }, foundation: nil, foundationName: ""))
printTable(rows)
print("")
print("(checksum \(blackhole & 0xFFFF))")
