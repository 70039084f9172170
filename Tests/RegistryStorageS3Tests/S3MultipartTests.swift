import NIOCore
import RegistryStorageS3
import Testing

/// Multipart uploads against a real S3 server (Ceph RGW), including the two RGW quirks the client codes around.
@Suite("S3 multipart uploads on a real S3 server", .enabled(if: S3TestEnvironment.hasS3Server, "needs an S3 server: set PIER_S3_ENDPOINT (scripts/test.sh starts Ceph RGW)"))
struct S3MultipartTests {
    @Test("5 MiB + 1 in two parts (the last of 1 byte) assembles into one object; the ETag comes from HEAD when RGW leaves it empty")
    func shortLastPart() async throws {
        let client = try await S3Fixture.client()
        let bytes = S3Fixture.bytes(5 << 20 + 1, seed: 5)
        let uploadID = try await client.createMultipartUpload("blob", contentType: "application/octet-stream")
        let first = Array(bytes[..<(5 << 20)]), last = Array(bytes[(5 << 20)...])
        let firstETag = try await client.uploadPart("blob", uploadID: uploadID, partNumber: 1, body: S3Fixture.stream(first), length: Int64(first.count))
        // The last part signed with its SHA-256: both payload kinds work in one upload.
        let lastPayload = try #require(SigV4Payload.sha256(hex: S3Fixture.sha256(last)))
        let lastETag = try await client.uploadPart(
            "blob", uploadID: uploadID, partNumber: 2, body: S3Fixture.stream(last), length: 1, payload: lastPayload)
        let page = try await client.listParts("blob", uploadID: uploadID, maximum: 1)
        #expect(page.parts.map(\.partNumber) == [1])
        #expect(page.parts.first?.size == 5 << 20)
        #expect(page.parts.first?.eTag == firstETag)
        let marker = try #require(page.nextPartNumberMarker)
        let next = try await client.listParts("blob", uploadID: uploadID, after: marker)
        #expect(next.parts.map(\.partNumber) == [2])
        #expect(next.parts.first?.size == 1)
        #expect(next.nextPartNumberMarker == nil)
        let eTag = try await client.completeMultipartUpload(
            "blob", uploadID: uploadID,
            parts: [S3CompletedPart(partNumber: 1, eTag: firstETag), S3CompletedPart(partNumber: 2, eTag: lastETag)])
        #expect(eTag.hasSuffix("-2"), "a two-part ETag, not RGW's empty one: \(eTag)")
        let head = try #require(try await client.headObject("blob"))
        #expect(head.size == Int64(bytes.count))
        #expect(head.eTag == eTag)
        let read = try await S3Fixture.digest(of: try await client.getObject("blob").body)
        #expect(read.sha256 == S3Fixture.sha256(bytes), "the assembled bytes are not the bytes sent")
        let tail = try await S3Fixture.digest(of: try await client.getObject("blob", range: Int64(5 << 20 - 2)..<Int64(5 << 20 + 1)).body)
        #expect(tail.sha256 == S3Fixture.sha256(bytes[(5 << 20 - 2)...]), "a range across the part boundary")
        await S3Fixture.cleanUp(client)
    }

    @Test("a part under 5 MiB other than the last is refused at completion with entityTooSmall")
    func smallPart() async throws {
        let client = try await S3Fixture.client()
        let uploadID = try await client.createMultipartUpload("small")
        let one = try await client.uploadPart("small", uploadID: uploadID, partNumber: 1, body: S3Fixture.stream([1, 2, 3]), length: 3)
        let two = try await client.uploadPart("small", uploadID: uploadID, partNumber: 2, body: S3Fixture.stream([4]), length: 1)
        let error = await #expect(throws: S3Error.self) {
            try await client.completeMultipartUpload(
                "small", uploadID: uploadID, parts: [S3CompletedPart(partNumber: 1, eTag: one), S3CompletedPart(partNumber: 2, eTag: two)])
        }
        #expect(error?.code == .entityTooSmall)
        try await client.abortMultipartUpload("small", uploadID: uploadID)
        await S3Fixture.cleanUp(client)
    }

    @Test("after an abort, UploadPart, UploadPartCopy, ListParts, CompleteMultipartUpload and a second abort all answer noSuchUpload")
    func aborted() async throws {
        let client = try await S3Fixture.client()
        try await client.putObject("source", bytes: ByteBuffer(string: "source"))
        let uploadID = try await client.createMultipartUpload("aborted")
        let eTag = try await client.uploadPart("aborted", uploadID: uploadID, partNumber: 1, body: S3Fixture.stream([1, 2, 3]), length: 3)
        try await client.abortMultipartUpload("aborted", uploadID: uploadID)
        let operations: [(String, () async throws -> Void)] = [
            ("UploadPart", { _ = try await client.uploadPart("aborted", uploadID: uploadID, partNumber: 2, body: S3Fixture.stream([4]), length: 1) }),
            ("UploadPartCopy", { _ = try await client.uploadPartCopy("aborted", uploadID: uploadID, partNumber: 2, from: "source", range: 0..<6) }),
            ("ListParts", { _ = try await client.listParts("aborted", uploadID: uploadID) }),
            ("CompleteMultipartUpload", { _ = try await client.completeMultipartUpload("aborted", uploadID: uploadID, parts: [S3CompletedPart(partNumber: 1, eTag: eTag)]) }),
            ("AbortMultipartUpload", { try await client.abortMultipartUpload("aborted", uploadID: uploadID) }),
        ]
        for (name, operation) in operations {
            let error = await #expect(throws: S3Error.self, "\(name)") { try await operation() }
            #expect(error?.code == .noSuchUpload, "\(name): \(String(describing: error))")
        }
        // An upload id S3 never issued is the same.
        let never = await #expect(throws: S3Error.self) { try await client.listParts("aborted", uploadID: "2~never-issued") }
        #expect(never?.code == .noSuchUpload)
        #expect(try await client.headObject("aborted") == nil)
        await S3Fixture.cleanUp(client)
    }

    @Test("UploadPartCopy of a missing source is noSuchKey while the upload lives")
    func partCopyOfMissingSource() async throws {
        let client = try await S3Fixture.client()
        let uploadID = try await client.createMultipartUpload("target")
        let error = await #expect(throws: S3Error.self) {
            try await client.uploadPartCopy("target", uploadID: uploadID, partNumber: 1, from: "absent", range: 0..<1)
        }
        #expect(error?.code == .noSuchKey)
        try await client.abortMultipartUpload("target", uploadID: uploadID)
        await S3Fixture.cleanUp(client)
    }

    @Test("part numbers outside 1...10000 are refused before anything is sent", arguments: [0, -1, 10_001])
    func partNumbers(_ number: Int) async throws {
        let client = try S3Client(configuration: S3Fixture.configuration(), httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
        let error = await #expect(throws: S3Error.self) {
            try await client.uploadPart("k", uploadID: "u", partNumber: number, body: S3Fixture.stream([1]), length: 1)
        }
        #expect(error?.code == .invalidArgument)
    }
}
