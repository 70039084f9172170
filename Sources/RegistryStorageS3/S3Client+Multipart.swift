import NIOCore
import NIOHTTP1

/// A part to assemble in ``S3Client/completeMultipartUpload(_:uploadID:parts:)``.
public struct S3CompletedPart: Sendable, Hashable {
    /// 1 to 10,000.
    public var partNumber: Int
    /// The ETag UploadPart or UploadPartCopy answered.
    public var eTag: String

    public init(partNumber: Int, eTag: String) {
        self.partNumber = partNumber
        self.eTag = eTag
    }
}

/// A part S3 holds for a multipart upload in progress.
public struct S3UploadedPart: Sendable, Hashable {
    public var partNumber: Int
    public var eTag: String
    public var size: Int64
}

/// One page of ``S3Client/listParts(_:uploadID:after:maximum:)``.
public struct S3PartsPage: Sendable {
    /// The parts, by part number.
    public var parts: [S3UploadedPart]
    /// Where the next page starts, when there is one.
    public var nextPartNumberMarker: Int?
}

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
extension S3Client {
    /// Parts other than the last must have at least 5 MiB.
    public static let minimumPartSize: Int64 = 5 << 20
    /// A single PUT or copy, and a part, have at most 5 GiB.
    public static let maximumPartSize: Int64 = 5 << 30
    /// An upload has at most 10,000 parts.
    public static let maximumPartNumber = 10_000

    /// Starts a multipart upload to `key`; its upload id.
    public func createMultipartUpload(_ key: String, contentType: String? = nil) async throws -> String {
        try Self.validate(key: key)
        let operation = Operation(
            name: "CreateMultipartUpload", method: .POST, key: key, query: [SigV4QueryItem("uploads")],
            headers: objectHeaders(contentType: contentType))
        let result = try await document(try await send(operation), operation)
        guard let uploadID = result["UploadId"], !uploadID.isEmpty else {
            throw S3Error(.invalidResponse, "\(operation.subject): no UploadId in the answer")
        }
        return uploadID
    }

    /// Streams part `partNumber` (`length` bytes) of an upload; its ETag. As ``putObject(_:body:length:payload:contentType:)``,
    /// an unsigned body is checked against the MD5 ETag.
    @discardableResult
    public func uploadPart<Body: AsyncSequence & Sendable>(
        _ key: String, uploadID: String, partNumber: Int, body: Body, length: Int64, payload: SigV4Payload = .unsigned
    ) async throws -> String where Body.Element == ByteBuffer {
        let operation = try partOperation("UploadPart", key: key, uploadID: uploadID, partNumber: partNumber)
        return try await withUploadQuirks(operation) {
            try await sendStreaming(operation, body: body, length: length, payload: payload)
        }
    }

    /// Part `partNumber` of an upload from `range` of the object `source`, server-side; its ETag.
    @discardableResult
    public func uploadPartCopy(_ key: String, uploadID: String, partNumber: Int, from source: String, range: Range<Int64>) async throws -> String {
        try Self.validate(key: source)
        var operation = try partOperation("UploadPartCopy", key: key, uploadID: uploadID, partNumber: partNumber)
        guard range.lowerBound >= 0, !range.isEmpty, Int64(range.count) <= Self.maximumPartSize else {
            throw S3Error(.invalidArgument, "\(operation.subject): the copied range \(range) must hold 1 byte to 5 GiB")
        }
        operation.headers = [
            copySourceHeader(source), SigV4Header("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"),
        ]
        do {
            let result = try await document(try await send(operation), operation)
            guard let eTag = result["ETag"].map(Self.unquoted), !eTag.isEmpty else {
                throw S3Error(.invalidResponse, "\(operation.subject): no ETag in the part copy's result")
            }
            return eTag
        } catch let error as S3Error where error.code == .noSuchKey {
            // NoSuchKey names the source here, unless the upload is gone (RGW's NoSuchKey for NoSuchUpload).
            guard try await uploadExists(key, uploadID: uploadID) else {
                throw S3Error(.noSuchUpload, "\(operation.subject): no such upload", s3Code: error.s3Code, status: error.status)
            }
            throw error
        }
    }

