import Synchronization
public import XapiDB

/// An answer several calls receive unchanged — a change that wakes a thousand identical parked
/// `event.from` calls — so each wire encoding of it is produced once, not per caller.
public final class SharedAnswer: Sendable {
    public let value: Value
    private let encodings = Mutex<[String: [UInt8]]>([:])

    init(_ value: Value) {
        self.value = value
    }

    /// The bytes of `format` (e.g. "xmlrpc"), encoded by `encode` on first use.
    public func encoded(as format: String, _ encode: (Value) -> [UInt8]) -> [UInt8] {
        if let bytes = encodings.withLock({ $0[format] }) { return bytes }
        let bytes = encode(value)
        encodings.withLock { $0[format] = bytes }
        return bytes
    }
}

/// Where a handler leaves a `SharedAnswer` for the wire layer.
final class ReplySlot: Sendable {
    private let shared = Mutex<SharedAnswer?>(nil)

    func share(_ answer: SharedAnswer) { shared.withLock { $0 = answer } }
    var sharedAnswer: SharedAnswer? { shared.withLock { $0 } }
}

/// The outcome of a call as the wire layer needs it.
public enum Answer: Sendable {
    case value(Value)
    case shared(SharedAnswer)
    case failure(XapiError)
}
