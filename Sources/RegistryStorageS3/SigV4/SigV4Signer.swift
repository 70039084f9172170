import Crypto

/// AWS Signature Version 4 for S3: the `Authorization` header of a request, or a presigned URL.
///
/// Small and exact on purpose: every step (canonical request, string to sign, signing key) is exposed so that the
/// tests compare each byte with botocore's signer (`tools/s3/sigv4_reference.py`).
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
public struct SigV4Signer: Sendable {
    /// The key pair and session token.
    public var credentials: S3Credentials
    /// The region of the credential scope (any name works for most S3-compatible servers).
    public var region: String
    /// The service of the credential scope.
    public var service: String

    /// A signer for `service` (S3 by default) in `region`.
    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The algorithm's name, first in the string to sign and the `Authorization` header.
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The longest a presigned URL may live: 7 days.
    public static let maximumExpiry = 604_800

    /// Signs `request` with an `Authorization` header.
    ///
    /// The signed request's headers are those of `request` plus `Host`, `X-Amz-Date`, `X-Amz-Content-SHA256`,
    /// `X-Amz-Security-Token` (with a session token) and `Authorization`; its URL is the one that was signed.
    public func sign(_ request: SigV4Request, payload: SigV4Payload, at time: AWSTimestamp) -> SigV4SignedRequest {
        var headers = request.headers.filter { !Self.addedHeaderNames.contains($0.name.lowercased()) }
        headers.append(SigV4Header("X-Amz-Date", time.basicDateTime))
        headers.append(SigV4Header("X-Amz-Content-SHA256", payload.value))
        if let token = credentials.sessionToken { headers.append(SigV4Header("X-Amz-Security-Token", token)) }
        let canonical = Self.canonicalHeaders(host: request.hostHeader, headers)
        let canonicalRequest = [
            request.method.uppercased(), request.canonicalURI, request.canonicalQueryString,
            canonical.block, canonical.signedHeaders, payload.value,
        ].joined(separator: "\n")
        let stringToSign = self.stringToSign(canonicalRequest, at: time)
        let signature = self.signature(of: stringToSign, at: time)
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope(at: time)), "
            + "SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        var sent = [SigV4Header("Host", request.hostHeader)]
        sent += headers
        sent.append(SigV4Header("Authorization", authorization))
        let query = request.canonicalQueryString
        return SigV4SignedRequest(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            authorization: authorization, headers: sent,
            url: request.origin + request.canonicalURI + (query.isEmpty ? "" : "?" + query))
    }

    /// A presigned URL for `request`, valid for `expires` seconds from `time` (1 s to 7 days).
    ///
    /// The payload is `UNSIGNED-PAYLOAD` (the body is unknown when the URL is made). The URL carries the request's
    /// own query parameters first, in their order, then the `X-Amz-*` authentication parameters, then the signature.
    /// Headers in `request.headers` are signed too and must then be sent with the URL.
    public func presign(_ request: SigV4Request, expires: Int, at time: AWSTimestamp) throws(S3Error) -> SigV4PresignedURL {
        guard (1...Self.maximumExpiry).contains(expires) else {
            throw S3Error(.invalidArgument, "a presigned URL must expire after 1 to \(Self.maximumExpiry) seconds, not \(expires)")
        }
        let headers = request.headers.filter { $0.name.lowercased() != "host" }
        let canonical = Self.canonicalHeaders(host: request.hostHeader, headers)
        var authentication = [
            SigV4QueryItem("X-Amz-Algorithm", Self.algorithm),
            SigV4QueryItem("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope(at: time))"),
            SigV4QueryItem("X-Amz-Date", time.basicDateTime),
            SigV4QueryItem("X-Amz-Expires", String(expires)),
            SigV4QueryItem("X-Amz-SignedHeaders", canonical.signedHeaders),
        ]
        if let token = credentials.sessionToken { authentication.append(SigV4QueryItem("X-Amz-Security-Token", token)) }
        let canonicalRequest = [
            request.method.uppercased(), request.canonicalURI,
            SigV4Request.canonicalQueryString(request.query + authentication),
            canonical.block, canonical.signedHeaders, SigV4Payload.unsigned.value,
        ].joined(separator: "\n")
        let stringToSign = self.stringToSign(canonicalRequest, at: time)
        let signature = self.signature(of: stringToSign, at: time)
        let query = (request.query + authentication + [SigV4QueryItem("X-Amz-Signature", signature)])
            .map { S3URIEncoding.queryComponent($0.name) + "=" + S3URIEncoding.queryComponent($0.value) }
            .joined(separator: "&")
        return SigV4PresignedURL(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            url: request.origin + request.canonicalURI + "?" + query)
    }

    /// The credential scope: `date/region/service/aws4_request`.
    public func scope(at time: AWSTimestamp) -> String {
        "\(time.basicDate)/\(region)/\(service)/aws4_request"
    }

    /// The string to sign: algorithm, time, scope and the canonical request's SHA-256, one per line.
    public func stringToSign(_ canonicalRequest: String, at time: AWSTimestamp) -> String {
        let hash = hexadecimal(SHA256.hash(data: Array(canonicalRequest.utf8)))
        return [Self.algorithm, time.basicDateTime, scope(at: time), hash].joined(separator: "\n")
    }

    /// The hex HMAC-SHA256 of `stringToSign` under the signing key derived from the secret, date, region and service.
    public func signature(of stringToSign: String, at time: AWSTimestamp) -> String {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [time.basicDate, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return hexadecimal(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    /// Headers the signer sets itself; the caller's copies are dropped.
    private static let addedHeaderNames: Set<String> = [
        "host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization",
    ]

    /// The canonical headers block (`name:value` lines, a trailing newline) and the signed headers list.
    ///
    /// Names are lower-cased and sorted; values trimmed, runs of spaces and tabs collapsed to one space; the values
    /// of a repeated header are joined by `,` in the order given.
    static func canonicalHeaders(host: String, _ headers: [SigV4Header]) -> (block: String, signedHeaders: String) {
        var values: [String: [String]] = ["host": [host]]
        for header in headers {
            values[header.name.lowercased(), default: []].append(trimmed(header.value))
        }
        let sorted = values.sorted { Array($0.key.utf8).lexicographicallyPrecedes($1.key.utf8) }
        let block = sorted.map { "\($0.key):\($0.value.joined(separator: ","))\n" }.joined()
        return (block, sorted.map(\.key).joined(separator: ";"))
    }

    /// A header value with leading and trailing whitespace removed and inner runs collapsed to one space.
    static func trimmed(_ value: String) -> String {
        value.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            .map { String(decoding: $0, as: UTF8.self) }
            .joined(separator: " ")
    }
}

/// A request signed with an `Authorization` header.
public struct SigV4SignedRequest: Sendable, Hashable {
    /// The canonical request that was hashed (for diagnostics and tests).
    public var canonicalRequest: String
    /// The string that was signed.
    public var stringToSign: String
    /// The signature, 64 hex digits.
    public var signature: String
    /// The `Authorization` header's value.
    public var authorization: String
    /// Every header to send, `Host` and `Authorization` included.
    public var headers: [SigV4Header]
    /// The URL to send, exactly as signed (path encoded once, query in canonical order).
    public var url: String
}

/// A presigned URL.
public struct SigV4PresignedURL: Sendable, Hashable {
    /// The canonical request that was hashed.
    public var canonicalRequest: String
    /// The string that was signed.
    public var stringToSign: String
    /// The signature, also the URL's `X-Amz-Signature`.
    public var signature: String
    /// The URL, authentication in its query.
    public var url: String
}
