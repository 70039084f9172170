import Synchronization

/// Counts failed logins per client address and user name, and refuses that pair once it failed too often within a
/// window, so that passwords cannot be guessed at the speed of the credential cache, while other users behind the
/// same address (a NAT, a CI runner) keep working. A success does not reset the count, and a refused pair is not
/// even checked: the right password learns nothing during the pause.
public final class LoginRateLimiter: Sendable {
    /// Failures tolerated per window; 0 turns the limiter off.
    public let limit: Int
    public let window: Duration

    private struct Record {
        var failures: Int
        var windowStart: ContinuousClock.Instant
    }

    private let records = Mutex<[String: Record]>([:])
    /// Addresses tracked at most; beyond it expired records are dropped, then the oldest.
    private let capacity = 100_000

    public init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// The key of `user` logging in from `client`.
    public static func key(client: String, user: String) -> String {
        client + "\u{0}" + user.prefix(256)
    }

    /// Seconds until `client` may try again, or `nil` when it may try now.
    public func retryAfter(_ client: String, now: ContinuousClock.Instant = .now) -> Int? {
        guard limit > 0 else { return nil }
        return records.withLock { records in
            guard let record = records[client], record.failures >= limit else { return nil }
            let elapsed = now - record.windowStart
            guard elapsed < window else {
                records[client] = nil
                return nil
            }
            let remaining = window - elapsed
            return max(1, Int(remaining.components.seconds) + (remaining.components.attoseconds > 0 ? 1 : 0))
        }
    }

    /// Records a failed login by `client`.
    public func recordFailure(_ client: String, now: ContinuousClock.Instant = .now) {
        guard limit > 0 else { return }
        records.withLock { records in
            if var record = records[client], now - record.windowStart < window {
                record.failures += 1
                records[client] = record
                return
            }
            if records.count >= capacity {
                records = records.filter { now - $0.value.windowStart < window }
                if records.count >= capacity, let oldest = records.min(by: { $0.value.windowStart < $1.value.windowStart }) {
                    records[oldest.key] = nil
                }
            }
            records[client] = Record(failures: 1, windowStart: now)
        }
    }
}
