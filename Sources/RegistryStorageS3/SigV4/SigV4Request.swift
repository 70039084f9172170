import Crypto

/// One query parameter, decoded (`prefix=a b`, not `prefix=a%20b`).
public struct SigV4QueryItem: Sendable, Hashable {
    public var name: String
    public var value: String

    /// A parameter; a valueless one such as `?uploads` has the empty value.
    public init(_ name: String, _ value: String = "") {
        self.name = name
        self.value = value
    }
}

/// One request header as it will be sent.
public struct SigV4Header: Sendable, Hashable {
    public var name: String
    public var value: String

    /// A header; the name's case does not matter.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A request to sign: everything that goes into the canonical request except the payload hash.
public struct SigV4Request: Sendable, Hashable {
    /// `http` or `https`: with ``port``, decides whether the `Host` header names the port.
    public var scheme: String
    /// The host name or IP address (an IPv6 address with or without its brackets).
    public var host: String
    /// The port, when it is not the scheme's default.
    public var port: Int?
    /// The method, e.g. `GET`.
    public var method: String
    /// The decoded path, starting with `/`: `/bucket/a key` (path style) or `/a key` (virtual-host style).
    public var path: String
    /// The decoded query parameters, in any order (repeated names allowed).
    public var query: [SigV4QueryItem]
    /// Headers to sign and send besides `Host` and the `X-Amz-*` headers the signer adds. Headers not meant to be
    /// signed (`User-Agent`, `Content-Length`, `Transfer-Encoding`, `Expect`) do not belong here. A `Host` given
    /// here is ignored: the signer always derives it from ``host`` and ``port``.
    public var headers: [SigV4Header]

    /// A request to `scheme://host[:port]path?query`.
    public init(
        method: String, scheme: String, host: String, port: Int? = nil, path: String,
        query: [SigV4QueryItem] = [], headers: [SigV4Header] = []
    ) {
        self.method = method
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.headers = headers
    }

    /// The `Host` header: the host lower-cased, with the port only when it is not the scheme's default.
    public var hostHeader: String {
        var name = host.lowercased()
        if name.contains(":"), !name.hasPrefix("[") { name = "[\(name)]" }
        let defaultPort = scheme.lowercased() == "https" ? 443 : 80
        if let port, port != defaultPort { name += ":\(port)" }
        return name
    }

    /// `scheme://host[:port]`, the URL's origin.
    public var origin: String {
        "\(scheme.lowercased())://\(hostHeader)"
    }

    /// The path as sent and signed: encoded once, `/` kept, never normalised; `/` when empty.
    public var canonicalURI: String {
        path.isEmpty ? "/" : S3URIEncoding.path(path)
    }

    /// The query as sent and signed: each name and value encoded, sorted by name then value, `name=value` joined
    /// by `&` (a valueless parameter becomes `name=`).
    public var canonicalQueryString: String {
        Self.canonicalQueryString(query)
    }

    static func canonicalQueryString(_ items: [SigV4QueryItem]) -> String {
        items.map { (S3URIEncoding.queryComponent($0.name), S3URIEncoding.queryComponent($0.value)) }
            .sorted { left, right in
                left.0 == right.0 ? Array(left.1.utf8).lexicographicallyPrecedes(right.1.utf8)
                    : Array(left.0.utf8).lexicographicallyPrecedes(right.0.utf8)
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }
}

/// What stands for the body in the canonical request: its SHA-256 in hex, or `UNSIGNED-PAYLOAD`.
public struct SigV4Payload: Sendable, Hashable, CustomStringConvertible {
    /// The `x-amz-content-sha256` value.
    public let value: String

    private init(value: String) { self.value = value }

    /// The body is not signed (over TLS, or when S3 checks it another way, e.g. the part's MD5 ETag).
    public static let unsigned = SigV4Payload(value: "UNSIGNED-PAYLOAD")
    /// No body: the SHA-256 of zero bytes.
    public static let empty = SigV4Payload.sha256(of: [UInt8]())

    /// The SHA-256 of `bytes`.
    public static func sha256(of bytes: some Sequence<UInt8>) -> SigV4Payload {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return SigV4Payload(value: hexadecimal(hasher.finalize()))
    }

    /// A body hash already computed (64 lower-case hex digits), e.g. while the body was spooled.
    public static func sha256(hex: String) -> SigV4Payload? {
        guard hex.utf8.count == 64,
            hex.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else { return nil }
        return SigV4Payload(value: hex)
    }

    public var description: String { value }
}

/// Lower-case hex of a digest or MAC.
func hexadecimal(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var output: [UInt8] = []
    for byte in bytes {
        output.append(digits[Int(byte >> 4)])
        output.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: output, as: UTF8.self)
}
