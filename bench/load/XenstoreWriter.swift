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

    /// Many WRITEs sent back to back without waiting, as guests' rings deliver them, and then
    /// every reply read: when this returns, xenstore has applied all of them and fired their
    /// watches, so the signals they raise are pending downstream.
    func pipelinedWrite(_ writes: [(path: String, value: String)]) throws {
        var message: [UInt8] = []
        message.reserveCapacity(writes.count * 48)
        for (i, write) in writes.enumerated() {
            let payload = Array(write.path.utf8) + [0] + Array(write.value.utf8)
            for word in [UInt32(11), UInt32(i), 0, UInt32(payload.count)] {
                withUnsafeBytes(of: word.littleEndian) { message.append(contentsOf: $0) }
            }
            message.append(contentsOf: payload)
        }
        // A thread writes while this one reads the replies, so neither socket buffer fills up;
        // the last reply read means every write was sent and applied.
        let fd = self.fd
        let bytes = message
        Thread {
            bytes.withUnsafeBytes { raw in
                var sent = 0
                while sent < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + sent, raw.count - sent)
                    guard n > 0 else { return }  // the read below then fails too
                    sent += n
                }
            }
        }.start()
        var header = [UInt8](repeating: 0, count: 16)
        var body = [UInt8](repeating: 0, count: 4096)
        for _ in writes {
            guard Self.readAll(fd, &header, header.count) else { throw CocoaError(.fileReadUnknown) }
            let type = Int(header[0]) | Int(header[1]) << 8
            let length = Int(header[12]) | Int(header[13]) << 8 | Int(header[14]) << 16 | Int(header[15]) << 24
            if length > body.count { body = [UInt8](repeating: 0, count: length) }
            guard type == 11, Self.readAll(fd, &body, length) else { throw CocoaError(.fileReadUnknown) }
        }
    }

    private static func readAll(_ fd: Int32, _ buffer: inout [UInt8], _ count: Int) -> Bool {
        var got = 0
        return buffer.withUnsafeMutableBytes { raw in
            while got < count {
                let n = Foundation.read(fd, raw.baseAddress! + got, count - got)
                guard n > 0 else { return false }
                got += n
            }
            return true
        }
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
