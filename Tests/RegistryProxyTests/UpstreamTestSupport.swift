import AsyncHTTPClient
import Logging
import NIOCore
import RegistryCore
import RegistryProxy
import RegistryTesting
import Testing

/// Runs `body` with a started fake upstream and an upstream client pointed at it; stops both afterwards.
func withUpstream(
    authentication: FakeUpstream.Authentication = .none,
    configure: (inout UpstreamConfiguration) -> Void = { _ in },
    _ body: (FakeUpstream, UpstreamClient) async throws -> Void
) async throws {
    let upstream = try await FakeUpstream.start(authentication: authentication)
    var configuration = UpstreamConfiguration(url: upstream.url)
    configuration.maximumBackoff = .milliseconds(200)
    configure(&configuration)
    let httpClient = UpstreamClient.makeHTTPClient(configuration: configuration)
    let client = UpstreamClient(configuration: configuration, httpClient: httpClient, logger: testLogger)
    do {
        try await body(upstream, client)
    } catch {
        try? await httpClient.shutdown()
        await upstream.stop()
        throw error
    }
    try await httpClient.shutdown()
    await upstream.stop()
}

let testLogger = Logger(label: "pier.test.upstream", factory: { _ in SwiftLogNoOpLogHandler() })

/// The manifest media types a pull accepts.
let manifestAccept = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList]

/// Runs `operation`, expecting an ``UpstreamError``; returns it (nil, and a recorded issue, otherwise).
func upstreamError<T>(_ operation: () async throws -> T, sourceLocation: SourceLocation = #_sourceLocation) async -> UpstreamError? {
    do {
        _ = try await operation()
        Issue.record("expected an UpstreamError, the operation succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as UpstreamError {
        return error
    } catch {
        Issue.record("expected an UpstreamError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Reads a whole streamed body.
func collect(_ body: HTTPClientResponse.Body) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    for try await chunk in body { bytes += chunk.readableBytesView }
    return bytes
}

/// Gets a blob and reads its whole body.
func blobBytes(_ client: UpstreamClient, repository: String, digest: Digest) async throws -> [UInt8] {
    try await collect(client.getBlob(repository: repository, digest: digest).body)
}
