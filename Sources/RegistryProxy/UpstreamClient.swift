import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RegistryCore

/// A client of one upstream registry (Docker Hub, ghcr.io, another Pier): fetches manifests, blobs and tags
/// the way Docker and containerd do.
///
/// Requests go out anonymously first (or with a cached token); a 401 challenge is answered with a bearer
/// token from the upstream's token endpoint (cached per realm, service and scope, fetched once however many
/// requests need it) or with basic credentials. Redirects are followed here, dropping `Authorization` when
/// they leave the upstream's origin. 429, 502, 503, 504 and connection failures are retried with backoff.
///
/// Every method throws only ``UpstreamError``, whose message names the upstream.
public final class UpstreamClient: Sendable {
    /// Where the upstream is, its credentials, retries and timeouts.
    public let configuration: UpstreamConfiguration
    let httpClient: HTTPClient
    let logger: Logger
    let authentication = AuthenticationState()

    /// Most redirects followed for one request.
    static let maximumRedirects = 5
    /// Most bytes read of an error body or a token response.
    static let smallBodyLimit = 1 << 20
    /// Most pages of a tag list followed.
    static let maximumTagPages = 100

    /// A client of the upstream described by `configuration`, sending through `httpClient` (best made by
    /// ``makeHTTPClient(configuration:)``: it must not follow redirects itself).
    public init(configuration: UpstreamConfiguration, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.httpClient = httpClient
        var logger = logger
        logger[metadataKey: "upstream"] = .string(UpstreamURL.redacted(configuration.url))
        self.logger = logger
    }

    /// An HTTPClient configured as the upstream client needs (no automatic redirects — this client follows them
    /// itself; decompression off; connect timeout; pool per host), on NIO's singleton event loop group. The caller
    /// shuts it down (`try await client.shutdown()`). Its timeouts are the defaults of ``UpstreamConfiguration``.
    public static func makeHTTPClient() -> HTTPClient {
        makeHTTPClient(configuration: UpstreamConfiguration(url: ""))
    }

