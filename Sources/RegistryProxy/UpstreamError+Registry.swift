import RegistryCore

extension UpstreamError {
    /// The error a client of the mirror sees: what went wrong upstream, named, with the spec's code. An unknown
    /// manifest or blob stays "unknown"; anything else never is (a client would conclude the image does not exist).
    func registryError(notFound: RegistryError) -> RegistryError {
        switch code {
        case .notFound:
            return RegistryError(notFound.code, status: notFound.status, message: "\(notFound.message) (not found at \(upstream))", detail: notFound.detail)
        case .unauthorized:
            return RegistryError(.denied, status: 502, message: "upstream \(upstream) refused the mirror's credentials: \(message)")
        case .rateLimited:
            return RegistryError(.tooManyRequests, status: 429, message: "upstream \(upstream) is rate-limiting the mirror; try again later",
                                 hints: [.retryAfter(seconds: retryAfter ?? 10)])
        case .unavailable:
            return RegistryError(.unknown, status: 503, message: "upstream \(upstream) is unavailable: \(message)",
                                 hints: [.retryAfter(seconds: retryAfter ?? 10)])
        case .tooLarge:
            return RegistryError(.sizeInvalid, status: 502, message: "upstream \(upstream) sent more than the mirror accepts: \(message)")
        default:
            return RegistryError(.unknown, status: 502, message: "upstream \(upstream) failed: \(message)")
        }
    }
}

extension RegistryError {
    /// An upstream that sent bytes that are not what it said they were: never cached, never passed on.
    static func corruptUpstream(_ upstream: String, _ what: String) -> RegistryError {
        RegistryError(.unknown, status: 502, message: "upstream \(upstream) sent \(what) that does not match its digest; nothing was cached")
    }
}
