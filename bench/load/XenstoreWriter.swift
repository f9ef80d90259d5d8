import Foundation

/// A blocking xenstore wire-protocol client that only writes: what a guest agent does when it
/// reports, done from outside the server through its xenstore socket.
final class XenstoreWriter {
    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, socketStream, 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw CocoaError(.fileNoSuchFile) }
    }

    deinit { close(fd) }

    /// WRITE path value, waiting for the reply.
    func write(_ path: String, _ value: String) throws {
        let payload = Array(path.utf8) + [0] + Array(value.utf8)
        var header: [UInt32] = [11, 0, 0, UInt32(payload.count)]
        let message = header.withUnsafeMutableBytes { Array($0) } + payload
        try message.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + sent, raw.count - sent)
                guard n > 0 else { throw CocoaError(.fileWriteUnknown) }
                sent += n
            }
        }
        var reply = [UInt8](repeating: 0, count: 16)
        try readExactly(&reply)
        let length = Int(reply[12]) | Int(reply[13]) << 8 | Int(reply[14]) << 16 | Int(reply[15]) << 24
        var body = [UInt8](repeating: 0, count: length)
        try readExactly(&body)
        let type = Int(reply[0]) | Int(reply[1]) << 8
        guard type == 11 else { throw CocoaError(.fileWriteUnknown) }
    }

    private func readExactly(_ buffer: inout [UInt8]) throws {
        var got = 0
        let count = buffer.count
        try buffer.withUnsafeMutableBytes { raw in
            while got < count {
                let n = read(fd, raw.baseAddress! + got, count - got)
                guard n > 0 else { throw CocoaError(.fileReadUnknown) }
                got += n
            }
        }
    }
}
