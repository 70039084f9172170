/// Where an upstream registry is and how Pier talks to it: credentials, retries and timeouts.
public struct UpstreamConfiguration: Sendable, Equatable {
    /// Base URL without trailing slash, e.g. "https://registry-1.docker.io" or "http://127.0.0.1:5600".
    public var url: String
    /// User name for the upstream (sent to its token endpoint, or as basic auth when it asks for basic), used only
    /// together with a non-empty ``password``.
    public var username: String?
    /// Password or access token for the upstream, used only together with a non-empty ``username``. Never logged.
    public var password: String?
    /// Retries after the first attempt for 429, 502, 503, 504 and connection failures (exponential backoff,
    /// honouring Retry-After up to maximumBackoff; never sleep longer than maximumBackoff per retry).
    public var retries: Int = 2
    /// The longest sleep before one retry. A Retry-After longer than this ends the retries.
    public var maximumBackoff: Duration = .seconds(2)
    /// The longest time to establish a connection.
    public var connectTimeout: Duration = .seconds(10)
    /// Longest silence while reading a response (headers or body) before the request fails as unreachable.
    ///
    /// The response head is bounded by `connectTimeout + readTimeout` per attempt whatever the HTTP client.
    /// Silence between body chunks is bounded by the `HTTPClient`'s own read timeout, which
    /// ``UpstreamClient/makeHTTPClient(configuration:)`` sets from this value.
    public var readTimeout: Duration = .seconds(30)

    /// A configuration for the upstream at `url` with default retries and timeouts.
    public init(url: String, username: String? = nil, password: String? = nil) {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        self.url = url
        self.username = username
        self.password = password
    }

    /// The user name and password sent upstream: both, when both are non-empty; otherwise Pier is anonymous.
    // Why: Distribution sends Basic credentials (to the registry and to its token service) only when both are
    // non-empty. `REGISTRY_PROXY_USERNAME=` from a compose file whose variable is unset must mean anonymous, not a
    // user "" that a token service refuses.
    var credentials: (username: String, password: String)? {
        guard let username, let password, !username.isEmpty, !password.isEmpty else { return nil }
        return (username, password)
    }

    /// True when both a user name and a password are configured and non-empty.
    var hasCredentials: Bool { credentials != nil }
}

extension UpstreamConfiguration: CustomStringConvertible {
    /// The upstream's URL and user name; never the password.
    public var description: String {
        "UpstreamConfiguration(url: \(url), username: \(username ?? "nil"), password: \(password == nil ? "nil" : "<redacted>"))"
    }
}
