import NIOCore
import RegistryStorageS3
import Testing

/// The S3 client against a real S3 server (Ceph RGW, started by the test command): objects, ranges, copies, listings.
@Suite("S3 client on a real S3 server", .enabled(if: S3TestEnvironment.hasS3Server, "needs an S3 server: set PIER_S3_ENDPOINT (scripts/test.sh starts Ceph RGW)"))
struct S3ClientTests {
    @Test("objects of 0 bytes, 1 byte and 5 MiB + 1 round-trip streamed (unsigned, MD5 ETag checked) and in memory (signed)", arguments: [0, 1, 5 << 20 + 1])
    func roundTrips(_ size: Int) async throws {
        let client = try await S3Fixture.client()
        let bytes = S3Fixture.bytes(size, seed: UInt64(size))
        let streamedETag = try await client.putObject("streamed", body: S3Fixture.stream(bytes), length: Int64(size))
        try await client.putObject("in-memory", bytes: ByteBuffer(bytes: bytes), contentType: "application/octet-stream")
        for key in ["streamed", "in-memory"] {
            let head = try #require(try await client.headObject(key))
            #expect(head.size == Int64(size))
            #expect(head.eTag == streamedETag)
            let object = try await client.getObject(key)
            #expect(object.range == 0..<Int64(size))
            let read = try await S3Fixture.digest(of: object.body)
            #expect(read.count == size)
            #expect(read.sha256 == S3Fixture.sha256(bytes), "the stored bytes are not the bytes sent")
        }
        #expect(try await client.headObject("in-memory")?.contentType == "application/octet-stream")
        await S3Fixture.cleanUp(client)
    }

