#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the wire writers put their bytes. Generic so that one writer both serialises into an
/// array and measures a value's serialised size without allocating (event queues are bounded by
/// bytes, and measuring must be cheap).
protocol ByteSink {
    mutating func write(_ byte: UInt8)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>)
}

extension ByteSink {
    @inline(__always)
    mutating func write(_ literal: StaticString) {
        write(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    mutating func write(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBufferPointer { write($0) }
    }

    /// Decimal digits of `value`, as OCaml's `%Ld` / `Int64.to_string` print it.
    mutating func writeDecimal(_ value: Int64) {
        if value >= 0, value < 10 { write(UInt8(truncatingIfNeeded: value) + UInt8(ascii: "0")); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = value.magnitude
            var index = digits.count
            while magnitude > 0 {
                index -= 1
                digits[index] = UInt8(truncatingIfNeeded: magnitude % 10) + UInt8(ascii: "0")
                magnitude /= 10
            }
            if value < 0 { write(UInt8(ascii: "-")) }
            write(UnsafeBufferPointer(rebasing: digits[index...]))
        }
    }
}

extension Array: ByteSink where Element == UInt8 {
    @inline(__always)
    mutating func write(_ byte: UInt8) { append(byte) }
    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { append(contentsOf: bytes) }
}

/// A growable byte buffer whose writes are a bounds check and a `memcpy`. Serialising a record
/// is hundreds of small writes; through `Array.append(contentsOf:)` each one costs a generic
/// sequence copy, which made the XML-RPC writer a fifth of the server's CPU per `get_record`.
final class ByteWriter: ByteSink {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 4096) {
        self.capacity = Swift.max(64, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    func write(_ byte: UInt8) {
        if count == capacity { grow(toAtLeast: count + 1) }
        base[count] = byte
        count += 1
    }

    @inline(__always)
    func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        guard n > 0, let source = bytes.baseAddress else { return }
        if count + n > capacity { grow(toAtLeast: count + n) }
        (base + count).update(from: source, count: n)
        count += n
    }

    private func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Appends everything written so far to `array` in one copy.
    func append(to array: inout [UInt8]) {
        array.append(contentsOf: UnsafeBufferPointer(start: base, count: count))
    }
}

/// A sink that only counts.
struct ByteCounter: ByteSink {
    var count = 0
    @inline(__always)
    mutating func write(_ byte: UInt8) { count += 1 }
    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { count += bytes.count }
}

/// C's `printf("%.<precision>g")`, which is what OCaml's `Printf "%.16g"` ends up calling, so
/// that doubles (including `nan`, `-nan`, `inf`) come out byte-for-byte as xapi prints them.
enum CFloatFormat {
    /// Formats into a stack buffer and hands the printed bytes to `body`.
    static func withFormatted<R>(
        _ value: Double, precision: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R
    ) -> R {
        if precision >= 16, let integral = integralValue(value) {
            return withDecimalDigits(of: integral, body)
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 40) { buffer in
            let written = withVaList([precision, value]) { args in
                vsnprintf(buffer.baseAddress, buffer.count, "%.*g", args)
            }
            let count = Int(max(0, min(written, Int32(buffer.count - 1))))
            // A process that called setlocale() could get a decimal comma; the wire never does.
            for i in 0..<count where buffer[i] == CChar(UInt8(ascii: ",")) {
                buffer[i] = CChar(UInt8(ascii: "."))
            }
            return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count])
                .withMemoryRebound(to: UInt8.self, body)
        }
    }

    /// `value` as an integer when `%.16g` and `%.17g` print it as plain digits: integral and
    /// below 10^15 in magnitude (fewer digits than the precision, so no exponent), but not -0
    /// (which C prints as "-0"). Records hold such doubles (`1.`, `0.`) far more often than
    /// others, and `vsnprintf` through `withVaList` costs microseconds per call.
    @inline(__always)
    static func integralValue(_ value: Double) -> Int64? {
        guard value.magnitude < 1e15, value.rounded(.towardZero) == value,
              !(value == 0 && value.sign == .minus) else { return nil }
        return Int64(value)
    }

    private static func withDecimalDigits<R>(of value: Int64, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { digits in
            var magnitude = value.magnitude
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(truncatingIfNeeded: magnitude % 10) + UInt8(ascii: "0")
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                index -= 1
                digits[index] = UInt8(ascii: "-")
            }
            return body(UnsafeBufferPointer(rebasing: digits[index...]))
        }
    }

    static func write(_ value: Double, precision: Int32, into sink: inout some ByteSink) {
        withFormatted(value, precision: precision) { sink.write($0) }
    }

    static func string(_ value: Double, precision: Int32) -> String {
        withFormatted(value, precision: precision) { String(decoding: $0, as: UTF8.self) }
    }
}
