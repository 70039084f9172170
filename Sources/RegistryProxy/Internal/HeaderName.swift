/// HTTP header names the upstream client reads or writes, each written once.
enum HeaderName {
    static let accept = "Accept"
    static let authorization = "Authorization"
    static let contentLength = "Content-Length"
    static let contentType = "Content-Type"
    static let dockerContentDigest = "Docker-Content-Digest"
    static let link = "Link"
    static let location = "Location"
    static let ociFiltersApplied = "OCI-Filters-Applied"
    static let retryAfter = "Retry-After"
    static let userAgent = "User-Agent"
    static let wwwAuthenticate = "WWW-Authenticate"
}

/// The `User-Agent` Pier sends upstream.
let upstreamUserAgent = "pier/0.1.0 (pull-through cache)"
