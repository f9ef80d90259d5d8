public import NIOCore

/// Wire constants and message types (`xen/include/public/io/xs_wire.h`).
enum XenstoreWire {
    /// `XENSTORE_PAYLOAD_MAX`, in both directions.
    static let payloadMax = 4096
    static let headerSize = 16
}

/// `enum xsd_sockmsg_type`.
enum XenstoreMessageType: UInt32, Sendable {
    case control = 0
    case directory = 1
    case read = 2
    case getPermissions = 3
    case watch = 4
    case unwatch = 5
    case transactionStart = 6
    case transactionEnd = 7
    case introduce = 8
    case release = 9
    case getDomainPath = 10
    case write = 11
    case mkdir = 12
    case remove = 13
    case setPermissions = 14
    case watchEvent = 15
    case error = 16
    case isDomainIntroduced = 17
    case resume = 18
    case setTarget = 19
    case resetWatches = 21
    case directoryPart = 22
}

/// `struct xsd_sockmsg`: four native-endian (in practice little-endian) `uint32_t`.
public struct XenstoreHeader: Sendable, Hashable {
    public var type: UInt32
    public var requestID: UInt32
    public var transactionID: UInt32
    public var length: UInt32

    public init(type: UInt32, requestID: UInt32, transactionID: UInt32, length: UInt32) {
        self.type = type
        self.requestID = requestID
        self.transactionID = transactionID
        self.length = length
    }
}

/// One message as framed on the socket.
public struct XenstoreFrame: Sendable {
    public var header: XenstoreHeader
    public var payload: ByteBuffer
}

extension ByteBuffer {
    /// Appends a complete message: header (length taken from `payload`) then payload.
    mutating func writeXenstoreMessage(type: UInt32, requestID: UInt32, transactionID: UInt32, payload: some Collection<UInt8>) {
        writeInteger(type, endianness: .host)
        writeInteger(requestID, endianness: .host)
        writeInteger(transactionID, endianness: .host)
        writeInteger(UInt32(payload.count), endianness: .host)
        writeBytes(payload)
    }
}
