import XapiDB

/// The handlers of one class's messages: one table per class, under `Sources/Xapi/<Class>/`,
/// keyed by the message's name within the class. `KeyValuePairs`, not a dictionary, so that a
/// key declared twice reaches `HandlerRegistry` and is refused there instead of silently
/// replacing the first.
struct ClassHandlers: Sendable {
    let className: String
    let handlers: KeyValuePairs<String, Handler>
    /// Messages that are PriorityGate foreground work from arrival to barrier (power and plug
    /// operations); each must also have a handler here.
    let foreground: Set<String>

    init(_ className: String, foreground: Set<String> = [], _ handlers: KeyValuePairs<String, Handler>) {
        self.className = className
        self.handlers = handlers
        self.foreground = foreground
    }
}

/// Every hand-written handler, by wire name, checked against the datamodel: a key that is not
/// one of its class's messages, or a message declared twice, stops the server at start (and
/// fails a unit test) rather than becoming NOT_IMPLEMENTED or a silent override.
struct HandlerRegistry: Sendable {
    enum Problem: Error, Equatable, CustomStringConvertible {
        case unknownClass(String)
        case notAMessage(String)
        case definedTwice(String)
        case foregroundWithoutHandler(String)

        var description: String {
            switch self {
            case .unknownClass(let name): "handler table for \(name), which is not a class of the datamodel"
            case .notAMessage(let name): "handler for \(name), which is not a message of the datamodel"
            case .definedTwice(let name): "\(name) has two handlers"
            case .foregroundWithoutHandler(let name): "\(name) is marked foreground but has no handler"
            }
        }
    }

    let handlers: [String: Handler]
    let foreground: Set<String>

    init(_ tables: [ClassHandlers], model: Datamodel) throws(Problem) {
        var handlers: [String: Handler] = [:]
        var foreground: Set<String> = []
        for table in tables {
            guard let schema = model.class(named: table.className) else { throw .unknownClass(table.className) }
            let served = Set(MethodTable.messages(of: schema).map(\.name))
            for (name, handler) in table.handlers {
                let wireName = "\(table.className).\(name)"
                guard served.contains(name) else { throw .notAMessage(wireName) }
                guard handlers.updateValue(handler, forKey: wireName) == nil else { throw .definedTwice(wireName) }
            }
            for name in table.foreground {
                let wireName = "\(table.className).\(name)"
                guard handlers[wireName] != nil else { throw .foregroundWithoutHandler(wireName) }
                foreground.insert(wireName)
            }
        }
        self.handlers = handlers
        self.foreground = foreground
    }

    /// The tables of this server, one per class that has hand-written handlers.
    static let tables: [ClassHandlers] = [
        SessionHandlers.table, EventHandlers.table, TaskHandlers.table, MessageHandlers.table,
        VMMessages.table, VBDMessages.table, VIFMessages.table, VIFMessages.addressingTable, VDIHandlers.table, VGPUHandlers.table,
        NetworkHandlers.table, PBDHandlers.table, ConsoleHandlers.table, VMSSHandlers.table,
        PVSCacheStorageHandlers.table, HostHandlers.table, HostHandlers.lifecycle, RoleHandlers.table,
        PIFHandlers.table, PIFHandlers.hostTable, VLANHandlers.table, VLANHandlers.poolTable, VLANHandlers.pifTable,
        BondHandlers.table, PoolMembership.table,
    ]
}
