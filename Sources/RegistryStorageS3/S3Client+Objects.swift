import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// What S3 says about a stored object.
public struct S3ObjectMetadata: Sendable, Hashable {
    /// The object's size in bytes (the whole object's, also for a ranged GET).
    public var size: Int64
    /// The ETag without its quotes: the MD5 of a simple upload, `<md5 of md5s>-<parts>` of a multipart one.
    public var eTag: String
    /// The `Content-Type` S3 stored.
    public var contentType: String?
    /// `Last-Modified` as S3 wrote it (an HTTP date).
    public var lastModified: String?
}

/// An object being read: its metadata, the range answered, and its bytes as they arrive.
public struct S3ObjectStream: Sendable {
    /// The object's metadata.
    public var metadata: S3ObjectMetadata
    /// The bytes in ``body``: the requested range, clamped to the object's end, or the whole object.
    public var range: Range<Int64>
    /// The bytes, streamed. Consume it, or drop it to close the connection.
    public var body: S3ObjectBody
}

extension S3Client {
    /// Stores `bytes` (a small object, in memory) at `key`: signed with its SHA-256, retried when S3 is busy.
    /// - Returns: the object's ETag.
    @discardableResult
    public func putObject(_ key: String, bytes: ByteBuffer, contentType: String? = nil) async throws -> String {
        try Self.validate(key: key)
        let operation = Operation(name: "PutObject", method: .PUT, key: key, headers: objectHeaders(contentType: contentType))
        let response = try await send(operation, body: .bytes(bytes))
        return try eTag(of: response, operation)
    }

    /// Streams `length` bytes from `body` to `key`, holding none of them.
    ///
    /// - Parameter payload: the body's SHA-256 when the caller knows it (a content-addressed blob: its digest), so S3
    ///   refuses other bytes; otherwise `UNSIGNED-PAYLOAD`, and the MD5 that S3 answers as ETag is checked against
    ///   the bytes sent (unless ``S3Configuration/verifiesETags`` is off).
    /// - Returns: the object's ETag.
    @discardableResult
    public func putObject<Body: AsyncSequence & Sendable>(
        _ key: String, body: Body, length: Int64, payload: SigV4Payload = .unsigned, contentType: String? = nil
    ) async throws -> String where Body.Element == ByteBuffer {
        try Self.validate(key: key)
        let operation = Operation(name: "PutObject", method: .PUT, key: key, headers: objectHeaders(contentType: contentType))
        return try await sendStreaming(operation, body: body, length: length, payload: payload)
    }

