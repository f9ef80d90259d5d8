public import XapiDB

/// Response bodies byte-for-byte as xapi sends them (ocaml-rpc `string_of_response`, non-strict):
/// one line, no whitespace, API errors inside a `Status`/`ErrorDescription` struct rather than an
/// XML-RPC `<fault>`.
extension XMLRPC {
    /// `{Status: "Success", Value: value}`.
    public static func success(_ value: Value) -> [UInt8] {
        var out = prologue()
        out.appendASCII("<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>")
        value.writeXMLRPC(into: &out)
        out.appendASCII("</member></struct></value>")
        out.appendASCII(epilogue)
        return out
    }

    /// `{Status: "Failure", ErrorDescription: [code, params…]}`.
    public static func failure(_ errorDescription: [String]) -> [UInt8] {
        var out = prologue()
        out.appendASCII("<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>")
        Value.array(errorDescription.map(Value.string)).writeXMLRPC(into: &out)
        out.appendASCII("</member></struct></value>")
        out.appendASCII(epilogue)
        return out
    }

    /// The value itself inside `<param>`, without the Status struct: what xapi answers to
    /// `system.listMethods`.
    public static func bare(_ value: Value) -> [UInt8] {
        var out = prologue()
        value.writeXMLRPC(into: &out)
        out.appendASCII(epilogue)
        return out
    }

    private static func prologue() -> [UInt8] {
        var out: [UInt8] = []
        // Records run to several KiB; growing 512 → 8K would copy the body four times.
        out.reserveCapacity(8192)
        out.appendASCII("<?xml version=\"1.0\"?><methodResponse><params><param>")
        return out
    }

    private static let epilogue: StaticString = "</param></params></methodResponse>"
}
