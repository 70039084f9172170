import NIOCore
import RegistryCore
import RegistryStorage

/// A stored stretch of an upload: bytes `range` of the upload are bytes `range - offset` of object `key`.
struct UploadPiece: Sendable, Hashable {
    var key: String
    /// The piece's bytes within the upload.
    var range: Range<Int64>
    /// Where the segment object starts within the upload.
    var offset: Int64
    /// The segment object's size.
    var objectSize: Int64

    /// The piece's bytes within its object.
    var objectRange: Range<Int64> { (range.lowerBound - offset)..<(range.upperBound - offset) }
}

extension S3BlobStore {
    public func createUpload(_ id: String) async throws {
        let marker = try markerKey(id)
        try await mapErrors { try await client.putObject(marker, bytes: ByteBuffer()) }
    }

    public func writeUpload<Body: AsyncSequence & Sendable>(
        _ id: String, at offset: Int64, from body: Body, limit: Int64, hasher: DigestHasher?
    ) async throws -> (written: Int64, hasher: DigestHasher?) where Body.Element == ByteBuffer {
        try await requireUpload(id)
        // A write at `offset` replaces whatever an unacknowledged earlier write left from there on.
        let segments = try await self.segments(id)
        let end = Self.chain(segments).last?.range.upperBound ?? 0
        guard offset <= end else { throw BlobStoreError(.io, "upload \(id): a write at \(offset) past its end \(end)") }
        for segment in segments where segment.offset >= offset {
            try await mapErrors { try await client.deleteObject(segment.key) }
        }
        var hasher = hasher
        var written: Int64 = 0
        var flushed: Int64 = 0
        var buffer = ByteBuffer()
        for try await chunk in body {
            written += Int64(chunk.readableBytes)
            guard written <= limit else { throw BlobStoreError(.sizeExceeded, "body longer than \(limit) bytes") }
            chunk.withUnsafeReadableBytes { hasher?.update($0) }
            var chunk = chunk
            while var slice = chunk.readSlice(length: min(chunk.readableBytes, chunkSize - buffer.readableBytes)), slice.readableBytes > 0 {
                buffer.writeBuffer(&slice)
                if buffer.readableBytes == chunkSize {
                    try await storeSegment(id, offset: offset + flushed, buffer)
                    flushed += Int64(buffer.readableBytes)
                    buffer.clear()
                }
            }
        }
        if buffer.readableBytes > 0 { try await storeSegment(id, offset: offset + flushed, buffer) }
        return (written, hasher)
    }

    public func readUpload(_ id: String, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        try await requireUpload(id)
        let pieces = try await pieces(id, covering: range)
        for piece in pieces {
            let object = try await mapErrors { try await client.getObject(piece.key, range: piece.objectRange) }
            do {
                for try await chunk in object.body { try await consumer(chunk) }
            } catch let error as S3Error {
                throw BlobStoreError(.io, error.message, cause: error)
            }
        }
    }

    public func hashUpload(_ id: String, length: Int64, algorithm: DigestAlgorithm) async throws -> Digest {
        var hasher = DigestHasher(algorithm)
        try await readUpload(id, range: 0..<length) { chunk in chunk.withUnsafeReadableBytes { hasher.update($0) } }
        return hasher.finalize()
    }

    public func publishUpload(_ id: String, length: Int64, as digest: Digest) async throws {
        try await requireUpload(id)
        let key = blobKey(digest)
        // Content-addressed: a blob already stored under this digest has these bytes.
        if try await mapErrors({ try await client.headObject(key) }) == nil {
            let pieces = try await pieces(id, covering: 0..<length)
            try await mapErrors { try await assemble(pieces, length: length, into: key) }
        }
        try await deleteUpload(id)
    }

    public func deleteUpload(_ id: String) async throws {
        let prefix = try uploadPrefix(id)
        var token: String?
        repeat {
            let page = try await mapErrors { try await client.listObjects(prefix: prefix, continuationToken: token) }
            for object in page.objects { try await mapErrors { try await client.deleteObject(object.key) } }
            token = page.nextContinuationToken
        } while token != nil
    }

    // MARK: Segments

    func requireUpload(_ id: String) async throws {
        let marker = try markerKey(id)
        guard try await mapErrors({ try await client.headObject(marker) }) != nil else {
            throw BlobStoreError(.notFound, "no upload \(id)")
        }
    }

    func storeSegment(_ id: String, offset: Int64, _ bytes: ByteBuffer) async throws {
        let key = try segmentKey(id, offset: offset)
        try await mapErrors { try await client.putObject(key, bytes: bytes) }
    }

