import CNIOLinux
import Foundation
import Glibc

/// Many keep-alive HTTP connections served by one thread with epoll and plain reads: the fan-out
/// benchmark's 1,000 parked clients. A NIO client with an HTTP decoder per connection spent as
/// much CPU reading the answers as the server spent writing them (26 µs each) on the same two
/// cores, so it measured itself as much as the server; this one spends a few microseconds.
final class PollingClients: @unchecked Sendable {
    struct Answer {
        var status: Int
        /// `DispatchTime` uptime nanoseconds when the last byte had been read.
        var completedAt: UInt64
    }

    private var sockets: [Int32] = []
    private var buffers: [[UInt8]]
    private let epoll: Int32
    /// The body of connection 0's last answer, to take the next token from.
    private(set) var firstBody: [UInt8] = []

    init(count: Int, host: String, port: Int) throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        buffers = Array(repeating: [], count: count)
        for index in 0..<count {
            let fd = socket(AF_INET, socketStream, 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard fd >= 0, connected == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = UInt64(index)
            epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
            sockets.append(fd)
        }
    }

    deinit {
        for fd in sockets { close(fd) }
        close(epoll)
    }

    /// Sends the same POST on every connection.
    func postAll(host: String, body: [UInt8]) throws {
        let head = "POST / HTTP/1.1\r\nHost: \(host)\r\nContent-Type: text/xml\r\nContent-Length: \(body.count)\r\n\r\n"
        let request = Array(head.utf8) + body
        for fd in sockets {
            var sent = 0
            while sent < request.count {
                let n = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EAGAIN { usleep(100); continue }
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                sent += n
            }
        }
    }

    /// Reads until every connection has one whole answer (headers plus Content-Length bytes).
    /// Blocks its thread: run it off the concurrency pool, see `answers()`.
    func collect() throws -> [Answer] {
        var answers = [Answer?](repeating: nil, count: sockets.count)
        var remaining = sockets.count
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while remaining > 0 {
            let ready = epoll_wait(epoll, &events, Int32(events.count), 60_000)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { throw POSIXError(.ETIMEDOUT) }
            for event in events[0..<Int(ready)] {
                let index = Int(event.data.u64)
                while answers[index] == nil {
                    let n = chunk.withUnsafeMutableBytes { read(sockets[index], $0.baseAddress, $0.count) }
                    if n < 0, errno == EAGAIN { break }
                    guard n > 0 else { throw POSIXError(.ECONNRESET) }
                    buffers[index].append(contentsOf: chunk[0..<n])
                    if let status = Self.complete(buffers[index]) {
                        answers[index] = Answer(status: status, completedAt: DispatchTime.now().uptimeNanoseconds)
                        if index == 0 { firstBody = buffers[0] }
                        buffers[index].removeAll(keepingCapacity: true)
                        remaining -= 1
                    }
                }
            }
        }
        return answers.map { $0! }
    }

    /// `collect()` on a thread of its own, so a blocked `epoll_wait` holds no pool thread.
    func answers() async throws -> [Answer] {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try self.collect() }) }.start()
        }
    }

    /// The status code once `bytes` hold a whole response, else nil. A byte loop: Foundation's
    /// generic `firstRange` and String splitting cost more than the server's whole answer.
    private static func complete(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { b -> Int? in
            guard b.count >= 16 else { return nil }
            var headEnd = -1
            for i in 0..<(b.count - 3) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
                headEnd = i + 4
                break
            }
            guard headEnd > 0 else { return nil }
            let name = Array("content-length:".utf8)
            var length = -1
            var i = 0
            while i < headEnd - name.count {
                // At the start of a header line, compare the name ignoring case.
                if b[i] == 10, (0..<name.count).allSatisfy({ b[i + 1 + $0] | 0x20 == name[$0] }) {
                    var j = i + 1 + name.count
                    while b[j] == 32 { j += 1 }
                    length = 0
                    while b[j] >= 48 && b[j] <= 57 { length = length * 10 + Int(b[j] - 48); j += 1 }
                    break
                }
                i += 1
            }
            guard length >= 0, b.count >= headEnd + length else { return nil }
            return Int(b[9] - 48) * 100 + Int(b[10] - 48) * 10 + Int(b[11] - 48)   // "HTTP/1.1 200"
        }
    }
}

/// SOCK_STREAM, which Glibc imports as an enum case and NIO's C shim as a plain integer: with
/// both modules in one target neither spelling compiles.
let socketStream: Int32 = 1
