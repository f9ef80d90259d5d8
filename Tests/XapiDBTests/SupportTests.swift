import Testing
@testable import XapiDB

@Suite struct SupportTests {
    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func md5MatchesRFC1321(input: String, digest: String) {
        #expect(MD5.hex(of: input) == digest)
    }

    @Test func identifiersAreFreshV4UUIDs() {
        let a = Identifiers.uuid()
        #expect(a.count == 36)
        #expect(Array(a)[14] == "4")
        #expect("89ab".contains(Array(a)[19]))
        #expect(a == a.lowercased())
        #expect(Identifiers.uuid() != a)
        #expect(Identifiers.ref().hasPrefix("OpaqueRef:"))
    }

    @Test func binaryFormRoundTrips() {
        let value: Value = .structure([
            "s": .string("héllo\u{0}"), "i": .int(-1 << 62), "i4": .int32(-7), "d": .double(-0.25),
            "b": .bool(true), "f": .bool(false), "t": .dateTime(DateTime(secondsSinceEpoch: 1_700_000_000)),
            "a": .array([.null, .array([]), .structure([:])]),
        ])
        #expect(Value(binary: value.binaryEncoded) == value)
        var truncated = value.binaryEncoded
        truncated.removeLast()
        #expect(Value(binary: truncated) == nil)
        #expect(Value(binary: [0xFF]) == nil)
    }

    @Test func eventTokensUseXapisFormat() {
        let token = EventToken(generation: 12345, messageGeneration: 42)
        #expect(token.description == "00000000000000012345,00000000000000000042")
        #expect(EventToken(parsing: token.description) == token)
        #expect(EventToken(parsing: "") == .beginning)
        #expect(EventToken(parsing: "12") == nil)
        #expect(EventToken(parsing: "1,2,3") == nil)
        #expect(EventToken(parsing: "a,b") == nil)
        #expect(EventToken(parsing: ",") == nil)
    }
}