    /// The upload's segment objects, by offset.
    func segments(_ id: String) async throws -> [UploadPiece] {
        let prefix = try uploadPrefix(id) + "segments/"
        var segments: [UploadPiece] = []
        var token: String?
        repeat {
            let page = try await mapErrors { try await client.listObjects(prefix: prefix, continuationToken: token) }
            for object in page.objects {
                guard let offset = Int64(object.key.dropFirst(prefix.count)) else { continue }
                segments.append(UploadPiece(key: object.key, range: offset..<offset + object.size, offset: offset, objectSize: object.size))
            }
            token = page.nextContinuationToken
        } while token != nil
        return segments.sorted { $0.offset < $1.offset }
    }

    /// The upload's bytes from 0 on: each segment up to the next one's start (a later write replaced the rest), up to
    /// the first gap.
    static func chain(_ segments: [UploadPiece]) -> [UploadPiece] {
        var chain: [UploadPiece] = []
        var position: Int64 = 0
        for (index, segment) in segments.enumerated() where segment.offset == position && segment.objectSize > 0 {
            let next = index + 1 < segments.count ? segments[index + 1].offset : Int64.max
            var piece = segment
            piece.range = segment.offset..<min(segment.offset + segment.objectSize, next)
            chain.append(piece)
            position = piece.range.upperBound
        }
        return chain
    }

    /// The pieces holding `range` of the upload; `io` when the upload holds fewer bytes.
    func pieces(_ id: String, covering range: Range<Int64>) async throws -> [UploadPiece] {
        let chain = Self.chain(try await segments(id))
        let end = chain.last?.range.upperBound ?? 0
        guard range.upperBound <= end else { throw BlobStoreError(.io, "upload \(id) holds \(end) bytes, not \(range.upperBound)") }
        return chain.compactMap { piece in
            let clamped = piece.range.clamped(to: range)
            guard !clamped.isEmpty else { return nil }
            var copy = piece
            copy.range = clamped
            return copy
        }
    }

    /// Writes `pieces` (the first `length` bytes of an upload) as one object at `key`.
    func assemble(_ pieces: [UploadPiece], length: Int64, into key: String) async throws {
        if length == 0 {
            try await client.putObject(key, bytes: ByteBuffer())
            return
        }
        if pieces.count == 1, let piece = pieces.first, piece.objectRange == 0..<piece.objectSize {
            try await client.copyLargeObject(piece.key, to: key, size: piece.objectSize, partSize: Int64(chunkSize))
            return
        }
        // Parts of at least one chunk (S3 wants 5 MiB but for the last), pieces gathered in order.
        var parts: [[UploadPiece]] = [[]]
        var partLength: Int64 = 0
        for piece in pieces {
            if partLength >= Int64(chunkSize) {
                parts.append([])
                partLength = 0
            }
            parts[parts.count - 1].append(piece)
            partLength += Int64(piece.range.count)
        }
        let uploadID = try await client.createMultipartUpload(key)
        do {
            var completed: [S3CompletedPart] = []
            for (index, part) in parts.enumerated() {
                let number = index + 1
                let eTag: String
                if part.count == 1, let piece = part.first {
                    eTag = try await client.uploadPartCopy(key, uploadID: uploadID, partNumber: number, from: piece.key, range: piece.objectRange)
                } else {
                    let length = part.reduce(Int64(0)) { $0 + Int64($1.range.count) }
                    eTag = try await client.uploadPart(
                        key, uploadID: uploadID, partNumber: number, body: PieceStream(client: client, pieces: part), length: length)
                }
                completed.append(S3CompletedPart(partNumber: number, eTag: eTag))
            }
            try await client.completeMultipartUpload(key, uploadID: uploadID, parts: completed)
        } catch {
            try? await client.abortMultipartUpload(key, uploadID: uploadID)
            throw error
        }
    }
}

/// The bytes of consecutive pieces, each read with a ranged GET when the previous one is done.
struct PieceStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let client: S3Client
    let pieces: [UploadPiece]

    func makeAsyncIterator() -> Iterator {
        Iterator(client: client, pieces: pieces[...])
    }

    struct Iterator: AsyncIteratorProtocol {
        let client: S3Client
        var pieces: ArraySlice<UploadPiece>
        var current: S3ObjectBody.AsyncIterator?

        mutating func next() async throws -> ByteBuffer? {
            while true {
                if let chunk = try await current?.next() { return chunk }
                guard let piece = pieces.popFirst() else { return nil }
                current = try await client.getObject(piece.key, range: piece.objectRange).body.makeAsyncIterator()
            }
        }
    }
}