    /// Reads `key`, or the bytes of `range` in it, as a stream.
    ///
    /// A range past the end is clamped to it; one starting at or after the end is `invalidRange`.
    public func getObject(_ key: String, range: Range<Int64>? = nil) async throws -> S3ObjectStream {
        try Self.validate(key: key)
        var headers: [SigV4Header] = []
        if let range {
            guard range.lowerBound >= 0, !range.isEmpty else {
                throw S3Error(.invalidArgument, "GetObject s3 key \(key): the range \(range) is empty or negative")
            }
            headers.append(SigV4Header("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        let operation = Operation(name: "GetObject", method: .GET, key: key, headers: headers)
        let response = try await send(operation)
        let length = response.headers.first(name: "content-length").flatMap { Int64($0) }
        let contentRange = response.headers.first(name: "content-range").flatMap(Self.parseContentRange)
        var metadata = try self.metadata(of: response, operation)
        let answered: Range<Int64>
        if response.status == .partialContent {
            guard let contentRange else {
                throw S3Error(.invalidResponse, "\(operation.subject): 206 without a valid Content-Range", status: 206)
            }
            answered = contentRange.range
            metadata.size = contentRange.size
        } else {
            answered = 0..<metadata.size
        }
        guard length == nil || length == Int64(answered.count) else {
            throw S3Error(.invalidResponse, "\(operation.subject): Content-Length \(length ?? 0) for the range \(answered)")
        }
        return S3ObjectStream(
            metadata: metadata, range: answered,
            body: S3ObjectBody(response.body, expectedLength: Int64(answered.count), subject: operation.subject))
    }

    /// The metadata of `key`; `nil` when there is no such object.
    public func headObject(_ key: String) async throws -> S3ObjectMetadata? {
        try Self.validate(key: key)
        let operation = Operation(name: "HeadObject", method: .HEAD, key: key)
        do {
            let response = try await send(operation)
            return try metadata(of: response, operation)
        } catch let error as S3Error where error.code == .noSuchKey {
            return nil
        }
    }

    /// Removes `key`. Removing an absent object is not an error (S3 answers 204 either way).
    public func deleteObject(_ key: String) async throws {
        try Self.validate(key: key)
        _ = try await send(Operation(name: "DeleteObject", method: .DELETE, key: key))
    }

    /// Copies `source` to `destination` inside the bucket, server-side (objects up to 5 GiB; see
    /// ``copyLargeObject(_:to:size:partSize:)`` for larger ones).
    /// - Returns: the copy's ETag.
    @discardableResult
    public func copyObject(_ source: String, to destination: String) async throws -> String {
        try Self.validate(key: source)
        try Self.validate(key: destination)
        var headers = objectHeaders(contentType: nil)
        headers.append(copySourceHeader(source))
        let operation = Operation(name: "CopyObject", method: .PUT, key: destination, headers: headers)
        let response = try await send(operation)
        let result = try await document(response, operation)
        guard let eTag = result["ETag"].map(Self.unquoted), !eTag.isEmpty else {
            throw S3Error(.invalidResponse, "\(operation.subject): no ETag in the copy's result")
        }
        return eTag
    }

    /// Creates the bucket of the configuration; one that this account already owns is not an error.
    public func createBucket() async throws {
        var body: ByteBuffer?
        // Why: us-east-1 is S3's default location and refuses to be named as a constraint.
        if configuration.region != "us-east-1" {
            body = ByteBuffer(
                string: "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
                    + XMLText.escaped(configuration.region) + "</LocationConstraint></CreateBucketConfiguration>")
        }
        do {
            _ = try await send(Operation(name: "CreateBucket", method: .PUT, key: nil), body: body.map { .bytes($0) } ?? .none)
        } catch let error as S3Error where error.s3Code == "BucketAlreadyOwnedByYou" {
            return
        }
    }

    /// Deletes the (empty) bucket of the configuration.
    public func deleteBucket() async throws {
        _ = try await send(Operation(name: "DeleteBucket", method: .DELETE, key: nil))
    }

    /// Headers of a new object: its type and the configured storage class.
    func objectHeaders(contentType: String?) -> [SigV4Header] {
        var headers: [SigV4Header] = []
        if let contentType { headers.append(SigV4Header("Content-Type", contentType)) }
        if let storageClass = configuration.storageClass { headers.append(SigV4Header("x-amz-storage-class", storageClass)) }
        return headers
    }

    /// `x-amz-copy-source: bucket/key`, URL-encoded as S3 requires.
    func copySourceHeader(_ source: String) -> SigV4Header {
        SigV4Header("x-amz-copy-source", S3URIEncoding.path(configuration.bucket + "/" + source))
    }

    /// Sends a streamed body once, checking S3's MD5 ETag against the bytes sent when the payload is unsigned.
    func sendStreaming<Body: AsyncSequence & Sendable>(
        _ operation: Operation, body: Body, length: Int64, payload: SigV4Payload
    ) async throws -> String where Body.Element == ByteBuffer {
        guard length >= 0 else { throw S3Error(.invalidArgument, "\(operation.subject): negative length \(length)") }
        let digest = BodyDigest()
        let counted = body.map { buffer in
            digest.update(buffer)
            return buffer
        }
        let response = try await send(operation, body: .stream(length: length, payload: payload, body: .stream(counted, length: .known(length))))
        let eTag = try eTag(of: response, operation)
        let sent = digest.finalize()
        guard sent.count == length else {
            throw S3Error(.corruptTransfer, "\(operation.subject): \(sent.count) bytes sent for a length of \(length)")
        }
        if configuration.verifiesETags, payload == .unsigned, Self.isMD5(eTag), eTag != sent.md5 {
            throw S3Error(.corruptTransfer, "\(operation.subject): S3 stored bytes whose MD5 is \(eTag), sent \(sent.md5)")
        }
        return eTag
    }

    func eTag(of response: HTTPClientResponse, _ operation: Operation) throws -> String {
        guard let eTag = response.headers.first(name: "etag").map(Self.unquoted), !eTag.isEmpty else {
            throw S3Error(.invalidResponse, "\(operation.subject): no ETag in the answer", status: Int(response.status.code))
        }
        return eTag
    }

    func metadata(of response: HTTPClientResponse, _ operation: Operation) throws -> S3ObjectMetadata {
        guard let size = response.headers.first(name: "content-length").flatMap({ Int64($0) }) else {
            throw S3Error(.invalidResponse, "\(operation.subject): no Content-Length in the answer", status: Int(response.status.code))
        }
        return S3ObjectMetadata(
            size: size, eTag: response.headers.first(name: "etag").map(Self.unquoted) ?? "",
            contentType: response.headers.first(name: "content-type"), lastModified: response.headers.first(name: "last-modified"))
    }

    /// `bytes first-last/size` as a range and the object's size.
    static func parseContentRange(_ value: String) -> (range: Range<Int64>, size: Int64)? {
        guard value.hasPrefix("bytes ") else { return nil }
        let parts = value.dropFirst(6).split(separator: "/")
        guard parts.count == 2, let size = Int64(parts[1]) else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first <= last, last < size else { return nil }
        return (first..<last + 1, size)
    }

    static func unquoted(_ eTag: String) -> String {
        var value = Substring(eTag)
        if value.hasPrefix("W/") { value = value.dropFirst(2) }
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = value.dropFirst().dropLast() }
        return String(value)
    }

    static func isMD5(_ eTag: String) -> Bool {
        eTag.utf8.count == 32 && eTag.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
