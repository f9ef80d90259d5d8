import Testing
@testable import XapiDB

@Suite struct DateTimeTests {
    @Test func formatsLikeXapi() {
        #expect(DateTime.epoch.description == "19700101T00:00:00Z")
        #expect(DateTime(secondsSinceEpoch: 1_742_357_784).description == "20250319T04:16:24Z")
    }

    @Test(arguments: [
        ("20250319T04:16:24Z", Int64(1_742_357_784)),
        ("20250319T04:16:24", 1_742_357_784),
        ("2025-03-19T04:16:24Z", 1_742_357_784),
        ("2025-03-19T04:16:24.123Z", 1_742_357_784),
        ("20250319T06:16:24+02:00", 1_742_357_784),
        ("19700101T00:00:00Z", 0),
    ])
    func parses(text: String, seconds: Int64) {
        #expect(DateTime(parsing: text)?.secondsSinceEpoch == seconds)
    }

    @Test(arguments: ["", "2025", "20251319T04:16:24Z", "20250319T04:16:24Q", "20250319 04-16-24"])
    func rejects(text: String) {
        #expect(DateTime(parsing: text) == nil)
    }
}