    /// Assembles `parts` (in part-number order) into the upload's object; the object's ETag.
    ///
    /// Retried after a 500 only while the upload still exists: Ceph RGW answers 500 "multipart completion is already
    /// in progress" to the completion of an upload that was aborted or never existed, where AWS says NoSuchUpload.
    @discardableResult
    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [S3CompletedPart]) async throws -> String {
        try Self.validate(key: key)
        var operation = Operation(
            name: "CompleteMultipartUpload", method: .POST, key: key, query: [SigV4QueryItem("uploadId", uploadID)])
        operation.retriesServerErrors = false
        guard !parts.isEmpty else { throw S3Error(.invalidArgument, "\(operation.subject): no parts to complete") }
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            xml += "<Part><PartNumber>\(part.partNumber)</PartNumber><ETag>\"\(XMLText.escaped(part.eTag))\"</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        var attempt = 0
        while true {
            do {
                let result = try await document(try await send(operation, body: .bytes(ByteBuffer(string: xml))), operation)
                if let eTag = result["ETag"].map(Self.unquoted), !eTag.isEmpty { return eTag }
                // Why: Ceph RGW answers an empty <ETag></ETag>; HEAD has the right one.
                guard let metadata = try await headObject(key), !metadata.eTag.isEmpty else {
                    throw S3Error(.invalidResponse, "\(operation.subject): completed, but the object has no ETag")
                }
                return metadata.eTag
            } catch let error as S3Error where error.code == .unavailable || error.code == .slowDown {
                // A 500 or 503 (or a 200 carrying InternalError): retry if the upload is still there.
                guard try await uploadExists(key, uploadID: uploadID) else {
                    throw S3Error(.noSuchUpload, "\(operation.subject): no such upload (S3 answered: \(error.message))", s3Code: error.s3Code,
                        status: error.status, requestID: error.requestID)
                }
                guard attempt < configuration.maximumRetries else { throw error }
                try await Task.sleep(for: backoff(attempt: attempt))
                attempt += 1
            }
        }
    }

    /// Aborts an upload and frees its parts. An unknown upload is `noSuchUpload`.
    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        try Self.validate(key: key)
        let operation = Operation(name: "AbortMultipartUpload", method: .DELETE, key: key, query: [SigV4QueryItem("uploadId", uploadID)])
        try await withUploadQuirks(operation) { _ = try await send(operation) }
    }

    /// One page of the parts S3 holds for an upload, those after part `after`.
    public func listParts(_ key: String, uploadID: String, after marker: Int? = nil, maximum: Int = 1000) async throws -> S3PartsPage {
        try Self.validate(key: key)
        var query = [SigV4QueryItem("uploadId", uploadID), SigV4QueryItem("max-parts", String(max(1, min(maximum, 1000))))]
        if let marker { query.append(SigV4QueryItem("part-number-marker", String(marker))) }
        let operation = Operation(name: "ListParts", method: .GET, key: key, query: query)
        return try await withUploadQuirks(operation) {
            let result = try await document(try await send(operation), operation, limit: 4 << 20)
            var parts: [S3UploadedPart] = []
            for part in result.children("Part") {
                guard let number = part["PartNumber"].flatMap({ Int($0) }), let size = part["Size"].flatMap({ Int64($0) }) else {
                    throw S3Error(.invalidResponse, "\(operation.subject): a part without PartNumber or Size")
                }
                parts.append(S3UploadedPart(partNumber: number, eTag: part["ETag"].map(Self.unquoted) ?? "", size: size))
            }
            let truncated = result["IsTruncated"] == "true"
            return S3PartsPage(parts: parts, nextPartNumberMarker: truncated ? result["NextPartNumberMarker"].flatMap { Int($0) } : nil)
        }
    }

    /// Copies an object of any size: one CopyObject up to `threshold`, otherwise a multipart upload of UploadPartCopy
    /// parts of `partSize` (aborted if a part fails).
    @discardableResult
    public func copyLargeObject(
        _ source: String, to destination: String, size: Int64, partSize: Int64 = 512 << 20, threshold: Int64 = S3Client.maximumPartSize
    ) async throws -> String {
        guard size > threshold else { return try await copyObject(source, to: destination) }
        let partSize = max(partSize, Self.minimumPartSize, (size + Int64(Self.maximumPartNumber) - 1) / Int64(Self.maximumPartNumber))
        guard partSize <= Self.maximumPartSize else {
            throw S3Error(.invalidArgument, "CopyObject s3 key \(source): \(size) bytes is larger than S3 allows")
        }
        let uploadID = try await createMultipartUpload(destination)
        do {
            var parts: [S3CompletedPart] = []
            var offset: Int64 = 0
            while offset < size {
                let end = min(offset + partSize, size)
                let number = parts.count + 1
                let eTag = try await uploadPartCopy(destination, uploadID: uploadID, partNumber: number, from: source, range: offset..<end)
                parts.append(S3CompletedPart(partNumber: number, eTag: eTag))
                offset = end
            }
            return try await completeMultipartUpload(destination, uploadID: uploadID, parts: parts)
        } catch {
            try? await abortMultipartUpload(destination, uploadID: uploadID)
            throw error
        }
    }

    /// Whether S3 still holds the upload (ListParts answers).
    func uploadExists(_ key: String, uploadID: String) async throws -> Bool {
        do {
            _ = try await listParts(key, uploadID: uploadID, maximum: 1)
            return true
        } catch let error as S3Error where error.code == .noSuchUpload {
            return false
        }
    }

    func partOperation(_ name: String, key: String, uploadID: String, partNumber: Int) throws -> Operation {
        try Self.validate(key: key)
        let operation = Operation(
            name: name, method: .PUT, key: key,
            query: [SigV4QueryItem("partNumber", String(partNumber)), SigV4QueryItem("uploadId", uploadID)])
        guard (1...Self.maximumPartNumber).contains(partNumber) else {
            throw S3Error(.invalidArgument, "\(operation.subject): part number \(partNumber) is not from 1 to \(Self.maximumPartNumber)")
        }
        return operation
    }

    /// Runs an operation on an upload in progress, answering `noSuchUpload` for a gone upload as AWS does.
    ///
    /// Why: Ceph RGW answers ListParts of an aborted, completed or unknown upload with NoSuchKey (404), where AWS
    /// answers NoSuchUpload. The object key of an upload in progress does not exist yet, so NoSuchKey here can only
    /// mean the upload.
    func withUploadQuirks<Result>(_ operation: Operation, _ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as S3Error where error.code == .noSuchKey {
            throw S3Error(
                .noSuchUpload, "\(operation.subject): no such upload (S3 answered \(error.s3Code ?? "404"))", s3Code: error.s3Code,
                status: error.status, requestID: error.requestID)
        }
    }
}
