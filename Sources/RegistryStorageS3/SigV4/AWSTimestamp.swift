import Foundation

/// A signing time in UTC, second precision, as Signature Version 4 writes it.
public struct AWSTimestamp: Sendable, Hashable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSince1970: Int64

    /// The time `secondsSince1970` seconds after the Unix epoch.
    public init(secondsSince1970: Int64) {
        self.secondsSince1970 = secondsSince1970
    }

    /// The current time, to the second.
    public static func now() -> AWSTimestamp {
        AWSTimestamp(secondsSince1970: Int64(Date().timeIntervalSince1970.rounded(.down)))
    }

    /// `YYYYMMDD'T'HHMMSS'Z'`, the `X-Amz-Date` form (e.g. `20130524T000000Z`).
    public var basicDateTime: String {
        let (year, month, day) = civilDate
        let secondOfDay = Int(secondsSince1970 - days * 86_400)
        return Self.digits(year, 4) + Self.digits(month, 2) + Self.digits(day, 2) + "T"
            + Self.digits(secondOfDay / 3600, 2) + Self.digits(secondOfDay / 60 % 60, 2) + Self.digits(secondOfDay % 60, 2) + "Z"
    }

    /// `YYYYMMDD`, the date of the credential scope.
    public var basicDate: String {
        let (year, month, day) = civilDate
        return Self.digits(year, 4) + Self.digits(month, 2) + Self.digits(day, 2)
    }

    private var days: Int64 {
        // Floor division, so that times before 1970 land on the right day.
        secondsSince1970 >= 0 ? secondsSince1970 / 86_400 : (secondsSince1970 - 86_399) / 86_400
    }

    /// The proleptic Gregorian date of ``days`` (Howard Hinnant's days-to-civil algorithm).
    private var civilDate: (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
