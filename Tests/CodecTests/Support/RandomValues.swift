import XapiDB

/// SplitMix64: tiny, fast, and the same sequence on every platform, so a failing seed can be
/// replayed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int.random(in: 0..<choices.count, using: &self)] }
}

/// Random `Value` trees of the shapes XenAPI traffic has, with strings drawn to hit every
/// escaping path: markup characters, whitespace, non-ASCII, astral characters.
struct ValueGenerator {
    var rng: SeededRandom
    /// Whether strings may hold characters XML cannot carry (dropped by the XML writer).
    var allowControlCharacters = false
    /// Whether strings may hold CR (XML turns it into LF unless written as `&#13;`).
    var allowCarriageReturn = true
    var maxDepth = 5

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func value(depth: Int = 0) -> Value {
        let containers = depth < maxDepth
        switch Int.random(in: 0..<(containers ? 10 : 7), using: &rng) {
        case 0, 1: return .string(string())
        case 2: return .int(int())
        case 3: return .double(double())
        case 4: return .bool(rng.chance(0.5))
        case 5: return .dateTime(DateTime(secondsSinceEpoch: Int64.random(in: 0...4_102_444_800, using: &rng)))
        case 6: return rng.chance(0.3) ? .null : .string(string())
        case 7, 8:
            if rng.chance(0.5) {
                return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in value(depth: depth + 1) })
            }
            fallthrough
        default:
            var structure = Structure()
            var used = Set<String>()
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                let key = rng.chance(0.7) ? rng.pick(Self.fieldNames) : string(maxLength: 8)
                guard used.insert(key).inserted else { continue }
                structure.append(key, value(depth: depth + 1))
            }
            return .structure(structure)
        }
    }

    static let fieldNames = [
        "uuid", "name_label", "name_description", "power_state", "memory_static_max", "other_config",
        "VCPUs_max", "is_a_template", "resident_on", "allowed_operations", "snapshot", "valid_ref_counts",
    ]

    mutating func int() -> Int64 {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: return rng.pick([0, 1, -1, Int64.max, Int64.min, Int64(Int32.max), Int64(Int32.min)])
        case 1: return Int64.random(in: Int64.min...Int64.max, using: &rng)
        default: return Int64.random(in: -100_000...10_000_000_000, using: &rng)
        }
    }

    mutating func double() -> Double {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: return rng.pick([0.0, -0.0, 1.0, 0.5, 0.1, 1e20, 1e-7, 123456.789, -2.5, 1.0 / 3])
        case 1: return Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF) * (rng.chance(0.5) ? 1 : -1)
        default: return Double.random(in: -1e6...1e6, using: &rng)
        }
    }

    private static let pools: [[Unicode.Scalar]] = [
        Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/".unicodeScalars),
        Array("<>&\"';=]][[#".unicodeScalars),
        Array(" \t\n".unicodeScalars),
        Array("éàüß€✓漢字ÿ\u{7F}\u{A0}\u{2028}\u{FFFD}".unicodeScalars),
        Array("😀🎉\u{10000}\u{10FFFF}".unicodeScalars),
    ]

    mutating func string(maxLength: Int = 24) -> String {
        if rng.chance(0.1) { return "" }
        if rng.chance(0.2) { return "OpaqueRef:" + UUIDString.random(using: &rng) }
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 1...maxLength, using: &rng) {
            if allowControlCharacters, rng.chance(0.05) {
                scalars.append(Unicode.Scalar(UInt8.random(in: 0...0x1F, using: &rng)))
            } else if allowCarriageReturn, rng.chance(0.02) {
                scalars.append("\r")
            } else {
                let pool = Self.pools[rng.pick([0, 0, 0, 1, 2, 3, 4])]
                scalars.append(rng.pick(pool))
            }
        }
        return String(scalars)
    }
}

enum UUIDString {
    static func random(using rng: inout SeededRandom) -> String {
        let hex = Array("0123456789abcdef")
        let groups = [8, 4, 4, 4, 12]
        return groups.map { n in String((0..<n).map { _ in rng.pick(hex) }) }.joined(separator: "-")
    }
}
