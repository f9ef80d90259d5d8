import NIOCore

/// Payload parsing and reply encoding: turns frames into `XenstoreRequest`s and answers into
/// frames. Pure functions, so the fuzz test can drive them without a socket.
enum XenstoreCodec {
    /// What a request frame asks for; nil for types no server implements (ENOSYS: 15, 16, the
    /// removed RESTRICT 20, the post-4.17 feature/quota types, anything out of range).
    static func decodeRequest(type rawType: UInt32, payload: ByteBuffer) -> XenstoreRequest? {
        guard let type = XenstoreMessageType(rawValue: rawType) else { return nil }
        let bytes = payload.readableBytesView
        func malformed() -> XenstoreRequest {
            switch type {
            case .control, .introduce, .release, .isDomainIntroduced, .resume, .setTarget:
                .malformed(privileged: true, ignoresTransaction: false)
            case .watch, .unwatch: .malformed(privileged: false, ignoresTransaction: true)
            default: .malformed(privileged: false, ignoresTransaction: false)
            }
        }
        switch type {
        case .read, .directory, .getPermissions, .mkdir, .remove:
            guard let path = oneArgument(bytes) else { return malformed() }
            switch type {
            case .read: return .read(path)
            case .directory: return .directory(path)
            case .getPermissions: return .getPermissions(path)
            case .mkdir: return .mkdir(path)
            default: return .remove(path)
            }
        case .write:
            // `path|value`: the value is everything after the first NUL, binary, unterminated.
            guard let nul = bytes.firstIndex(of: 0) else { return malformed() }
            return .write(String(decoding: bytes[..<nul], as: UTF8.self), Array(bytes[(nul + 1)...]))
        case .directoryPart:
            let parts = strings(bytes)
            guard nulCount(bytes) == 2, parts.count == 2, let offset = decimal(parts[1]) else { return malformed() }
            return .directoryPart(String(decoding: parts[0], as: UTF8.self), offset: offset)
        case .setPermissions:
            let parts = strings(bytes)
            guard parts.count >= 2 else { return malformed() }
            var permissions: [XenstorePermission] = []
            for text in parts.dropFirst() {
                guard let permission = XenstorePermission(String(decoding: text, as: UTF8.self)) else { return malformed() }
                permissions.append(permission)
            }
            return .setPermissions(String(decoding: parts[0], as: UTF8.self), permissions)
        case .watch, .unwatch:
            // A third (depth) argument needs the WATCHDEPTH feature, which 4.17 lacks ⇒ EINVAL.
            let parts = strings(bytes)
            guard parts.count == 2 else { return malformed() }
            let path = String(decoding: parts[0], as: UTF8.self)
            let token = String(decoding: parts[1], as: UTF8.self)
            return type == .watch ? .watch(path, token: token) : .unwatch(path, token: token)
        case .transactionStart:
            return .transactionStart
        case .transactionEnd:
            switch oneArgument(bytes) {
            case "T": return .transactionEnd(commit: true)
            case "F": return .transactionEnd(commit: false)
            default: return malformed()
            }
        case .introduce:
            let parts = strings(bytes)
            guard parts.count >= 3, let domid = parseDomid(parts[0]), let port = decimal(parts[2]) else {
                return malformed()
            }
            return .introduce(domid: domid, port: port)
        case .release, .isDomainIntroduced, .getDomainPath, .resume:
            guard let text = oneArgument(bytes), let domid = parseDomid(text.utf8) else { return malformed() }
            switch type {
            case .release: return .release(domid)
            case .isDomainIntroduced: return .isIntroduced(domid)
            case .getDomainPath: return .getDomainPath(domid)
            default: return .resume(domid)
            }
        case .setTarget:
            let parts = strings(bytes)
            guard parts.count >= 2, let domid = parseDomid(parts[0]), let target = parseDomid(parts[1]) else {
                return malformed()
            }
            return .setTarget(domid, target: target)
        case .resetWatches:
            return .resetWatches
        case .control:
            guard bytes.contains(0) else { return malformed() }
            return .control(strings(bytes).map { String(decoding: $0, as: UTF8.self) })
        case .watchEvent, .error:
            return nil
        }
    }

