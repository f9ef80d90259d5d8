import Foundation
import Testing
import XapiDB
@testable import Codec

/// Bounded-time mutation fuzzing of real request bodies. Every mutant must give a value or a
/// `WireError` — never a crash, never a hang — and where Foundation's parser accepts a mutant,
/// ours must accept it with the same result. `CODEC_FUZZ_SECONDS` (default 2 per format)
/// lengthens a run; `CODEC_FUZZ_SEED` replays one.
@Suite(.serialized) struct FuzzTests {
    static var budget: Duration {
        .milliseconds(Int((Double(ProcessInfo.processInfo.environment["CODEC_FUZZ_SECONDS"] ?? "") ?? 2) * 1000))
    }

    static var seed: UInt64 {
        UInt64(ProcessInfo.processInfo.environment["CODEC_FUZZ_SEED"] ?? "") ?? 0xC0DEC
    }

    /// Fragments that steer mutants into interesting corners.
    static let xmlTokens: [String] = [
        "<value>", "</value>", "<string>", "</string>", "<int>", "</int>", "<i4>", "<double>", "<boolean>",
        "<array><data>", "</data></array>", "<struct>", "</struct>", "<member>", "<name>", "</name>", "<nil/>",
        "<value/>", "<![CDATA[", "]]>", "<!--", "-->", "<?pi?>", "<?pi x?>", "<?xml version='1.0'?>", "&amp;", "&lt;",
        "&#65;", "&#x1F600;", "&#0;", "&#xD800;", "&bogus;", "&", "<", ">", "\"", "'", " a='1'", "/>", "\r\n",
        "<!DOCTYPE x>", "<!ENTITY e 'x'>", "\u{FEFF}", "é", "😀", "<base64>", "</base64>", "YWJj", "=",
        "<dateTime.iso8601>", "20250101T00:00:00Z", "9223372036854775808", "-", "1e999",
    ]