    /// An HTTPClient as ``makeHTTPClient()`` makes, with the connect and read timeouts of `configuration`.
    ///
    /// The read timeout is the client's, so it bounds the silence between body chunks of every request sent
    /// through it; upstreams with different read timeouts need different clients.
    public static func makeHTTPClient(configuration: UpstreamConfiguration) -> HTTPClient {
        var httpConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: configuration.connectTimeout.timeAmount, read: configuration.readTimeout.timeAmount),
            decompression: .disabled
        )
        // AsyncHTTPClient pools connections per scheme, host and port; HTTP/2 is used over TLS when offered.
        httpConfiguration.httpVersion = .automatic
        // Why: by default AsyncHTTPClient retries a refused connection quietly until the connect timeout, so a down
        // upstream costs every request the whole connect timeout (measured: 10 s per attempt). This client retries
        // with its own bounded backoff instead, so that a dead upstream fails in milliseconds.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration)
    }

    /// HEAD /v2/<repository>/manifests/<reference>
    public func headManifest(
        repository: String, reference: String, accept: [String]
    ) async throws(UpstreamError) -> UpstreamManifestHead {
        let path = UpstreamURL.path(repository: repository, kind: "manifests", reference: reference)
        let request = "HEAD \(path)"
        let response = try await perform(.HEAD, path: path, repository: repository, accept: accept)
        guard response.status == .ok else {
            throw await failure(for: response, request: request)
        }
        return UpstreamManifestHead(
            digest: try contentDigest(of: response, request: request),
            mediaType: try contentType(of: response, request: request),
            size: Self.contentLength(response.headers)
        )
    }

    /// GET /v2/<repository>/manifests/<reference>; a body longer than `limit` bytes fails with .tooLarge (read at most limit+1 bytes, never more)
    ///
    /// A Docker-Content-Digest that does not match the bytes (or is not a digest), bytes that do not match a digest
    /// `reference`, and a Content-Type that is not a media type fail with `.invalidResponse`.
    public func getManifest(
        repository: String, reference: String, accept: [String], limit: Int
    ) async throws(UpstreamError) -> UpstreamManifest {
        let path = UpstreamURL.path(repository: repository, kind: "manifests", reference: reference)
        let request = "GET \(path)"
        let response = try await perform(.GET, path: path, repository: repository, accept: accept)
        guard response.status == .ok else {
            throw await failure(for: response, request: request)
        }
        let headerDigest = try contentDigest(of: response, request: request)
        let contentType = try contentType(of: response, request: request)
        let bytes = try await readBody(of: response, limit: limit, request: request)
        for expected in [headerDigest, Digest(reference)].compactMap({ $0 }) {
            let actual = Digest.of(bytes, algorithm: expected.algorithm)
            guard actual == expected else {
                throw UpstreamError(
                    .invalidResponse, upstream: configuration.url, status: 200,
                    message: "upstream \(configuration.url) served a manifest with digest \(actual) for \(request), expected \(expected)")
            }
        }
        let mediaType = contentType ?? MediaTypeEssence.declared(in: bytes) ?? ""
        return UpstreamManifest(bytes: bytes, mediaType: mediaType, digest: headerDigest)
    }

    /// HEAD /v2/<repository>/blobs/<digest>: the blob's size, when the upstream says it.
    public func headBlob(repository: String, digest: Digest) async throws(UpstreamError) -> Int64? {
        let path = UpstreamURL.path(repository: repository, kind: "blobs", reference: digest.description)
        let response = try await perform(.HEAD, path: path, repository: repository, accept: [])
        let request = "HEAD \(path)"
        guard response.status == .ok else {
            throw await failure(for: response, request: request)
        }
        // A HEAD confirms a cached blob for a repository (no bytes are checked): an upstream naming another blob has not.
        if let named = try contentDigest(of: response, request: request), named != digest {
            throw UpstreamError(
                .invalidResponse, upstream: configuration.url, status: 200,
                message: "upstream \(configuration.url) answered \(request) with Docker-Content-Digest \(named)")
        }
        return Self.contentLength(response.headers)
    }

    /// GET /v2/<repository>/blobs/<digest>, following redirects (up to 5); only a 200 returns.
    ///
    /// The body streams; the caller verifies its digest while storing it.
    public func getBlob(repository: String, digest: Digest) async throws(UpstreamError) -> UpstreamBlob {
        let path = UpstreamURL.path(repository: repository, kind: "blobs", reference: digest.description)
        let request = "GET \(path)"
        let response = try await perform(.GET, path: path, repository: repository, accept: [])
        guard response.status == .ok else {
            throw await failure(for: response, request: request)
        }
        let size = Self.contentLength(response.headers)
        let body = UpstreamBodySequence(body: response.body, expectedLength: size, upstream: configuration.url, request: request)
        return UpstreamBlob(size: size, body: .stream(body))
    }

    /// GET /v2/<repository>/tags/list?n=... following `Link` pages, until `limit` tags or 100 pages.
    ///
    /// Only tags of the spec's grammar are returned, each once; the others are dropped with a warning. The pages
    /// together may hold at most 4 MiB (else `.tooLarge`), and a `Link` is followed only to the same tag list on this
    /// upstream.
    public func listTags(repository: String, limit: Int) async throws(UpstreamError) -> [String] {
        let listPath = UpstreamURL.tagsPath(repository: repository)
        var tags: [String] = []
        var seen: Set<String> = []
        var budget = Self.maximumTagListBytes
        var path: String? = listPath + "?n=\(min(max(limit, 1), 1000))"
        var requested: Set<String> = []
        while let current = path, tags.count < limit, requested.count < Self.maximumTagPages {
            // A Link back to a page already read would loop: the listing ends there.
            guard requested.insert(current).inserted else { break }
            let request = "GET \(current)"
            let response = try await perform(.GET, path: current, repository: repository, accept: [MediaTypeEssence.json])
            guard response.status == .ok else {
                throw await failure(for: response, request: request)
            }
            let bytes = try await readBody(of: response, limit: budget, request: request)
            budget -= bytes.count
            guard let page = try? JSONDecoder().decode(TagList.self, from: Data(bytes)) else {
                throw UpstreamError(
                    .invalidResponse, upstream: configuration.url, status: 200,
                    message: "upstream \(configuration.url) answered \(request) with a malformed tag list")
            }
            let (valid, invalid) = Self.validTags(page.tags ?? [])
            for tag in valid where seen.insert(tag).inserted { tags.append(tag) }
            if !invalid.isEmpty {
                logger.warning("upstream listed tags that are not tags; dropped them", metadata: [
                    "repository": "\(repository)", "dropped": "\(invalid.count)",
                    "examples": "\(invalid.prefix(3).map { Self.printable($0, limit: 60) })",
                ])
            }
            path = response.headers[HeaderName.link].lazy.compactMap {
                self.nextPagePath(fromLink: $0, requestURL: self.configuration.url + current, listPath: listPath)
            }.first
        }
        return Array(tags.prefix(limit))
    }
}

/// The JSON of a tag list.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags
private struct TagList: Decodable {
    var tags: [String]?
}
