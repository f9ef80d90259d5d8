public import XapiDB

/// A decoded RPC request, whichever wire format it came in.
public struct MethodCall: Sendable, Equatable {
    public var name: String
    public var params: [Value]

    public init(name: String, params: [Value]) {
        self.name = name
        self.params = params
    }
}