    @Test("a streamed body signed with its SHA-256 is stored; other bytes under that hash are refused and not stored")
    func signedStreamedPayload() async throws {
        let client = try await S3Fixture.client()
        let bytes = S3Fixture.bytes(300_000, seed: 7)
        let payload = try #require(SigV4Payload.sha256(hex: S3Fixture.sha256(bytes)))
        try await client.putObject("signed", body: S3Fixture.stream(bytes), length: Int64(bytes.count), payload: payload)
        #expect(try await client.headObject("signed")?.size == 300_000)
        var tampered = bytes
        tampered[150_000] ^= 0xFF
        let error = await #expect(throws: S3Error.self) {
            try await client.putObject("tampered", body: S3Fixture.stream(tampered), length: Int64(tampered.count), payload: payload)
        }
        #expect(error?.code == .corruptTransfer, "\(String(describing: error))")
        #expect(try await client.headObject("tampered") == nil)
        await S3Fixture.cleanUp(client)
    }

    @Test("ranges: first byte, last byte, a middle, past the end (clamped); at or after the end is invalidRange")
    func ranges() async throws {
        let client = try await S3Fixture.client()
        let bytes = S3Fixture.bytes(100_000, seed: 3)
        try await client.putObject("object", bytes: ByteBuffer(bytes: bytes))
        let cases: [(Range<Int64>, Range<Int64>)] = [(0..<1, 0..<1), (99_999..<100_000, 99_999..<100_000), (1000..<70_001, 1000..<70_001), (50_000..<200_000, 50_000..<100_000)]
        for (asked, answered) in cases {
            let object = try await client.getObject("object", range: asked)
            #expect(object.range == answered)
            #expect(object.metadata.size == 100_000)
            let read = try await S3Fixture.digest(of: object.body)
            #expect(read.sha256 == S3Fixture.sha256(bytes[Int(answered.lowerBound)..<Int(answered.upperBound)]), "range \(asked)")
        }
        let error = await #expect(throws: S3Error.self) { try await client.getObject("object", range: 100_000..<100_001) }
        #expect(error?.code == .invalidRange)
        try await client.putObject("empty", bytes: ByteBuffer())
        let empty = await #expect(throws: S3Error.self) { try await client.getObject("empty", range: 0..<1) }
        #expect(empty?.code == .invalidRange)
        await S3Fixture.cleanUp(client)
    }

    @Test("absent objects: GET is noSuchKey, HEAD is nil, DELETE succeeds; an absent bucket is noSuchBucket")
    func absent() async throws {
        let client = try await S3Fixture.client()
        let error = await #expect(throws: S3Error.self) { try await client.getObject("absent") }
        #expect(error?.code == .noSuchKey)
        #expect(error?.s3Code == "NoSuchKey")
        #expect(try await client.headObject("absent") == nil)
        try await client.deleteObject("absent")
        let other = try S3Client(configuration: S3Fixture.configuration(bucket: "pier-no-such-bucket"), httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
        let bucketError = await #expect(throws: S3Error.self) { try await other.getObject("key") }
        #expect(bucketError?.code == .noSuchBucket)
        await S3Fixture.cleanUp(client)
    }

    @Test("CopyObject and a multipart copy of UploadPartCopy parts give the same bytes")
    func copies() async throws {
        let client = try await S3Fixture.client()
        let bytes = S3Fixture.bytes(11 << 20, seed: 11)
        try await client.putObject("source", body: S3Fixture.stream(bytes), length: Int64(bytes.count))
        try await client.copyObject("source", to: "copy/one")
        // A threshold of 1 byte forces the multipart path: parts of 5, 5 and 1 MiB.
        let eTag = try await client.copyLargeObject("source", to: "copy/parts", size: Int64(bytes.count), partSize: 5 << 20, threshold: 1)
        #expect(eTag.hasSuffix("-3"), "a 3-part object's ETag: \(eTag)")
        for key in ["copy/one", "copy/parts"] {
            let read = try await S3Fixture.digest(of: try await client.getObject(key).body)
            #expect(read.sha256 == S3Fixture.sha256(bytes), "\(key)")
        }
        let error = await #expect(throws: S3Error.self) { try await client.copyObject("absent", to: "copy/absent") }
        #expect(error?.code == .noSuchKey)
        await S3Fixture.cleanUp(client)
    }

    /// Keys whose encoding on the wire must equal the signed one exactly, or RGW refuses the signature.
    static let oddKeys = [
        "a b", "a+b", "a%b", "100%25", "a=b&c=d", "~tilde", "dir//double", "dir/trailing/", "/leading", "é/ü/日本/😀",
        "e\u{301}", "sp ace/+plus/%2F/?q#h", "semi;colon:at@", "quote'\"<>", "star*(paren)!$,", "[brackets]{braces}|^`\\",
        "dot/./dotdot/../x", String(repeating: "k", count: 1024),
    ]

    @Test("odd keys are stored, read, listed and deleted under exactly their names")
    func oddKeys() async throws {
        let client = try await S3Fixture.client()
        for (index, key) in Self.oddKeys.enumerated() {
            try await client.putObject(key, bytes: ByteBuffer(bytes: S3Fixture.bytes(index + 1, seed: UInt64(index))))
            #expect(try await client.headObject(key)?.size == Int64(index + 1), "\(key)")
            let read = try await S3Fixture.digest(of: try await client.getObject(key).body)
            #expect(read.sha256 == S3Fixture.sha256(S3Fixture.bytes(index + 1, seed: UInt64(index))), "\(key)")
        }
        var listed: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await client.listObjects(continuationToken: token, maximum: 5)
            listed += page.objects.map(\.key)
            #expect(page.objects.count <= 5)
            token = page.nextContinuationToken
            pages += 1
        } while token != nil
        #expect(pages == (Self.oddKeys.count + 4) / 5)
        #expect(listed == Self.oddKeys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) })
        for key in Self.oddKeys { try await client.deleteObject(key) }
        #expect(try await client.listObjects().objects.isEmpty)
        await S3Fixture.cleanUp(client)
    }

    @Test("listings page with continuation, start after a key, and group by a delimiter")
    func listing() async throws {
        let client = try await S3Fixture.client()
        let keys = (0..<23).map { "blobs/\($0 % 3)/\(String($0, radix: 16))" } + ["top", "uploads/a", "uploads/b"]
        for key in keys { try await client.putObject(key, bytes: ByteBuffer(string: key)) }
        var listed: [String] = []
        var token: String?
        repeat {
            let page = try await client.listObjects(prefix: "blobs/", continuationToken: token, maximum: 4)
            listed += page.objects.map(\.key)
            token = page.nextContinuationToken
        } while token != nil
        #expect(listed == keys.filter { $0.hasPrefix("blobs/") }.sorted())
        let after = try await client.listObjects(startAfter: "top")
        #expect(after.objects.map(\.key) == ["uploads/a", "uploads/b"])
        let grouped = try await client.listObjects(delimiter: "/")
        #expect(grouped.commonPrefixes == ["blobs/", "uploads/"])
        #expect(grouped.objects.map(\.key) == ["top"])
        #expect(grouped.objects.first?.size == 3)
        await S3Fixture.cleanUp(client)
    }
}
