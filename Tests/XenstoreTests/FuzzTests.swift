import Logging
import NIOCore
import Testing

@testable import Xenstore

#if canImport(Glibc)
import Glibc
#endif

/// Reproducible randomness (SplitMix64), so a failing seed can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random frames biased towards almost-valid ones, so parsing and the store are both reached.
func randomFrame(_ rng: inout SeededGenerator) -> [UInt8] {
    let pieces = ["/", "a", "b", "@", "\0", "\0", "r5", "n0", "b7", "T", "F", "12", "..", "//", "local/domain/3", " ", "é", "x"]
    var payload: [UInt8] = []
    switch Int.random(in: 0..<10, using: &rng) {
    case 0:  // raw noise
        payload = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    default:
        for _ in 0..<Int.random(in: 0..<12, using: &rng) { payload += Array(pieces.randomElement(using: &rng)!.utf8) }
    }
    let type: UInt32 = Int.random(in: 0..<8, using: &rng) == 0 ? UInt32.random(in: 0...40, using: &rng) : UInt32.random(in: 0...22, using: &rng)
    let tx: UInt32 = Int.random(in: 0..<6, using: &rng) == 0 ? UInt32.random(in: 0...3, using: &rng) : 0
    var length = UInt32(payload.count)
    if Int.random(in: 0..<50, using: &rng) == 0 { length = UInt32.random(in: 0...UInt32.max, using: &rng) }  // lies
    return frameBytes(type: type, requestID: UInt32.random(in: 0...UInt32.max, using: &rng), tx: tx, payload: payload, length: length)
}

/// A raw unix-socket client with timeouts, for hostile traffic.
final class RawSocket {
    let fd: Int32

    init?(path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result != 0 {
            close(fd)
            return nil
        }
        var noSigpipe = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &noSigpipe, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// False once the peer has closed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads whatever arrives within `milliseconds`; nil when the peer closed.
    func drain(milliseconds: Int32) -> [UInt8]? {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, milliseconds) > 0 else { return received }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if count <= 0 { return nil }
            received += chunk[0..<count]
        }
    }

    /// One read of what is available within `milliseconds`: [] on timeout, nil when closed.
    func readOnce(milliseconds: Int32) -> [UInt8]? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return [] }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        return count > 0 ? Array(chunk[0..<count]) : nil
    }

    /// One request, one reply (skipping watch events).
    func call(type: UInt32, payload: String) -> (UInt32, [UInt8])? {
        guard send(frameBytes(type: type, payload: Array(payload.utf8))) else { return nil }
        var buffer = ByteBuffer()
        while true {
            while let frame = try? XenstoreFrameDecoder.decodeFrame(from: &buffer) {
                if frame.header.type != 15 { return (frame.header.type, Array(frame.payload.readableBytesView)) }
            }
            guard let bytes = readOnce(milliseconds: 2000), !bytes.isEmpty else { return nil }
            buffer.writeBytes(bytes)
        }
    }
}

@Suite struct FuzzTests {
    /// Random frames through the decoder, the codec and the store: nothing traps, every reply
    /// is a well-formed frame within the payload limit.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomFramesThroughDecoderAndStore(seed: UInt64) throws {
        var rng = SeededGenerator(state: seed)
        var harness = Harness()
        let connections = [harness.connect(0), harness.connect(0), harness.connect(5), harness.connect(7)]
        var stream = ByteBuffer()
        var frames = 0
        for _ in 0..<4000 {
            stream.writeBytes(randomFrame(&rng))
            // Feed in random cuts, as a socket would.
            do {
                while let frame = try XenstoreFrameDecoder.decodeFrame(from: &stream) {
                    frames += 1
                    let connection = connections.randomElement(using: &rng)!
                    let result: Result<XenstoreReply, XenstoreError>
                    if let request = XenstoreCodec.decodeRequest(type: frame.header.type, payload: frame.payload) {
                        result = harness.run(connection, request, tx: frame.header.transactionID)
                    } else {
                        result = .failure(.ENOSYS)
                    }
                    var reply = ByteBuffer()
                    XenstoreCodec.writeReply(result, to: frame.header, into: &reply)
                    let parsed = try XenstoreFrameDecoder.decodeFrame(from: &reply)
                    #expect(parsed != nil && reply.readableBytes == 0)
                    #expect(parsed!.header.requestID == frame.header.requestID)
                }
            } catch is XenstorePayloadTooLarge {
                stream.clear()  // the server closes such a connection; start a fresh stream
            }
        }
        #expect(frames > 3000)
        _ = harness.takeEvents(connections[0])
    }

    /// Hostile clients on the real socket for a bounded time: the server never crashes, other
    /// connections keep working, and every hostile connection is forgotten once closed.
    @Test func hostileSocketClientsDoNotHurtOthersOrLeak() async throws {
        let logger = Logger(label: "fuzz")
        let store = XenstoreDaemon(logger: logger)
        let path = "/tmp/xenstore-fuzz-\(getpid()).sock"
        let server = XenstoreSocketServer(daemon: store, socketPath: path, logger: logger)
        let serverTask = Task { try await server.run() }
        defer { serverTask.cancel() }
        var good: RawSocket?
        for _ in 0..<100 {
            good = RawSocket(path: path)
            if good != nil { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let client = try #require(good)
        #expect(client.call(type: 10, payload: "0\0")?.0 == 10)  // registered once it has answered
        let baseline = store.withState { $0.connections.count }

        let deadline = ContinuousClock.now + .seconds(3)
        var rng = SeededGenerator(state: 42)
        var round = 0
        while ContinuousClock.now < deadline && round < 60 {
            round += 1
            var hostile: [RawSocket] = []
            for _ in 0..<4 {
                guard let socket = RawSocket(path: path) else { continue }
                var burst: [UInt8] = []
                for _ in 0..<Int.random(in: 1..<40, using: &rng) { burst += randomFrame(&rng) }
                // Deliver in random pieces.
                var offset = 0
                while offset < burst.count {
                    let end = min(burst.count, offset + Int.random(in: 1...512, using: &rng))
                    if !socket.send(Array(burst[offset..<end])) { break }
                    offset = end
                }
                _ = socket.drain(milliseconds: 5)
                hostile.append(socket)
            }
            // The well-behaved client is unaffected.
            let reply = client.call(type: 11, payload: "/fuzz/ok\0\(round)")
            #expect(reply?.0 == 11)
            let read = client.call(type: 2, payload: "/fuzz/ok\0")
            #expect(read.map { String(decoding: $0.1, as: UTF8.self) } == "\(round)")
            hostile.removeAll()  // closes them
        }
        #expect(round >= 5)

        // Every hostile connection is gone from the store (closing is asynchronous: wait a bit).
        var remaining = -1
        for _ in 0..<100 {
            remaining = store.withState { $0.connections.count }
            if remaining == baseline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(remaining == baseline)

        // An oversized request closes only that connection.
        let victim = try #require(RawSocket(path: path))
        victim.send(frameBytes(type: 11, payload: [], length: 5000))
        #expect(victim.drain(milliseconds: 2000) == nil)
        #expect(client.call(type: 2, payload: "/fuzz/ok\0")?.0 == 2)

        serverTask.cancel()
        try await serverTask.value
        #expect(access(path, F_OK) != 0)  // the socket file is removed on shutdown
    }
}
