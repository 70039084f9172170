import NIOCore

extension Duration {
    /// This duration as NIO's `TimeAmount` (nanosecond precision, saturating).
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .nanoseconds(seconds < 0 ? .min : .max) }
        return .nanoseconds(nanoseconds &+ attoseconds / 1_000_000_000)
    }

    /// Whole milliseconds, for logs.
    var milliseconds: Int64 {
        components.seconds &* 1000 &+ components.attoseconds / 1_000_000_000_000_000
    }
}
