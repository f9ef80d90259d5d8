import XapiDB

/// Consoles come and go with their domains (the events loop keeps the rows); the API cannot
/// make or remove one. xen-api ocaml/xapi/api_server_common.ml `Console`: both are
/// `not_implemented`, named as xapi names them.
enum ConsoleHandlers {
    static let table = ClassHandlers("console", [
        "create": { _ throws(XapiError) in throw .notImplemented("Console.create") },
        "destroy": { _ throws(XapiError) in throw .notImplemented("Console.destroy") },
    ])
}
