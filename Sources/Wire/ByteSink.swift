/// Where the wire writers put their bytes. Generic so that one writer both serialises into an
/// array and measures a value's serialised size without allocating (event queues are bounded by
/// bytes, and measuring must be cheap).
public protocol ByteSink {
    mutating func write(_ byte: UInt8)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>)
}

extension ByteSink {
    @inlinable @inline(__always)
    public mutating func write(_ literal: StaticString) {
        write(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inlinable
    public mutating func write(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBufferPointer { write($0) }
    }

    /// Decimal digits of `value`, as OCaml's `%Ld` / `Int64.to_string` print it.
    @inlinable
    public mutating func writeDecimal(_ value: Int64) {
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
    @inlinable @inline(__always)
    public mutating func write(_ byte: UInt8) { append(byte) }
    @inlinable @inline(__always)
    public mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { append(contentsOf: bytes) }
}

/// A growable byte buffer whose writes are a bounds check and a `memcpy`. Serialising a record
/// is hundreds of small writes; through `Array.append(contentsOf:)` each one costs a generic
/// sequence copy, which made the XML-RPC writer a fifth of the server's CPU per `get_record`.
///
/// The writes are inlined into the codecs in other modules, where the optimiser cannot see every
/// access to these fields and would keep a dynamic exclusivity check on each one (that tripled
/// the writers' time). Nothing shares a writer: it lives on one call's stack, so the checks are off.
public final class ByteWriter: ByteSink {
    @exclusivity(unchecked) @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) @usableFromInline var capacity: Int
    @exclusivity(unchecked) @usableFromInline var written = 0
    /// Bytes written so far.
    public var count: Int { written }

    public init(capacity: Int = 4096) {
        self.capacity = Swift.max(64, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inlinable @inline(__always)
    public func write(_ byte: UInt8) {
        if written == capacity { grow(toAtLeast: written + 1) }
        base[written] = byte
        written += 1
    }

    @inlinable @inline(__always)
    public func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        guard n > 0, let source = bytes.baseAddress else { return }
        if written + n > capacity { grow(toAtLeast: written + n) }
        (base + written).update(from: source, count: n)
        written += n
    }

    @usableFromInline
    func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: written)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Appends everything written so far to `array` in one copy.
    public func append(to array: inout [UInt8]) {
        array.append(contentsOf: UnsafeBufferPointer(start: base, count: written))
    }
}

/// A sink that only counts.
public struct ByteCounter: ByteSink {
    public var count = 0
    public init() {}
    @inlinable @inline(__always)
    public mutating func write(_ byte: UInt8) { count += 1 }
    @inlinable @inline(__always)
    public mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { count += bytes.count }
}
