import NIOCore
import Testing

@testable import Xenstore

func frameBytes(type: UInt32, requestID: UInt32 = 0, tx: UInt32 = 0, payload: [UInt8], length: UInt32? = nil) -> [UInt8] {
    var buffer = ByteBuffer()
    buffer.writeInteger(type, endianness: .host)
    buffer.writeInteger(requestID, endianness: .host)
    buffer.writeInteger(tx, endianness: .host)
    buffer.writeInteger(length ?? UInt32(payload.count), endianness: .host)
    buffer.writeBytes(payload)
    return Array(buffer.readableBytesView)
}

func decode(_ type: XenstoreMessageType, _ payload: String) -> XenstoreRequest? {
    XenstoreCodec.decodeRequest(type: type.rawValue, payload: ByteBuffer(bytes: Array(payload.utf8)))
}

@Suite struct WireTests {
    @Test func framesReassembleFromPiecesAndPipelines() throws {
        let one = frameBytes(type: 2, requestID: 7, payload: Array("/a\0".utf8))
        let two = frameBytes(type: 11, requestID: 8, tx: 3, payload: Array("/b\0v".utf8))
        var buffer = ByteBuffer()
        var frames: [XenstoreFrame] = []
        for byte in one + two {  // one byte at a time
            buffer.writeInteger(byte)
            while let frame = try XenstoreFrameDecoder.decodeFrame(from: &buffer) { frames.append(frame) }
        }
        #expect(frames.map(\.header.requestID) == [7, 8])
        #expect(frames[1].header.transactionID == 3)
        #expect(Array(frames[1].payload.readableBytesView) == Array("/b\0v".utf8))
        #expect(buffer.readableBytes == 0)
    }

    @Test func oversizedPayloadIsRejectedBeforeItArrives() {
        var buffer = ByteBuffer(bytes: frameBytes(type: 11, payload: [], length: 4097))
        #expect(throws: XenstorePayloadTooLarge.self) { try XenstoreFrameDecoder.decodeFrame(from: &buffer) }
        var exact = ByteBuffer(bytes: frameBytes(type: 11, payload: [UInt8](repeating: 65, count: 4096)))
        #expect(throws: Never.self) { _ = try XenstoreFrameDecoder.decodeFrame(from: &exact) }
    }

    @Test func payloadParsing() {
        guard case .read("/a") = decode(.read, "/a\0") else { Issue.record("read"); return }
        guard case .malformed = decode(.read, "/a") else { Issue.record("no NUL"); return }
        guard case .malformed = decode(.read, "/a\0b\0") else { Issue.record("two args"); return }
        guard case .malformed = decode(.read, "") else { Issue.record("empty"); return }
        guard case .write("/w", let value) = decode(.write, "/w\0x\0y\0") else { Issue.record("write"); return }
        #expect(value == Array("x\0y\0".utf8))  // binary, NULs kept
        guard case .write("/e", []) = decode(.write, "/e\0") else { Issue.record("empty value"); return }
        guard case .malformed = decode(.write, "/nonul") else { Issue.record("write no NUL"); return }
        guard case .setPermissions("/p", let perms) = decode(.setPermissions, "/p\0n0\0r5\0") else {
            Issue.record("perms")
            return
        }
        #expect(perms == [XenstorePermission(.none, 0), XenstorePermission(.read, 5)])
        guard case .malformed = decode(.setPermissions, "/p\0q5\0") else { Issue.record("bad perm"); return }
        guard case .watch("w", token: "t") = decode(.watch, "w\0t\0") else { Issue.record("watch"); return }
        guard case .malformed(_, true) = decode(.watch, "w\0t\0" + "1\0") else { Issue.record("depth"); return }
        guard case .transactionEnd(commit: true) = decode(.transactionEnd, "T\0") else { Issue.record("T"); return }
        guard case .malformed = decode(.transactionEnd, "X\0") else { Issue.record("X"); return }
        guard case .transactionStart = decode(.transactionStart, "") else { Issue.record("len 0 start"); return }
        guard case .introduce(domid: 5, port: 3) = decode(.introduce, "5\0" + "99\0" + "3\0") else { Issue.record("intro"); return }
        guard case .malformed(true, _) = decode(.introduce, "5\0") else { Issue.record("intro args"); return }
        guard case .getDomainPath(65535) = decode(.getDomainPath, "65535\0") else { Issue.record("domid"); return }
        guard case .malformed = decode(.getDomainPath, "abc\0") else { Issue.record("strict domid"); return }
        guard case .directoryPart("/d", offset: 12) = decode(.directoryPart, "/d\0" + "12\0") else { Issue.record("part"); return }
        for type: UInt32 in [15, 16, 20, 23, 24, 25, 26, 27, 99, 65535, .max] {
            #expect(XenstoreCodec.decodeRequest(type: type, payload: ByteBuffer()) == nil)
        }
    }

