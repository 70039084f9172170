import HTTPTypes
import Metrics
import Synchronization

/// Per-request metrics: a count by method and status, and a duration histogram by method. The metric handles are
/// made once per label set and kept, so a request costs a dictionary lookup and an atomic add.
final class HTTPMetrics: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    func record(method: HTTPRequest.Method, status: Int, nanoseconds: Int64) {
        let methodName = method.rawValue
        let key = "\(methodName) \(status)"
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "pier_http_requests_total", dimensions: [("method", methodName), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = timers.withLock { timers in
            if let timer = timers[methodName] { return timer }
            let timer = Timer(label: "pier_http_request_duration_seconds", dimensions: [("method", methodName)])
            timers[methodName] = timer
            return timer
        }
        timer.recordNanoseconds(nanoseconds)
    }
}
