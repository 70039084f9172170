import NIOCore
import RegistryCore
import RegistryStorage

/// The semantics every ``BlobStore`` must have. Run by each implementation's tests:
/// `@Test(arguments: BlobStoreConformance.cases) func conformance(_ c: ConformanceCase<any BlobStore>)`.
public enum BlobStoreConformance {
    static func readAll(_ store: any BlobStore, _ digest: Digest, range: Range<Int64>? = nil) async throws -> [UInt8]? {
        guard let reader = try await store.open(digest) else { return nil }
        var bytes: [UInt8] = []
        try await reader.stream(range ?? 0..<reader.size) { bytes.append(contentsOf: $0.readableBytesView) }
        try await reader.close()
        return bytes
    }

    static func upload(_ store: any BlobStore, _ bytes: [UInt8], id: String) async throws -> Digest {
        try await store.createUpload(id)
        let result = try await store.writeUpload(id, at: 0, from: TestContent.body(bytes).async, limit: .max, hasher: DigestHasher(.sha256))
        try check(result.written == Int64(bytes.count), "written \(result.written) of \(bytes.count)")
        let digest = Digest.of(bytes)
        try check(result.hasher?.finalize() == digest, "running hash differs from the content's digest")
        try await store.publishUpload(id, length: result.written, as: digest)
        return digest
    }

    public static let cases: [ConformanceCase<any BlobStore>] = [
        .init("an absent blob opens as nil") { store in
            try check(try await store.open(Digest.of([1, 2, 3])) == nil, "absent blob opened")
        },
        .init("a published upload reads back byte for byte, whole and by range") { store in
            // Big enough to span many write buffers and read chunks: catches stored runs of zeros.
            let bytes = TestContent.bytes(3 * 1024 * 1024 + 17, seed: 7)
            let digest = try await upload(store, bytes, id: "00000000-0000-0000-0000-000000000001")
            let back = try await readAll(store, digest)
            try check(back == bytes, "stored bytes differ from the pushed ones")
            let reader = try await store.open(digest)
            try check(reader?.size == Int64(bytes.count), "size \(String(describing: reader?.size))")
            try await reader?.close()
            let part = try await readAll(store, digest, range: 1000..<1_000_100)
            try check(part == Array(bytes[1000..<1_000_100]), "range read differs")
        },
        .init("an upload written in pieces at offsets hashes as the whole") { store in
            let id = "00000000-0000-0000-0000-000000000002"
            let bytes = TestContent.bytes(200_000, seed: 3)
            try await store.createUpload(id)
            let first = try await store.writeUpload(id, at: 0, from: TestContent.body(Array(bytes[0..<70_000])).async, limit: .max, hasher: DigestHasher(.sha256))
            let second = try await store.writeUpload(id, at: 70_000, from: TestContent.body(Array(bytes[70_000...])).async, limit: .max, hasher: first.hasher)
            try check(second.hasher?.finalize() == Digest.of(bytes), "continued hash differs")
            try check(try await store.hashUpload(id, length: 200_000, algorithm: .sha256) == Digest.of(bytes), "re-hash differs")
            try check(try await store.hashUpload(id, length: 200_000, algorithm: .sha512) == Digest.of(bytes, algorithm: .sha512), "sha512 re-hash differs")
            try await store.deleteUpload(id)
        },
        .init("a body over the limit is refused with sizeExceeded") { store in
            let id = "00000000-0000-0000-0000-000000000003"
            try await store.createUpload(id)
            do {
                _ = try await store.writeUpload(id, at: 0, from: TestContent.body(TestContent.bytes(1000)).async, limit: 999, hasher: nil)
                try check(false, "no error")
            } catch let error as BlobStoreError {
                try check(error.code == .sizeExceeded, "code \(error.code)")
            }
            try await store.deleteUpload(id)
        },
        .init("publishing keeps only the acknowledged length") { store in
            let id = "00000000-0000-0000-0000-000000000004"
            let bytes = TestContent.bytes(5000, seed: 9)
            try await store.createUpload(id)
            _ = try await store.writeUpload(id, at: 0, from: TestContent.body(bytes).async, limit: .max, hasher: nil)
            let digest = Digest.of(bytes[0..<3000])
            try await store.publishUpload(id, length: 3000, as: digest)
            try check(try await readAll(store, digest) == Array(bytes[0..<3000]), "published bytes past the acknowledged end")
        },
        .init("publishing an already stored digest again keeps it intact") { store in
            let bytes = TestContent.bytes(10_000, seed: 11)
            let digest = try await upload(store, bytes, id: "00000000-0000-0000-0000-000000000005")
            _ = try await upload(store, bytes, id: "00000000-0000-0000-0000-000000000006")
            try check(try await readAll(store, digest) == bytes, "bytes changed")
        },
        .init("delete removes a blob; deleting an absent one is fine") { store in
            let digest = try await upload(store, TestContent.bytes(100, seed: 12), id: "00000000-0000-0000-0000-000000000007")
            try check(try await store.listBlobs().contains(digest), "listBlobs misses a stored blob")
            try await store.delete(digest)
            try check(try await store.open(digest) == nil, "deleted blob still opens")
            try await store.delete(digest)
            try check(!(try await store.listBlobs().contains(digest)), "listBlobs still lists a deleted blob")
        },
        .init("writing to an unknown upload fails with notFound") { store in
            do {
                _ = try await store.writeUpload("00000000-0000-0000-0000-00000000dead", at: 0, from: TestContent.body([1]).async, limit: .max, hasher: nil)
                try check(false, "no error")
            } catch let error as BlobStoreError {
                try check(error.code == .notFound, "code \(error.code)")
            }
            try await store.deleteUpload("00000000-0000-0000-0000-00000000dead")
        },
    ]
}
