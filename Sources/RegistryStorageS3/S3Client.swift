import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

/// A small S3 client: the object and multipart operations a blob store needs, signed with ``SigV4Signer``.
///
/// Bodies stream both ways and are never collected, except S3's own small XML answers. Requests that can be replayed
/// (no body, or a body in memory) are retried with backoff after `SlowDown`, 500, 503 and lost connections; a streamed
/// body is sent once, and its failure is the caller's to retry from its source. Every failure is an ``S3Error``.
///
/// The `HTTPClient` is the caller's (the composition root shares one): it should not follow redirects, and its read
/// timeout bounds a stalled transfer.
public final class S3Client: Sendable {
    /// The bucket, endpoint and credentials.
    public let configuration: S3Configuration
    let endpoint: S3Endpoint
    let signer: SigV4Signer
    let httpClient: HTTPClient
    let logger: Logger

    /// A client for `configuration`'s bucket; throws `invalidArgument` for a malformed endpoint or bucket name.
    public init(configuration: S3Configuration, httpClient: HTTPClient, logger: Logger) throws(S3Error) {
        self.configuration = configuration
        self.endpoint = try S3Endpoint(configuration)
        self.signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        self.httpClient = httpClient
        self.logger = logger
    }

    /// The request for `key` in the bucket (`nil`: the bucket itself), addressed as configured.
    func signingRequest(
        _ method: HTTPMethod, key: String?, query: [SigV4QueryItem] = [], headers: [SigV4Header] = []
    ) -> SigV4Request {
        let bucket = configuration.bucket
        let host = endpoint.virtualHost ? "\(bucket).\(endpoint.host)" : endpoint.host
        let path: String
        if endpoint.virtualHost {
            path = "/" + (key ?? "")
        } else {
            path = "/" + bucket + (key.map { "/" + $0 } ?? "")
        }
        return SigV4Request(
            method: method.rawValue, scheme: endpoint.scheme, host: host, port: endpoint.port, path: path, query: query,
            headers: headers)
    }

    /// A URL that lets its bearer `GET` (or `method`) `key` until `expires` seconds from now, without credentials.
    public func presignedURL(_ key: String, method: HTTPMethod = .GET, expires: Int, query: [SigV4QueryItem] = []) throws -> String {
        try Self.validate(key: key)
        return try signer.presign(signingRequest(method, key: key, query: query), expires: expires, at: AWSTimestamp.now()).url
    }

    /// Object keys are 1 to 1024 bytes of UTF-8.
    static func validate(key: String) throws(S3Error) {
        guard (1...1024).contains(key.utf8.count) else {
            throw S3Error(.invalidArgument, "an S3 object key has 1 to 1024 bytes, not \(key.utf8.count)")
        }
    }
}

// The one exchange under every operation: sign, send, retry, map errors.
extension S3Client {
    /// A request body.
    enum RequestBody {
        /// No body: the payload hash is that of zero bytes.
        case none
        /// A body in memory (XML documents, small objects): signed with its SHA-256, so S3 checks it, and replayable.
        case bytes(ByteBuffer)
        /// A streamed body of known length, signed as `payload`, sent once.
        case stream(length: Int64, payload: SigV4Payload, body: HTTPClientRequest.Body)

        var isReplayable: Bool {
            if case .stream = self { false } else { true }
        }
    }

    /// What a request is, for messages and logs.
    struct Operation {
        var name: String
        var method: HTTPMethod
        var key: String?
        var query: [SigV4QueryItem] = []
        var headers: [SigV4Header] = []
        /// Whether a 500 is retried (CompleteMultipartUpload answers RGW's 500 quirk itself).
        var retriesServerErrors = true

        var subject: String { "\(name) \(key.map { "s3 key \($0)" } ?? "bucket")" }
    }

    /// Statuses retried with backoff (as S3 asks: `SlowDown` is 503, `InternalError` 500).
    static let retriedStatuses: Set<UInt> = [500, 502, 503, 504]

