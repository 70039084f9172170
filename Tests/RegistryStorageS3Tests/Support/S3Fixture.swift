import AsyncHTTPClient
import Foundation
import Crypto
import Logging
import NIOCore
import NIOHTTP1
import RegistryStorageS3
import RegistryTesting

/// Clients of the real S3 server the test command started (``S3TestEnvironment/server()``), each on a new bucket.
enum S3Fixture {
    /// One HTTP client for every test: no redirects followed, a stalled transfer cut after 60 s.
    static let httpClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(60))))

    static let logger = Logger(label: "pier.s3-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A configuration for a new, uniquely named bucket on the test server (path style: `*.localhost` does not resolve).
    static func configuration(bucket: String? = nil) throws -> S3Configuration {
        let server = try S3TestEnvironment.server()
        var random = SystemRandomNumberGenerator()
        let name = bucket ?? "pier-test-" + String((0..<12).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement(using: &random)! })
        return S3Configuration(
            bucket: name, region: server.region, endpoint: server.endpoint, forcePathStyle: true,
            credentials: S3Credentials(accessKeyID: server.accessKey, secretAccessKey: server.secretKey),
            maximumRetries: 2, initialBackoff: .milliseconds(20))
    }

    /// A client on a new bucket, created.
    static func client(_ configuration: S3Configuration? = nil) async throws -> S3Client {
        let client = try S3Client(configuration: configuration ?? self.configuration(), httpClient: httpClient, logger: logger)
        try await client.createBucket()
        return client
    }

    /// `count` seeded pseudo-random bytes.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = generator.next()
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }

    /// `bytes` as a stream of ByteBuffers of at most `chunk` bytes.
    static func stream(_ bytes: [UInt8], chunk: Int = 64 * 1024) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + chunk, bytes.count)
                continuation.yield(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
            continuation.finish()
        }
    }

    /// The SHA-256 (hex) and length of everything `body` yields, read chunk by chunk.
    static func digest(of body: S3ObjectBody) async throws -> (sha256: String, count: Int) {
        var hasher = SHA256()
        var count = 0
        for try await chunk in body {
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            count += chunk.readableBytes
        }
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), count)
    }

    static func sha256(_ bytes: some Sequence<UInt8>) -> String {
        SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
    }

    /// Deletes the objects of the client's bucket, then the bucket (bounded: a broken listing must not loop forever;
    /// the server is thrown away after the run anyway).
    static func cleanUp(_ client: S3Client) async {
        for _ in 0..<10 {
            guard let page = try? await client.listObjects(), !page.objects.isEmpty else { break }
            for object in page.objects { try? await client.deleteObject(object.key) }
        }
        try? await client.deleteBucket()
    }
}

extension S3Fixture {
    /// Sends a request as given, no signing: its status, S3's error `<Code>` if any, and the body as text.
    static func raw(_ method: String, _ url: String, headers: [SigV4Header] = [], body: [UInt8]? = nil) async throws -> (status: Int, text: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await httpClient.execute(request, timeout: .seconds(30))
        let text = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: text))
    }

    /// The signer and request parts of the test server, for requests built by hand.
    static func signer(secret: String? = nil) throws -> SigV4Signer {
        let server = try S3TestEnvironment.server()
        return SigV4Signer(
            credentials: S3Credentials(accessKeyID: server.accessKey, secretAccessKey: secret ?? server.secretKey), region: server.region)
    }

    /// A path-style request to `key` in `bucket` on the test server.
    static func request(_ method: String, bucket: String, key: String) throws -> SigV4Request {
        let server = try S3TestEnvironment.server()
        let authority = server.endpoint.split(separator: "://").last.map(String.init) ?? server.endpoint
        let parts = authority.split(separator: ":")
        return SigV4Request(
            method: method, scheme: server.endpoint.hasPrefix("https") ? "https" : "http", host: String(parts[0]),
            port: parts.count > 1 ? Int(parts[1]) : nil, path: "/\(bucket)/\(key)")
    }
}
