import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import RegistryStorageS3
import Testing

/// The real S3 server checks our signatures: right ones pass, and any change after signing is refused. Without these
/// the other suites would prove nothing about signing (moto, for one, accepts any signature).
@Suite("S3 signatures checked by a real S3 server", .enabled(if: S3TestEnvironment.hasS3Server, "needs an S3 server: set PIER_S3_ENDPOINT (scripts/test.sh starts Ceph RGW)"))
struct S3SignatureTests {
    @Test("a signed GET passes; the same with one signature digit changed, or sent to another key, is SignatureDoesNotMatch")
    func tamperedAuthorization() async throws {
        let client = try await S3Fixture.client()
        let bucket = client.configuration.bucket
        try await client.putObject("a", bytes: ByteBuffer(string: "A"))
        try await client.putObject("b", bytes: ByteBuffer(string: "B"))
        let signed = try S3Fixture.signer().sign(try S3Fixture.request("GET", bucket: bucket, key: "a"), payload: .empty, at: AWSTimestamp.now())
        let good = try await S3Fixture.raw("GET", signed.url, headers: signed.headers)
        #expect(good.status == 200)
        #expect(good.text == "A")

        var tampered = signed.headers
        let index = try #require(tampered.firstIndex { $0.name == "Authorization" })
        let last = tampered[index].value.removeLast()
        tampered[index].value.append(last == "0" ? "1" : "0")
        let refused = try await S3Fixture.raw("GET", signed.url, headers: tampered)
        #expect(refused.status == 403)
        #expect(refused.text.contains("<Code>SignatureDoesNotMatch</Code>"), "\(refused.text)")

        let otherKey = signed.url.replacingOccurrences(of: "/\(bucket)/a", with: "/\(bucket)/b")
        let moved = try await S3Fixture.raw("GET", otherKey, headers: signed.headers)
        #expect(moved.status == 403, "a signature for key a must not open key b")
        await S3Fixture.cleanUp(client)
    }

    @Test("a wrong secret is signatureDoesNotMatch and an unknown access key accessDenied, through the client")
    func wrongCredentials() async throws {
        let client = try await S3Fixture.client()
        var configuration = client.configuration
        configuration.credentials.secretAccessKey += "x"
        let wrongSecret = try S3Client(configuration: configuration, httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
        let error = await #expect(throws: S3Error.self) { try await wrongSecret.putObject("k", bytes: ByteBuffer(string: "x")) }
        #expect(error?.code == .signatureDoesNotMatch)
        configuration.credentials.accessKeyID = "pier-no-such-key"
        let unknown = try S3Client(configuration: configuration, httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
        let denied = await #expect(throws: S3Error.self) { try await unknown.getObject("k") }
        #expect(denied?.code == .accessDenied)
        #expect(try await client.headObject("k") == nil, "nothing was stored with wrong credentials")
        await S3Fixture.cleanUp(client)
    }

    @Test("a presigned GET needs no credentials; changed, moved or expired it is refused; a presigned PUT stores")
    func presignedURLs() async throws {
        let client = try await S3Fixture.client()
        let bucket = client.configuration.bucket
        try await client.putObject("dir/a b+c", bytes: ByteBuffer(string: "presigned"))
        try await client.putObject("other", bytes: ByteBuffer(string: "other"))
        let url = try client.presignedURL("dir/a b+c", expires: 60)
        let good = try await S3Fixture.raw("GET", url)
        #expect(good.status == 200)
        #expect(good.text == "presigned")

        let signature = try #require(url.split(separator: "X-Amz-Signature=").last)
        let changed = url.replacingOccurrences(of: String(signature), with: String(signature.reversed()))
        #expect(try await S3Fixture.raw("GET", changed).status == 403)
        let longer = url.replacingOccurrences(of: "X-Amz-Expires=60", with: "X-Amz-Expires=600")
        #expect(try await S3Fixture.raw("GET", longer).status == 403, "a URL's expiry is signed")
        let moved = url.replacingOccurrences(of: "/\(bucket)/dir/a%20b%2Bc", with: "/\(bucket)/other")
        #expect(try await S3Fixture.raw("GET", moved).status == 403, "a URL's key is signed")

        let twoHoursAgo = AWSTimestamp(secondsSince1970: AWSTimestamp.now().secondsSince1970 - 7200)
        let expired = try S3Fixture.signer().presign(try S3Fixture.request("GET", bucket: bucket, key: "other"), expires: 60, at: twoHoursAgo)
        let refused = try await S3Fixture.raw("GET", expired.url)
        #expect(refused.status == 403, "an expired URL: \(refused.text)")

        let put = try client.presignedURL("uploaded", method: .PUT, expires: 60)
        #expect(try await S3Fixture.raw("PUT", put, body: Array("by URL".utf8)).status == 200)
        let read = try await S3Fixture.raw("GET", try client.presignedURL("uploaded", expires: 60))
        #expect(read.text == "by URL")
        await S3Fixture.cleanUp(client)
    }
}

extension S3SignatureTests {
    @Test("virtual-host style (bucket in the Host header) is signed as RGW expects")
    func virtualHostStyle() async throws {
        let pathStyle = try await S3Fixture.client()
        var configuration = pathStyle.configuration
        // Why: *.localhost does not resolve here; RGW (`rgw dns name = localhost`) reads the bucket from the Host header.
        let server = try S3TestEnvironment.server()
        configuration.endpoint = server.endpoint.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        configuration.forcePathStyle = false
        var httpConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        httpConfiguration.dnsOverride = ["\(configuration.bucket).localhost": "127.0.0.1", "localhost": "127.0.0.1"]
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let client = try S3Client(configuration: configuration, httpClient: httpClient, logger: S3Fixture.logger)
        try await client.putObject("dir/a b+c", bytes: ByteBuffer(string: "virtual"))
        let read = try await S3Fixture.digest(of: try await client.getObject("dir/a b+c").body)
        #expect(read.count == 7)
        #expect(try await pathStyle.headObject("dir/a b+c")?.size == 7, "the object is in the same bucket, seen path style")
        #expect(try await client.listObjects().objects.map(\.key) == ["dir/a b+c"])
        let presigned = try client.presignedURL("dir/a b+c", expires: 60)
        #expect(presigned.hasPrefix("http://\(configuration.bucket).localhost:"))
        try await httpClient.shutdown()
        await S3Fixture.cleanUp(pathStyle)
    }
}