    @Test func repliesErrorsAndEvents() {
        let header = XenstoreHeader(type: 2, requestID: 9, transactionID: 4, length: 0)
        var buffer = ByteBuffer()
        XenstoreCodec.writeReply(.success(.ok), to: header, into: &buffer)
        #expect(Array(buffer.readableBytesView) == frameBytes(type: 2, requestID: 9, tx: 4, payload: Array("OK\0".utf8)))
        buffer.clear()
        XenstoreCodec.writeReply(.failure(.ENOENT), to: header, into: &buffer)
        #expect(Array(buffer.readableBytesView) == frameBytes(type: 16, requestID: 9, tx: 4, payload: Array("ENOENT\0".utf8)))
        buffer.clear()
        XenstoreCodec.writeReply(.success(.value([UInt8](repeating: 1, count: 4097))), to: header, into: &buffer)
        #expect(Array(buffer.readableBytesView) == frameBytes(type: 16, requestID: 9, tx: 4, payload: Array("E2BIG\0".utf8)))
        buffer.clear()
        XenstoreCodec.writeReply(.success(.value([])), to: header, into: &buffer)
        #expect(buffer.readableBytes == 16)  // empty value: len 0, no NUL added
        buffer.clear()
        XenstoreCodec.writeEvent(WatchEvent(path: "/a", token: "t"), into: &buffer)
        #expect(Array(buffer.readableBytesView) == frameBytes(type: 15, payload: Array("/a\0t\0".utf8)))
        #expect(XenstoreCodec.encode(.permissions([XenstorePermission(.both, 7)])) == Array("b7\0".utf8))
        #expect(XenstoreCodec.encode(.transaction(3)) == Array("3\0".utf8))
    }

    @Test func directoryPartPagesThroughLargeDirectories() {
        var h = Harness()
        let dom0 = h.connect(0)
        let names = (0..<300).map { "child-\($0)-" + String(repeating: "x", count: $0 % 40) }
        for name in names { _ = h.write(dom0, "/big/" + name, "") }
        #expect(h.run(dom0, .directory("/big")).map { XenstoreCodec.encode($0).count > XenstoreWire.payloadMax } == .success(true))
        var collected: [String] = []
        var offset = 0
        var generation: String?
        while true {
            guard case .success(.raw(let payload)) = h.run(dom0, .directoryPart("/big", offset: offset)) else {
                Issue.record("directory part failed")
                return
            }
            #expect(payload.count <= XenstoreWire.payloadMax)
            let parts = payload.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if let generation { #expect(parts[0] == generation) }
            generation = parts[0]
            let chunk = parts.dropFirst().filter { !$0.isEmpty }
            collected += chunk
            offset += chunk.reduce(0) { $0 + $1.utf8.count + 1 }
            if payload.suffix(2) == [0, 0] { break }
        }
        #expect(collected == names)
        // Past the end: the generation and an empty string.
        guard case .success(.raw(let past)) = h.run(dom0, .directoryPart("/big", offset: 1_000_000)) else { return }
        #expect(past.suffix(2) == [0, 0])
    }
}
