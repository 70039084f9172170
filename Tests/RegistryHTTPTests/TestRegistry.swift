import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RegistryConfig
import RegistryCore
import RegistryProxy
import RegistryServer
import RegistryTesting

/// Runs `body` against a Pier application over fresh embedded stores in a temporary directory; `live` runs a
/// real server (with its channel pipeline: 100-continue, sendfile) instead of calling the responder directly.
func withRegistry(
    live: Bool = false, configure: (inout Configuration) -> Void = { _ in },
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    try await withTemporaryDirectory { root in
        var configuration = Configuration()
        configuration.storage.rootDirectory = root
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        configure(&configuration)
        var logger = Logger(label: "pier.test")
        logger.logLevel = .warning
        let storage = try await StorageStack.open(configuration, logger: logger)
        let httpClient = configuration.proxy.isEnabled ? UpstreamClient.makeHTTPClient() : nil
        do {
            let application = try PierServer.makeApplication(
                configuration: configuration, storage: storage, logger: logger, zeroCopy: live, httpClient: httpClient
            )
            try await application.test(live ? .live : .router) { client in try await body(client) }
        } catch {
            try? await httpClient?.shutdown()
            throw error
        }
        try await httpClient?.shutdown()
    }
}

extension TestClientProtocol {
    /// Sends a request and returns the response.
    func send(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: [UInt8]? = nil) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
    }

    /// Pushes a blob with POST + PUT; returns its digest.
    @discardableResult
    func pushBlob(_ repository: String, _ bytes: [UInt8]) async throws -> Digest {
        let digest = Digest.of(bytes)
        let start = try await send(.post, "/v2/\(repository)/blobs/uploads/")
        guard start.status == .accepted, let location = start.headers[.location] else {
            throw TestFailure("POST upload answered \(start.status)")
        }
        let put = try await send(.put, location + "?digest=\(digest)", body: bytes)
        guard put.status == .created else { throw TestFailure("PUT upload answered \(put.status): \(String(buffer: put.body))") }
        return digest
    }

    /// Pushes an image (config + one layer + manifest) under `tag`; returns the manifest bytes and digest.
    @discardableResult
    func pushImage(_ repository: String, tag: String, seed: UInt64 = 1, subject: (Digest, Int)? = nil, artifactType: String? = nil,
                   annotations: [String: String]? = nil) async throws -> ([UInt8], Digest) {
        let config = TestContent.bytes(40, seed: seed)
        let layer = TestContent.bytes(3000, seed: seed + 100)
        let configDigest = try await pushBlob(repository, config)
        let layerDigest = try await pushBlob(repository, layer)
        let manifest = TestContent.imageManifest(config: (configDigest, config.count), layers: [(layerDigest, layer.count)],
                                                 subject: subject, artifactType: artifactType, annotations: annotations)
        let response = try await send(.put, "/v2/\(repository)/manifests/\(tag)", headers: [.contentType: MediaType.ociManifest], body: manifest)
        guard response.status == .created else { throw TestFailure("manifest PUT answered \(response.status): \(String(buffer: response.body))") }
        return (manifest, Digest.of(manifest))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension TestResponse {
    /// The `code` of the first error in the spec's JSON envelope, if the body is one.
    var errorCode: String? {
        struct Envelope: Decodable { struct Item: Decodable { var code: String }; var errors: [Item] }
        return (try? JSONDecoder().decode(Envelope.self, from: Data(body.readableBytesView)))?.errors.first?.code
    }

    var bytes: [UInt8] { Array(body.readableBytesView) }
}

extension HTTPField.Name {
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let dockerUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
    static let dockerAPIVersion = HTTPField.Name("Docker-Distribution-API-Version")!
    static let ociSubject = HTTPField.Name("OCI-Subject")!
    static let ociTag = HTTPField.Name("OCI-Tag")!
    static let ociFiltersApplied = HTTPField.Name("OCI-Filters-Applied")!
    static let link = HTTPField.Name("Link")!
}
