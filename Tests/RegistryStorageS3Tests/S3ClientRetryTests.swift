import HTTPTypes
import NIOCore
import RegistryStorageS3
import Testing

/// Retries and error answers the real server will not produce on demand, against a scripted stand-in.
@Suite("S3 client retries and error answers")
struct S3ClientRetryTests {
    static func client(_ server: ScriptedS3, retries: Int = 3, timeout: Duration = .seconds(60)) throws -> S3Client {
        try S3Client(
            configuration: S3Configuration(
                bucket: "bucket", region: "us-east-1", endpoint: server.url, forcePathStyle: true,
                credentials: S3Credentials(accessKeyID: "AKID", secretAccessKey: "secret"), maximumRetries: retries,
                initialBackoff: .milliseconds(5), requestTimeout: timeout),
            httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
    }

    @Test("SlowDown and 500 InternalError are retried with backoff, then the request succeeds")
    func retriesThenSucceeds() async throws {
        let server = try await ScriptedS3.start()
        server.script([ScriptedS3.error(.serviceUnavailable, "SlowDown"), ScriptedS3.error(.internalServerError, "InternalError")])
        let eTag = try await Self.client(server).putObject("key", bytes: ByteBuffer(string: "x"))
        #expect(eTag == "etag")
        #expect(server.requests == Array(repeating: "PUT /bucket/key", count: 3))
        await server.stop()
    }

    @Test("after the retries, SlowDown is thrown as slowDown with S3's code and request id")
    func retriesExhausted() async throws {
        let server = try await ScriptedS3.start()
        server.script(Array(repeating: ScriptedS3.error(.serviceUnavailable, "SlowDown"), count: 3))
        let error = await #expect(throws: S3Error.self) { try await Self.client(server, retries: 2).deleteObject("key") }
        #expect(error?.code == .slowDown)
        #expect(error?.s3Code == "SlowDown")
        #expect(error?.requestID == "r-1")
        #expect(server.requests.count == 3)
        await server.stop()
    }

    @Test("a streamed body is sent once: its SlowDown is thrown, not retried")
    func streamedBodyNotRetried() async throws {
        let server = try await ScriptedS3.start()
        server.script([ScriptedS3.error(.serviceUnavailable, "SlowDown")])
        let error = await #expect(throws: S3Error.self) {
            try await Self.client(server).putObject("key", body: S3Fixture.stream([1, 2, 3]), length: 3)
        }
        #expect(error?.code == .slowDown)
        #expect(server.requests.count == 1)
        await server.stop()
    }

    @Test("client errors are not retried: 404 NoSuchKey, 403 AccessDenied")
    func clientErrorsNotRetried() async throws {
        let server = try await ScriptedS3.start()
        server.script([ScriptedS3.error(.notFound, "NoSuchKey"), ScriptedS3.error(.forbidden, "AccessDenied")])
        let client = try Self.client(server)
        let missing = await #expect(throws: S3Error.self) { try await client.getObject("key") }
        #expect(missing?.code == .noSuchKey)
        let denied = await #expect(throws: S3Error.self) { try await client.getObject("key") }
        #expect(denied?.code == .accessDenied)
        #expect(server.requests.count == 2)
        await server.stop()
    }

    @Test("an error inside a 200 (CopyObject, CompleteMultipartUpload) is an error")
    func errorInsideOK() async throws {
        let server = try await ScriptedS3.start()
        server.script([ScriptedS3.Answer(status: .ok, body: "<Error><Code>InvalidPart</Code></Error>")])
        let client = try Self.client(server)
        let copy = await #expect(throws: S3Error.self) { try await client.copyObject("a", to: "b") }
        #expect(copy?.code == .invalidPart)
        server.script([ScriptedS3.Answer(status: .ok, body: "<Error><Code>EntityTooSmall</Code></Error>")])
        let complete = await #expect(throws: S3Error.self) {
            try await client.completeMultipartUpload("k", uploadID: "u", parts: [S3CompletedPart(partNumber: 1, eTag: "e")])
        }
        #expect(complete?.code == .entityTooSmall)
        await server.stop()
    }

    @Test("an MD5 ETag that does not match the bytes sent is corruptTransfer")
    func eTagMismatch() async throws {
        let server = try await ScriptedS3.start()
        server.script([ScriptedS3.Answer(status: .ok, headers: ["ETag": "\"0123456789abcdef0123456789abcdef\""])])
        let error = await #expect(throws: S3Error.self) {
            try await Self.client(server).putObject("key", body: S3Fixture.stream([1, 2, 3]), length: 3)
        }
        #expect(error?.code == .corruptTransfer)
        await server.stop()
    }

    @Test("a connection refused is unreachable, after the retries")
    func unreachable() async throws {
        let server = try await ScriptedS3.start()
        // A short timeout: the HTTP client keeps trying to connect until the request's deadline.
        let client = try Self.client(server, retries: 1, timeout: .milliseconds(500))
        await server.stop()
        let error = await #expect(throws: S3Error.self) { try await client.headObject("key") }
        #expect(error?.code == .unreachable)
    }
}