    static let jsonTokens: [String] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud83d", "\\ude00", "\\ud800", "true", "false", "null",
        "NaN", "-Infinity", "0", "-0", "1e5", "1.5", "9223372036854775808", "\"jsonrpc\":\"2.0\",", "\"id\":",
        "\"params\":", "é", "😀", " ", "\n", "\u{1}", "\"method\":\"x\"",
    ]

    enum Outcome { case accepted, rejected }

    /// Applies 1–4 random mutations.
    static func mutate(_ input: [UInt8], tokens: [String], seeds: [[UInt8]], rng: inout SeededRandom) -> [UInt8] {
        var bytes = input
        // Mostly single mutations: enough mutants stay well-formed for the oracle comparison to bite.
        for _ in 0..<rng.pick([1, 1, 1, 1, 2, 3, 4]) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !bytes.isEmpty:  // bit flip
                bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:  // random byte
                bytes[position] = UInt8.random(in: 0...255, using: &rng)
            case 2 where !bytes.isEmpty:  // delete a range
                let length = Int.random(in: 1...min(16, bytes.count - position), using: &rng)
                bytes.removeSubrange(position..<(position + length))
            case 3:  // insert a token
                bytes.insert(contentsOf: Array(rng.pick(tokens).utf8), at: position)
            case 4:  // insert random bytes
                bytes.insert(contentsOf: (0..<Int.random(in: 1...4, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: position)
            case 5:  // truncate
                bytes.removeSubrange(position...)
            case 6 where !bytes.isEmpty:  // duplicate a range
                let length = Int.random(in: 1...min(64, bytes.count - position), using: &rng)
                bytes.insert(contentsOf: bytes[position..<(position + length)], at: position)
            default:  // splice in part of another seed
                let other = rng.pick(seeds)
                guard !other.isEmpty else { continue }
                let from = Int.random(in: 0..<other.count, using: &rng)
                let length = Int.random(in: 1...min(128, other.count - from), using: &rng)
                bytes.insert(contentsOf: other[from..<(from + length)], at: position)
            }
        }
        return bytes
    }

    @Test(.timeLimit(.minutes(2))) func xmlrpcMutants() throws {
        var rng = SeededRandom(seed: Self.seed)
        var seeds = [Fixtures.loginRequest, Fixtures.setOtherConfigRequest, Fixtures.eventFromRequest].map { Array($0.utf8) }
        var values = ValueGenerator(seed: Self.seed)
        var renderer = XMLRPCRenderer(seed: Self.seed)
        for _ in 0..<20 {
            seeds.append(Array(renderer.call("VM.x", [values.value(), values.value()]).utf8))
        }
        seeds.append(RoundTripTests.wrapForFuzz(values.value()))

        let clock = ContinuousClock()
        let deadline = clock.now + Self.budget
        var iterations = 0
        var accepted = 0
        var agreed = 0
        var slowest = (Duration.zero, [UInt8]())
        while clock.now < deadline {
            let input = Self.mutate(rng.pick(seeds), tokens: Self.xmlTokens, seeds: seeds, rng: &rng)
            iterations += 1
            let started = clock.now
            let ours = Result { () throws(WireError) in try XMLRPC.parseCall(input) }
            if clock.now - started > slowest.0 { slowest = (clock.now - started, input) }
            if String(validating: input, as: UTF8.self) == nil, case .success = ours {
                Issue.record("accepted invalid UTF-8: \(input)")
            }
            if let trace = ProcessInfo.processInfo.environment["CODEC_FUZZ_TRACE"] {
                _ = FileManager.default.createFile(atPath: trace, contents: Data(input))
            }
            guard let oracle = FoundationXMLRPC.parseCall(input) else { continue }
            let context = Comment(rawValue: "mutant: \(String(decoding: input, as: UTF8.self).debugDescription) bytes \(input)")
            switch (ours, oracle) {
            case (.success(let a), .success(let b)):
                accepted += 1
                agreed += 1
                #expect(a == b, context)
            case (.success, .failure(let why)):
                accepted += 1
                Issue.record("accepted what XMLParser refuses (\(why.reason)); \(context.rawValue)")
            case (.failure(let error), .success):
                // Stricter than libxml2 only where we mean to be: DTDs, depth, encodings other
                // than UTF-8, the XML declaration's grammar (libxml2 lets e.g. a missing space
                // pass), and base64 padding (Foundation's decoder ignores bad padding).
                switch error {
                case .forbidden, .tooDeep, .unsupportedEncoding: break
                case .syntax(_, let reason) where reason.contains("XML declaration"): break
                case .badValue(_, "base64", _): break
                default: Issue.record("refused (\(error)) what XMLParser accepts; \(context.rawValue)")
                }
            case (.failure, .failure):
                break
            }
        }
        #expect(iterations > 500, "the fuzzer barely ran: \(iterations) iterations")
        #expect(accepted > 0 && agreed > 0, "no mutant was accepted; the mutations are too destructive")
        Self.expectNoHang(slowest) { _ = try? XMLRPC.parseCall($0) }
        Self.report("XML-RPC fuzz", iterations: iterations, accepted: accepted, slowest: slowest.0)
    }

    @Test(.timeLimit(.minutes(2))) func jsonMutants() throws {
        var rng = SeededRandom(seed: Self.seed &+ 1)
        var seeds = [
            #"{"jsonrpc":"2.0","method":"session.login_with_password","params":["root","secret","1.0","x"],"id":1}"#,
            #"{"method":"event.from","params":["OpaqueRef:s",["vm","task"],"",30.0],"id":"7"}"#,
        ].map { Array($0.utf8) }
        var values = ValueGenerator(seed: Self.seed)
        var renderer = JSONRenderer(seed: Self.seed)
        for _ in 0..<20 { seeds.append(Array(renderer.render(values.value()).utf8)) }

        let clock = ContinuousClock()
        let deadline = clock.now + Self.budget
        var iterations = 0
        var accepted = 0
        var slowest = (Duration.zero, [UInt8]())
        while clock.now < deadline {
            let input = Self.mutate(rng.pick(seeds), tokens: Self.jsonTokens, seeds: seeds, rng: &rng)
            iterations += 1
            let started = clock.now
            let ours = Result { () throws(WireError) in try JSONText.parse(input) }
            _ = Result { () throws(WireError) in try JSONRPC.parseRequest(input) }
            if clock.now - started > slowest.0 { slowest = (clock.now - started, input) }
            let oracle = FoundationJSON.parse(input)
            let context = Comment(rawValue: "mutant: \(String(decoding: input, as: UTF8.self).debugDescription) bytes \(input)")
            switch (ours, oracle) {
            case (.success(let a), let b?):
                accepted += 1
                #expect(FoundationJSON.equivalent(FoundationJSON.canonical(Self.lastKeyWins(a)), b), context)
            case (.failure(let error), _?):
                if !Self.jsonSerializationLeniency(input) {
                    Issue.record("refused (\(error)) what JSONSerialization accepts; \(context.rawValue)")
                }
            case (.success(let a), nil):
                accepted += 1
                // Our documented extensions: NaN/Infinity tokens, and numbers too large for a double.
                if !Self.usesExtensions(a) {
                    Issue.record("accepted what JSONSerialization refuses; \(context.rawValue)")
                }
            case (.failure, nil):
                break
            }
        }
        #expect(iterations > 500, "the fuzzer barely ran: \(iterations) iterations")
        #expect(accepted > 0)
        Self.expectNoHang(slowest) { _ = try? JSONText.parse($0) }
        Self.report("JSON fuzz", iterations: iterations, accepted: accepted, slowest: slowest.0)
    }

    /// Non-JSON that swift-corelibs-foundation's JSONSerialization accepts and RFC 8259 (and we)
    /// do not: a leading BOM, a NUL byte (it stops reading there), a trailing comma in an array
    /// or object.
    static func jsonSerializationLeniency(_ input: [UInt8]) -> Bool {
        if input.starts(with: [0xEF, 0xBB, 0xBF]) || input.contains(0) { return true }
        var inString = false
        var escaped = false
        var afterComma = false
        for b in input {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true; afterComma = false
            case UInt8(ascii: ","): afterComma = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if afterComma { return true }
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: afterComma = false
            }
        }
        return false
    }

    /// The slowest mutant must parse in well under a second. On this shared machine a single
    /// slow iteration can be a scheduling stall, so the input is timed again before judging.
    static func expectNoHang(_ slowest: (Duration, [UInt8]), _ parse: ([UInt8]) -> Void) {
        guard slowest.0 >= .milliseconds(200) else { return }
        let clock = ContinuousClock()
        let again = (0..<3).map { _ in clock.measure { parse(slowest.1) } }.min()!
        #expect(again < .milliseconds(200), "a \(slowest.1.count)-byte mutant took \(again) to parse: \(slowest.1)")
    }

    /// JSONSerialization keeps the last of duplicate keys; we keep all, in order.
    static func lastKeyWins(_ value: Value) -> Value {
        switch value {
        case .array(let a): return .array(a.map(lastKeyWins))
        case .structure(let s):
            var out = Structure()
            for member in s.members.reversed() where out[member.key] == nil {
                out.append(member.key, lastKeyWins(member.value))
            }
            return .structure(out)
        default: return value
        }
    }

    static func usesExtensions(_ value: Value) -> Bool {
        switch value {
        case .double(let d): return !d.isFinite
        case .array(let a): return a.contains(where: usesExtensions)
        case .structure(let s): return s.members.contains { usesExtensions($0.value) }
        default: return false
        }
    }

    static func report(_ what: String, iterations: Int, accepted: Int, slowest: Duration) {
        guard ProcessInfo.processInfo.environment["CODEC_FUZZ_REPORT"] != nil else { return }
        FileHandle.standardError.write(Data("\(what): \(iterations) mutants, \(accepted) accepted, slowest \(slowest)\n".utf8))
    }
}

extension RoundTripTests {
    static func wrapForFuzz(_ value: Value) -> [UInt8] {
        var out = Array("<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>".utf8)
        value.writeXMLRPC(into: &out)
        out += Array("</param></params></methodCall>".utf8)
        return out
    }
}
