public import NIOCore

/// A request announced a payload above `XENSTORE_PAYLOAD_MAX`. C xenstored drops such a
/// connection at once (and the spec says so); the handler closes it.
public struct XenstorePayloadTooLarge: Error, Sendable {
    public let length: UInt32
}

/// Reassembles 16-byte header + payload frames from the byte stream. Headers and payloads may
/// arrive split across reads (libxenstore writes them separately) or many frames per read
/// (pipelining).
public struct XenstoreFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = XenstoreFrame

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.decodeFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A trailing partial frame at EOF is discarded: the peer is gone, nobody gets a reply.
        try decode(context: context, buffer: &buffer)
    }

    /// Takes one complete frame off the front of `buffer`, or nil if it is not complete yet.
    static func decodeFrame(from buffer: inout ByteBuffer) throws -> XenstoreFrame? {
        guard buffer.readableBytes >= XenstoreWire.headerSize else { return nil }
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, endianness: .host, as: UInt32.self),
            let requestID = buffer.getInteger(at: start + 4, endianness: .host, as: UInt32.self),
            let transactionID = buffer.getInteger(at: start + 8, endianness: .host, as: UInt32.self),
            let length = buffer.getInteger(at: start + 12, endianness: .host, as: UInt32.self)
        else { return nil }
        guard length <= XenstoreWire.payloadMax else { throw XenstorePayloadTooLarge(length: length) }
        guard buffer.readableBytes >= XenstoreWire.headerSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: XenstoreWire.headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return XenstoreFrame(
            header: XenstoreHeader(type: type, requestID: requestID, transactionID: transactionID, length: length),
            payload: payload)
    }
}
