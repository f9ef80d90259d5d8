#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// C's `printf("%.<precision>g")`, which is what OCaml's `Printf "%.16g"` ends up calling, so
/// that doubles (including `nan`, `-nan`, `inf`) come out byte-for-byte as xapi prints them.
public enum CFloatFormat {
    /// Formats into a stack buffer and hands the printed bytes to `body`.
    public static func withFormatted<R>(
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
    @inlinable @inline(__always)
    public static func integralValue(_ value: Double) -> Int64? {
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

    public static func write(_ value: Double, precision: Int32, into sink: inout some ByteSink) {
        withFormatted(value, precision: precision) { sink.write($0) }
    }

    public static func string(_ value: Double, precision: Int32) -> String {
        withFormatted(value, precision: precision) { String(decoding: $0, as: UTF8.self) }
    }
}
