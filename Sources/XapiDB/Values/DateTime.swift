#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A XenAPI `datetime`: whole seconds, always UTC on output (`YYYYMMDDTHH:MM:SSZ`, as xapi's
/// `Date.to_rfc3339` writes everything it generates).
public struct DateTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var secondsSinceEpoch: Int64
    /// A wall-clock reading of the server's zone, written without a zone (xapi's
    /// `Date.localtime`, for `host.get_server_localtime`); every other time is UTC and ends in `Z`.
    public var isLocalTime = false

    public init(secondsSinceEpoch: Int64) {
        self.secondsSinceEpoch = secondsSinceEpoch
    }

    /// Now on the server's wall clock: UTC shifted by the zone's current offset, no zone written.
    public static func localNow() -> DateTime {
        var t = time_t(now().secondsSinceEpoch)
        var parts = tm()
        localtime_r(&t, &parts)
        var local = DateTime(secondsSinceEpoch: Int64(t) + Int64(parts.tm_gmtoff))
        local.isLocalTime = true
        return local
    }

    /// `19700101T00:00:00Z`, xapi's null date.
    public static let epoch = DateTime(secondsSinceEpoch: 0)

    public static func now() -> DateTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return DateTime(secondsSinceEpoch: Int64(ts.tv_sec))
    }

    public static func < (a: DateTime, b: DateTime) -> Bool { a.secondsSinceEpoch < b.secondsSinceEpoch }

    /// `YYYYMMDDTHH:MM:SSZ`.
    public var description: String {
        var t = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + (isLocalTime ? "" : "Z")
    }

    /// Accepts what xapi's `Date.of_iso8601` accepts: the compact `20240101T12:34:56` form with
    /// `Z`, a `±HH:MM` offset or no zone (treated as UTC, which is how Python's `DateTime`
    /// values arrive), and full RFC 3339 with dashes and optional fractional seconds.
    public init?(parsing text: String) {
        var bytes = Array(text.utf8)[...]
        func number(_ width: Int) -> Int? {
            guard bytes.count >= width else { return nil }
            var v = 0
            for b in bytes.prefix(width) {
                guard b >= 0x30, b <= 0x39 else { return nil }
                v = v * 10 + Int(b - 0x30)
            }
            bytes = bytes.dropFirst(width)
            return v
        }
        func skip(_ c: UInt8) -> Bool {
            if bytes.first == c { bytes = bytes.dropFirst(); return true }
            return false
        }
        guard let year = number(4) else { return nil }
        let dashed = skip(UInt8(ascii: "-"))
        guard let month = number(2) else { return nil }
        if dashed, !skip(UInt8(ascii: "-")) { return nil }
        guard let day = number(2) else { return nil }
        guard skip(UInt8(ascii: "T")) || skip(UInt8(ascii: "t")) || skip(UInt8(ascii: " ")) else { return nil }
        guard let hour = number(2), skip(UInt8(ascii: ":")),
              let minute = number(2), skip(UInt8(ascii: ":")),
              let second = number(2)
        else { return nil }
        if skip(UInt8(ascii: ".")) {
            while let b = bytes.first, b >= 0x30, b <= 0x39 { bytes = bytes.dropFirst() }
        }
        var offset = 0
        if skip(UInt8(ascii: "Z")) || skip(UInt8(ascii: "z")) {
        } else if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            bytes = bytes.dropFirst()
            guard let oh = number(2) else { return nil }
            _ = skip(UInt8(ascii: ":"))
            guard let om = number(2) else { return nil }
            offset = (oh * 3600 + om * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        }
        guard bytes.isEmpty,
              (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second <= 60
        else { return nil }
        self.init(secondsSinceEpoch: DateTime.daysFromCivil(year, month, day) * 86400
            + Int64(hour * 3600 + minute * 60 + second - offset))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