    /// Sends `operation` and returns S3's answer when it is a success; otherwise throws the ``S3Error`` it carried.
    ///
    /// The caller consumes (or drops) the answer's body.
    func send(_ operation: Operation, body: RequestBody = .none) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            let request = signingRequest(operation.method, key: operation.key, query: operation.query, headers: operation.headers)
            let payload: SigV4Payload
            var httpBody: HTTPClientRequest.Body?
            var timeout = configuration.requestTimeout
            switch body {
            case .none:
                payload = .empty
            case .bytes(let buffer):
                payload = buffer.withUnsafeReadableBytes { .sha256(of: $0) }
                httpBody = .bytes(buffer)
                timeout += .seconds(buffer.readableBytes >> 20)
            case .stream(let length, let streamPayload, let stream):
                payload = streamPayload
                httpBody = stream
                timeout += .seconds(length >> 20)
            }
            let signed = signer.sign(request, payload: payload, at: AWSTimestamp.now())
            var httpRequest = HTTPClientRequest(url: signed.url)
            httpRequest.method = operation.method
            for header in signed.headers { httpRequest.headers.add(name: header.name, value: header.value) }
            httpRequest.body = httpBody
            let started = ContinuousClock.now
            var failure: S3Error
            do {
                let response = try await httpClient.execute(httpRequest, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
                logger.debug(
                    "s3 request",
                    metadata: [
                        "operation": "\(operation.name)", "key": "\(operation.key ?? "")", "status": "\(response.status.code)",
                        "ms": "\((ContinuousClock.now - started).milliseconds)",
                    ])
                if (200..<300).contains(response.status.code) { return response }
                failure = await error(from: response, operation)
                guard Self.retriedStatuses.contains(response.status.code), operation.retriesServerErrors || response.status.code != 500
                else { throw failure }
            } catch let error as S3Error {
                throw error
            } catch {
                failure = S3Error(.unreachable, "\(operation.subject): no answer from \(endpoint.host)", cause: error)
            }
            guard body.isReplayable, attempt < configuration.maximumRetries, !Task.isCancelled else { throw failure }
            let delay = backoff(attempt: attempt)
            logger.warning(
                "s3 request failed, retrying",
                metadata: ["operation": "\(operation.subject)", "attempt": "\(attempt + 1)", "delay_ms": "\(delay.milliseconds)", "error": "\(failure)"])
            try await Task.sleep(for: delay)
            attempt += 1
        }
    }

    /// The delay before retry `attempt` (from 0): the initial backoff doubled per attempt, up to 5 s, jittered ±25 %.
    func backoff(attempt: Int) -> Duration {
        let base = min(configuration.initialBackoff * (1 << min(attempt, 16)), .seconds(5))
        return base * Double.random(in: 0.75...1.25)
    }

    /// The error S3 answered: its XML error document's code, message and request id, or the status alone.
    func error(from response: HTTPClientResponse, _ operation: Operation) async -> S3Error {
        let status = Int(response.status.code)
        let body = try? await response.body.collect(upTo: 64 * 1024)
        let document = body.flatMap { try? XMLElement.parse(Array($0.readableBytesView)) }
        return S3ErrorDocument.error(
            document, status: status, subject: operation.subject, requestID: response.headers.first(name: "x-amz-request-id"))
    }

    /// Reads one of S3's small XML answers (up to `limit` bytes).
    ///
    /// Some operations (CompleteMultipartUpload, CopyObject, UploadPartCopy) may answer 200 with an error document:
    /// that is thrown as the error it is.
    func document(_ response: HTTPClientResponse, _ operation: Operation, limit: Int = 1 << 20) async throws -> XMLElement {
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: limit)
        } catch {
            throw S3Error(.invalidResponse, "\(operation.subject): the answer is larger than \(limit) bytes or was cut", cause: error)
        }
        let element: XMLElement
        do {
            element = try XMLElement.parse(Array(body.readableBytesView))
        } catch {
            throw S3Error(.invalidResponse, "\(operation.subject): \(error)", status: Int(response.status.code), cause: error)
        }
        if element.name == "Error" {
            throw S3ErrorDocument.error(
                element, status: Int(response.status.code), subject: operation.subject,
                requestID: response.headers.first(name: "x-amz-request-id"))
        }
        return element
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
