/// Where a bucket is and how to reach it: Distribution's `storage.s3` keys, as values.
public struct S3Configuration: Sendable {
    /// The bucket (it must exist).
    public var bucket: String
    /// The region of the credential scope (`region`), e.g. `us-east-1`.
    public var region: String
    /// An S3-compatible server instead of AWS (`regionendpoint`): `http://127.0.0.1:7480`, `https://minio:9000`, or
    /// a bare `host[:port]` (then ``secure`` picks the scheme). `nil`: AWS, `s3.<region>.amazonaws.com`.
    public var endpoint: String?
    /// HTTPS when ``endpoint`` names no scheme, and for AWS (`secure`, default true).
    public var secure: Bool
    /// Path-style addressing, `endpoint/bucket/key` (`forcepathstyle`). Otherwise virtual-host style,
    /// `bucket.endpoint/key`, when the bucket's name allows it (lower-case letters, digits and `-` only).
    public var forcePathStyle: Bool
    /// The key pair and session token (`accesskey`, `secretkey`, or `AWS_*` in the environment).
    public var credentials: S3Credentials
    /// `x-amz-storage-class` for new objects (`storageclass`); `nil` leaves S3's default (STANDARD).
    public var storageClass: String?
    /// How many times a request that can be replayed is retried after `SlowDown`, a 500/503 or a lost connection.
    public var maximumRetries: Int
    /// The first retry's delay; it doubles with every retry (with jitter), up to 5 s.
    public var initialBackoff: Duration
    /// How long a request may take to be answered, not counting the time to send its body; a body adds one second
    /// per MiB on top, so a slow but moving upload is not cut.
    public var requestTimeout: Duration
    /// Whether an uploaded body's MD5 is checked against the ETag that S3 answers (PUT and UploadPart of a streamed,
    /// unsigned body). Turn it off for SSE-KMS or SSE-C buckets, whose ETags are not MD5s.
    public var verifiesETags: Bool

    /// A bucket on `endpoint` (or AWS) in `region`.
    public init(
        bucket: String, region: String, endpoint: String? = nil, secure: Bool = true, forcePathStyle: Bool = false,
        credentials: S3Credentials, storageClass: String? = nil, maximumRetries: Int = 4,
        initialBackoff: Duration = .milliseconds(100), requestTimeout: Duration = .seconds(60), verifiesETags: Bool = true
    ) {
        self.bucket = bucket
        self.region = region
        self.endpoint = endpoint
        self.secure = secure
        self.forcePathStyle = forcePathStyle
        self.credentials = credentials
        self.storageClass = storageClass
        self.maximumRetries = maximumRetries
        self.initialBackoff = initialBackoff
        self.requestTimeout = requestTimeout
        self.verifiesETags = verifiesETags
    }
}

/// The scheme, host and port requests go to, and whether the bucket is in the host or the path.
struct S3Endpoint: Sendable, Hashable {
    var scheme: String
    var host: String
    var port: Int?
    var virtualHost: Bool

    /// Resolves a configuration's endpoint; throws `invalidArgument` for a malformed one.
    init(_ configuration: S3Configuration) throws(S3Error) {
        var scheme = configuration.secure ? "https" : "http"
        var authority: Substring
        if let endpoint = configuration.endpoint, !endpoint.isEmpty {
            authority = Substring(endpoint)
            if let separator = endpoint.firstRange(of: "://") {
                scheme = endpoint[..<separator.lowerBound].lowercased()
                authority = endpoint[separator.upperBound...]
            }
            guard scheme == "http" || scheme == "https" else {
                throw S3Error(.invalidArgument, "regionendpoint \(endpoint): the scheme must be http or https")
            }
            if authority.hasSuffix("/") { authority = authority.dropLast() }
            guard !authority.isEmpty, !authority.contains("/"), !authority.contains("?"), !authority.contains("@") else {
                throw S3Error(.invalidArgument, "regionendpoint \(endpoint): expected scheme://host[:port] with no path")
            }
        } else {
            authority = "s3.\(configuration.region).amazonaws.com"
        }
        var host = String(authority)
        var port: Int?
        // host:port, [v6]:port or [v6]
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]"), authority.first != "[" || authority[..<colon].hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(number) else {
                throw S3Error(.invalidArgument, "regionendpoint \(authority): the port must be a number from 1 to 65535")
            }
            port = number
            host = String(authority[..<colon])
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw S3Error(.invalidArgument, "regionendpoint \(authority): no host") }
        let bucket = configuration.bucket
        guard (3...63).contains(bucket.utf8.count) else {
            throw S3Error(.invalidArgument, "bucket \(bucket): a bucket name has 3 to 63 characters")
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        // Why: a bucket name with dots or capitals is no TLS-valid DNS label, and an IP address has no subdomains: SDKs
        // fall back to path style for both.
        let isAddress = host.contains(":") || host.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }
        self.virtualHost = !configuration.forcePathStyle && !isAddress
            && bucket.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }
}
