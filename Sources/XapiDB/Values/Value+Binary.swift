/// A compact, self-describing binary form of `Value`, used where values rest in bytes rather than
/// travel: rows in the SQLite store and events parked in the bounded `event.next` queue. Tag byte,
/// then LEB128 lengths/integers; strings are raw UTF-8.
extension Value {
    private enum Tag: UInt8 {
        case string = 1, int, int32, double, boolFalse, boolTrue, dateTime, array, structure, null
    }

    public func encodeBinary(into out: inout [UInt8]) {
        switch self {
        case .string(let s):
            out.append(Tag.string.rawValue)
            Value.appendBytes(s, to: &out)
        case .int(let i):
            out.append(Tag.int.rawValue)
            Value.appendSigned(i, to: &out)
        case .int32(let i):
            out.append(Tag.int32.rawValue)
            Value.appendSigned(Int64(i), to: &out)
        case .double(let d):
            out.append(Tag.double.rawValue)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .bool(let b):
            out.append(b ? Tag.boolTrue.rawValue : Tag.boolFalse.rawValue)
        case .dateTime(let d):
            out.append(Tag.dateTime.rawValue)
            Value.appendSigned(d.secondsSinceEpoch, to: &out)
        case .array(let items):
            out.append(Tag.array.rawValue)
            Value.appendUnsigned(UInt64(items.count), to: &out)
            for item in items { item.encodeBinary(into: &out) }
        case .structure(let s):
            out.append(Tag.structure.rawValue)
            Value.appendUnsigned(UInt64(s.count), to: &out)
            for member in s.members {
                Value.appendBytes(member.key, to: &out)
                member.value.encodeBinary(into: &out)
            }
        case .null:
            out.append(Tag.null.rawValue)
        }
    }

    public var binaryEncoded: [UInt8] {
        var out: [UInt8] = []
        encodeBinary(into: &out)
        return out
    }

    /// Decodes what `encodeBinary` wrote; `nil` for truncated or corrupt input.
    public init?(binary bytes: [UInt8]) {
        var reader = BinaryReader(bytes: bytes)
        guard let value = reader.value(depth: 0), reader.atEnd else { return nil }
        self = value
    }

    private static func appendUnsigned(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func appendSigned(_ v: Int64, to out: inout [UInt8]) {
        appendUnsigned(UInt64(bitPattern: (v << 1) ^ (v >> 63)), to: &out)   // zig-zag
    }

    private static func appendBytes(_ s: String, to out: inout [UInt8]) {
        let utf8 = s.utf8
        appendUnsigned(UInt64(utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    private struct BinaryReader {
        let bytes: [UInt8]
        var position = 0
        var atEnd: Bool { position == bytes.count }

        mutating func unsigned() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while position < bytes.count, shift < 64 {
                let b = bytes[position]
                position += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }

        mutating func signed() -> Int64? {
            guard let u = unsigned() else { return nil }
            return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
        }

        mutating func string() -> String? {
            guard let n = unsigned(), n <= UInt64(bytes.count - position) else { return nil }
            let end = position + Int(n)
            defer { position = end }
            return String(validating: bytes[position..<end], as: UTF8.self)
        }

        mutating func value(depth: Int) -> Value? {
            guard depth < 256, position < bytes.count, let tag = Tag(rawValue: bytes[position]) else { return nil }
            position += 1
            switch tag {
            case .string: return string().map(Value.string)
            case .int: return signed().map(Value.int)
            case .int32:
                guard let v = signed(), let i = Int32(exactly: v) else { return nil }
                return .int32(i)
            case .double:
                guard bytes.count - position >= 8 else { return nil }
                var bits: UInt64 = 0
                for i in 0..<8 { bits |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
                position += 8
                return .double(Double(bitPattern: bits))
            case .boolFalse: return .bool(false)
            case .boolTrue: return .bool(true)
            case .dateTime: return signed().map { .dateTime(DateTime(secondsSinceEpoch: $0)) }
            case .array:
                guard let n = unsigned(), n <= UInt64(bytes.count - position) else { return nil }
                var items: [Value] = []
                items.reserveCapacity(Int(n))
                for _ in 0..<n {
                    guard let item = value(depth: depth + 1) else { return nil }
                    items.append(item)
                }
                return .array(items)
            case .structure:
                guard let n = unsigned(), n <= UInt64(bytes.count - position) else { return nil }
                var members: [Structure.Member] = []
                members.reserveCapacity(Int(n))
                for _ in 0..<n {
                    guard let key = string(), let item = value(depth: depth + 1) else { return nil }
                    members.append(.init(key: key, value: item))
                }
                return .structure(Structure(members))
            case .null: return .null
            }
        }
    }
}