    /// Exactly one string, terminated by the only NUL (master C's `onearg`; 4.17 answered ENOENT
    /// to some malformed forms, we answer EINVAL).
    private static func oneArgument(_ bytes: ByteBufferView) -> String? {
        guard let nul = bytes.firstIndex(of: 0), nul == bytes.index(before: bytes.endIndex) else { return nil }
        return String(decoding: bytes[..<nul], as: UTF8.self)
    }

    /// NUL-separated strings; a final unterminated one counts (C's `get_strings`).
    private static func strings(_ bytes: ByteBufferView) -> [ByteBufferView.SubSequence] {
        var result: [ByteBufferView.SubSequence] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: 0) ?? bytes.endIndex
            result.append(bytes[start..<end])
            start = end == bytes.endIndex ? end : bytes.index(after: end)
        }
        return result
    }

    private static func nulCount(_ bytes: ByteBufferView) -> Int { bytes.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }

    private static func decimal(_ bytes: some Collection<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 9 else { return nil }
        var value = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    // MARK: encoding

    /// Writes the reply to request `header`: the answer, or ERROR with the errno name. An answer
    /// longer than 4096 bytes becomes E2BIG (C's `send_reply`).
    static func writeReply(
        _ result: Result<XenstoreReply, XenstoreError>, to header: XenstoreHeader, into buffer: inout ByteBuffer
    ) {
        switch result {
        case .success(let reply):
            let payload = encode(reply)
            if payload.count > XenstoreWire.payloadMax {
                writeError(.E2BIG, to: header, into: &buffer)
            } else {
                buffer.writeXenstoreMessage(
                    type: header.type, requestID: header.requestID, transactionID: header.transactionID, payload: payload)
            }
        case .failure(let error):
            writeError(error, to: header, into: &buffer)
        }
    }

    static func writeError(_ error: XenstoreError, to header: XenstoreHeader, into buffer: inout ByteBuffer) {
        var payload = Array(error.rawValue.utf8)
        payload.append(0)
        buffer.writeXenstoreMessage(
            type: XenstoreMessageType.error.rawValue, requestID: header.requestID, transactionID: header.transactionID,
            payload: payload)
    }

    static func encode(_ reply: XenstoreReply) -> [UInt8] {
        switch reply {
        case .ok: return Array("OK\0".utf8)
        case .value(let bytes): return bytes
        case .raw(let bytes): return bytes
        case .names(let names): return nulTerminated(names)
        case .permissions(let list): return nulTerminated(list.map(\.description))
        case .transaction(let id): return nulTerminated([String(id)])
        case .bool(let value): return Array((value ? "T\0" : "F\0").utf8)
        case .text(let text): return nulTerminated([text])
        }
    }

    private static func nulTerminated(_ strings: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(strings.reduce(0) { $0 + $1.utf8.count + 1 })
        for string in strings {
            bytes.append(contentsOf: string.utf8)
            bytes.append(0)
        }
        return bytes
    }

    /// A WATCH_EVENT (`path|token|`, req_id and tx_id 0); nil when it would exceed 4096 bytes
    /// (C drops such events).
    static func eventPayloadSize(_ event: WatchEvent) -> Int { event.path.utf8.count + event.token.utf8.count + 2 }

    static func writeEvent(_ event: WatchEvent, into buffer: inout ByteBuffer) {
        buffer.writeInteger(XenstoreMessageType.watchEvent.rawValue, endianness: .host)
        buffer.writeInteger(UInt32(0), endianness: .host)
        buffer.writeInteger(UInt32(0), endianness: .host)
        buffer.writeInteger(UInt32(eventPayloadSize(event)), endianness: .host)
        buffer.writeString(event.path)
        buffer.writeInteger(UInt8(0))
        buffer.writeString(event.token)
        buffer.writeInteger(UInt8(0))
    }
}
