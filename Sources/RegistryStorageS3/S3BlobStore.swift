import Logging
import NIOCore
import RegistryCore
import RegistryStorage

/// Blobs in an S3 bucket, behind the same ``BlobStore`` semantics as the file system (proven by the same conformance
/// suite). Not yet selectable in the configuration: the storage protocols are to be reshaped for object storage first.
///
/// Layout (under the optional root directory): blobs at Distribution's keys,
/// `docker/registry/v2/blobs/<algorithm>/<2 hex>/<hex>/data`, so a bucket written by either can be read by the other;
/// an upload in progress under `pier/uploads/<id>/`: a `started` marker and its bytes as segments named by their
/// offset, each at most ``chunkSize``. A write buffers at most one segment in memory (S3 needs each object's length
/// before its body; a PATCH's length is unknown). Publishing assembles the segments into the blob with one server-side
/// copy when a single segment holds it, else a multipart upload whose parts are server-side copies of whole segments
/// (small neighbours are gathered and re-streamed through this process, up to one part); the blob appears whole, when
/// the copy or the completion succeeds. The upload path will change with the protocol (parts appended straight to a
/// multipart upload, hash states kept in the metadata store).
public struct S3BlobStore: BlobStore {
    /// The client of the bucket.
    public let client: S3Client
    /// The key prefix of everything this store writes (`rootdirectory`), empty or ending in `/`.
    public let rootDirectory: String
    /// The largest segment, and the part size of assembled blobs (`chunksize`): 5 MiB to 1 GiB.
    public let chunkSize: Int

    /// The default `chunksize`, as Distribution's: 10 MiB.
    public static let defaultChunkSize = 10 << 20

    /// A store in `client`'s bucket under `rootDirectory` (`/` trimmed); throws for a `chunkSize` S3 cannot take.
    public init(client: S3Client, rootDirectory: String = "", chunkSize: Int = S3BlobStore.defaultChunkSize) throws(S3Error) {
        guard (Int(S3Client.minimumPartSize)...(1 << 30)).contains(chunkSize) else {
            throw S3Error(.invalidArgument, "chunksize \(chunkSize): S3 parts need 5 MiB to 1 GiB here")
        }
        let trimmed = rootDirectory.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        self.client = client
        self.rootDirectory = trimmed.isEmpty ? "" : trimmed + "/"
        self.chunkSize = chunkSize
    }

    // MARK: Keys

    var blobsPrefix: String { rootDirectory + "docker/registry/v2/blobs/" }

    func blobKey(_ digest: Digest) -> String {
        let hex = digest.encoded
        return blobsPrefix + "\(digest.algorithm.rawValue)/\(hex.prefix(2))/\(hex)/data"
    }

    func uploadPrefix(_ id: String) throws -> String {
        // Registry upload ids are UUIDs; anything that could escape its prefix is no upload of ours.
        guard !id.isEmpty, id.utf8.allSatisfy({ Self.isIDByte($0) }) else { throw BlobStoreError(.notFound, "no upload \(id)") }
        return rootDirectory + "pier/uploads/\(id)/"
    }

    func markerKey(_ id: String) throws -> String { try uploadPrefix(id) + "started" }

    func segmentKey(_ id: String, offset: Int64) throws -> String {
        let digits = String(offset)
        return try uploadPrefix(id) + "segments/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
    }

    // MARK: Blobs

    public func open(_ digest: Digest) async throws -> (any BlobReader)? {
        let key = blobKey(digest)
        guard let metadata = try await mapErrors({ try await client.headObject(key) }) else { return nil }
        return S3BlobReader(store: self, key: key, size: metadata.size)
    }

    public func delete(_ digest: Digest) async throws {
        try await mapErrors { try await client.deleteObject(blobKey(digest)) }
    }

    public func listBlobs() async throws -> [Digest] {
        var digests: [Digest] = []
        var token: String?
        repeat {
            let page = try await mapErrors { try await client.listObjects(prefix: blobsPrefix, continuationToken: token) }
            for object in page.objects {
                // <algorithm>/<2 hex>/<hex>/data
                let parts = object.key.dropFirst(blobsPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 4, parts[3] == "data", let digest = Digest("\(parts[0]):\(parts[2])"),
                    parts[1] == digest.encoded.prefix(2)
                else { continue }
                digests.append(digest)
            }
            token = page.nextContinuationToken
        } while token != nil
        return digests
    }

    /// Maps S3 failures to the codes the registry understands.
    @discardableResult
    func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as S3Error {
            switch error.s3Code {
            case "QuotaExceeded", "InsufficientCapacity": throw BlobStoreError(.insufficientStorage, "the bucket is full", cause: error)
            default: throw BlobStoreError(.io, error.message, cause: error)
            }
        }
    }
}

/// A stored blob read with ranged GETs.
struct S3BlobReader: BlobReader {
    let store: S3BlobStore
    let key: String
    let size: Int64

    func stream(_ range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        guard !range.isEmpty else { return }
        let object = try await store.mapErrors { try await store.client.getObject(key, range: range) }
        guard object.range == range else {
            throw BlobStoreError(.io, "s3 key \(key): asked for bytes \(range), got \(object.range)")
        }
        do {
            for try await chunk in object.body { try await consumer(chunk) }
        } catch let error as S3Error {
            throw BlobStoreError(.io, error.message, cause: error)
        }
    }

    func close() async throws {}
}
