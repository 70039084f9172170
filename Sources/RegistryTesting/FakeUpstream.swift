import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RegistryCore
import Synchronization

/// A registry on 127.0.0.1 (ephemeral port) serving in-memory manifests and blobs, for tests of the upstream
/// client and the pull-through cache. It can challenge for basic or bearer authentication (with its own token
/// endpoint at `/token`), redirect blob GETs, fail, stall and corrupt, and it counts what it was asked.
///
/// ```swift
/// let upstream = try await FakeUpstream.start(authentication: .bearer())
/// defer { Task { await upstream.stop() } }   // or `await upstream.stop()` at the end of the test
/// let digest = upstream.addBlob(repository: "library/alpine", bytes: layer)
/// upstream.failNext(1, with: .status(429, retryAfter: 0))
/// … drive the client against upstream.url …
/// #expect(upstream.tokenRequests == 1)
/// #expect(upstream.requests(method: "GET", path: "/v2/library/alpine/blobs/\(digest)") == 2)
/// ```
///
/// Paths: `/v2/` (ping), `/v2/<name>/manifests/<reference>` (GET, HEAD), `/v2/<name>/blobs/<digest>` (GET, HEAD),
/// `/v2/<name>/tags/list` (`n`, `last`, `Link`), `/v2/<name>/referrers/<digest>` (`artifactType`, `Link`; can be
/// turned off, see ``set(referrersAPI:)``), `/token` (bearer mode), and `/_cdn/<digest>` — where redirected
/// blob GETs land, serving any blob it holds without authentication, like a pre-signed S3 URL.
public final class FakeUpstream: Sendable {
    /// How the fake wants clients to authenticate.
    public enum Authentication: Sendable, Equatable {
        /// Anonymous access.
        case none
        /// `WWW-Authenticate: Basic realm="fake"`; the registry API wants these credentials.
        case basic(username: String, password: String)
        /// `WWW-Authenticate: Bearer realm="<url>/token",service=…,scope="repository:<name>:pull"`. The token
        /// endpoint wants these basic credentials when given (anonymous otherwise, refusing any `Authorization` as
        /// Docker Hub refuses credentials it does not know), checks `service` and `scope`, and issues opaque tokens
        /// living `tokenLifetime` seconds.
        case bearer(service: String = "fake-registry", username: String? = nil, password: String? = nil, tokenLifetime: Int = 300)
    }

    /// Where blob GETs are redirected (307), if anywhere.
    public enum BlobRedirect: Sendable, Equatable {
        /// To `/_cdn/<digest>` on this server, as a relative Location (same host: Authorization is kept).
        case sameServer
        /// To `<baseURL>/_cdn/<digest>`, e.g. another `FakeUpstream` that holds the blob too (another origin).
        case otherServer(baseURL: String)
    }

    /// A misbehaviour applied to a request instead of (or while) answering it normally.
    public enum Fault: Sendable, Equatable {
        /// Answer with this status (and `Retry-After` when given) and a spec error body.
        case status(Int, retryAfter: Int? = nil)
        /// Never answer.
        case stallBeforeHeaders
        /// Send the head and the first `bytes` bytes of the body, then nothing more.
        case stallAfterHeaders(bytes: Int = 1)
        /// Declare the full Content-Length, send `after` bytes, then close the connection.
        case truncate(after: Int)
        /// Serve the same number of bytes, but different ones (the digest will not match).
        case wrongBytes
        /// Answer with exactly this status, these headers and this body, whatever was asked: a hostile or broken
        /// upstream (injected tags, a `Link` elsewhere, a `Docker-Content-Digest` that lies, an odd token answer).
        case answer(status: Int, headers: [String: String] = [:], body: [UInt8] = [])
    }

    /// One request as the fake saw it.
    public struct RecordedRequest: Sendable, Equatable {
        /// `GET`, `HEAD`, …
        public var method: String
        /// The path, without query.
        public var path: String
        /// The `Authorization` header, when sent.
        public var authorization: String?
        /// The `Accept` header fields, joined with `, `, when sent.
        public var accept: String?
        /// The `User-Agent` header, when sent.
        public var userAgent: String?
    }

    struct StoredManifest {
        var bytes: [UInt8]
        var mediaType: String
        var digest: Digest
    }

    struct FaultRule {
        var fault: Fault
        var remaining: Int?  // nil: always
        var pathContaining: String?
    }

    struct IssuedToken {
        var repositories: Set<String>
        var expires: ContinuousClock.Instant
    }

    struct State {
        var authentication: Authentication
        var blobRedirect: BlobRedirect?
        var tokenField = "token"
        var tagPageSize = 1000
        var manifests: [String: [String: StoredManifest]] = [:]
        var blobs: [String: [Digest: [UInt8]]] = [:]
        var faults: [FaultRule] = []
        var requests: [RecordedRequest] = []
        var tokens: [String: IssuedToken] = [:]
        var tokenRequests = 0
        var nextToken = 0
        var referrers = ReferrersSettings()
    }

    let state: Mutex<State>
    /// The base URL, e.g. `http://127.0.0.1:54321` (no trailing slash).
    public let url: String
    private let server: Mutex<Task<Void, any Error>?>

    private init(url: String, state: State, server: Task<Void, any Error>?) {
        self.url = url
        self.state = Mutex(state)
        self.server = Mutex(server)
    }

    /// Starts a fake upstream on 127.0.0.1 with an ephemeral port; stop it with ``stop()``.
    public static func start(authentication: Authentication = .none, logger: Logger? = nil) async throws -> FakeUpstream {
        let logger = logger ?? Logger(label: "pier.fake-upstream", factory: { _ in SwiftLogNoOpLogHandler() })
        let handle = FakeUpstreamResponderHandle()
        let ports = AsyncStream<Int?>.makeStream()
        let application = Application(
            responder: FakeUpstreamResponder(handle: handle),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-upstream"),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port) },
            logger: logger
        )
        let task = Task {
            defer { ports.continuation.finish() }
            try await application.run()
        }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next() ?? nil else {
            task.cancel()
            _ = try await task.value
            throw FakeUpstreamError(message: "the fake upstream did not start")
        }
        let upstream = FakeUpstream(url: "http://127.0.0.1:\(port)", state: State(authentication: authentication), server: task)
        handle.set(upstream)
        return upstream
    }

    /// Stops the server: in-flight requests (stalled ones included) are cancelled.
    public func stop() async {
        let task = server.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        _ = try? await task?.value
        state.withLock { $0.faults.removeAll() }
    }

    // MARK: Content

    /// Stores a manifest under `tag` (when given) and under its digest; returns the digest.
    @discardableResult
    public func addManifest(repository: String, tag: String?, bytes: [UInt8], mediaType: String = MediaType.ociManifest) -> Digest {
        let digest = Digest.of(bytes)
        let manifest = StoredManifest(bytes: bytes, mediaType: mediaType, digest: digest)
        state.withLock { state in
            state.manifests[repository, default: [:]][digest.description] = manifest
            if let tag { state.manifests[repository, default: [:]][tag] = manifest }
        }
        return digest
    }

    /// Stores a blob in `repository`; returns its digest.
    @discardableResult
    public func addBlob(repository: String, bytes: [UInt8]) -> Digest {
        let digest = Digest.of(bytes)
        state.withLock { $0.blobs[repository, default: [:]][digest] = bytes }
        return digest
    }

    // MARK: Behaviour

    /// Switches the authentication the fake asks for (issued tokens stay valid).
    public func set(authentication: Authentication) {
        state.withLock { $0.authentication = authentication }
    }

    /// Redirects blob GETs (or stops redirecting with `nil`).
    public func set(blobRedirect: BlobRedirect?) {
        state.withLock { $0.blobRedirect = blobRedirect }
    }

    /// The JSON field the token endpoint puts the token in: `token` (default) or `access_token`.
    public func set(tokenField: String) {
        state.withLock { $0.tokenField = tokenField }
    }

    /// The most tags the fake lists in one page, whatever the client's `n` (to exercise `Link` pagination).
    public func set(tagPageSize: Int) {
        state.withLock { $0.tagPageSize = tagPageSize }
    }

    /// Applies `fault` to the next `count` requests under `/v2/` (or whose path contains `pathContaining`).
    public func failNext(_ count: Int, with fault: Fault, pathContaining: String? = nil) {
        state.withLock { $0.faults.append(FaultRule(fault: fault, remaining: count, pathContaining: pathContaining)) }
    }

    /// Applies `fault` to every request under `/v2/` (or whose path contains `pathContaining`) until ``clearFaults()``.
    public func failAlways(with fault: Fault, pathContaining: String? = nil) {
        state.withLock { $0.faults.append(FaultRule(fault: fault, remaining: nil, pathContaining: pathContaining)) }
    }

    /// Invalidates every token issued so far (as a token revocation or a key rotation would).
    public func revokeTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    /// Removes every pending fault.
    public func clearFaults() {
        state.withLock { $0.faults.removeAll() }
    }

    // MARK: Observations

    /// How many requests with `method` (`GET`, `HEAD`) were made for `path` (without query).
    public func requests(method: String, path: String) -> Int {
        state.withLock { $0.requests.count { $0.method == method && $0.path == path } }
    }

    /// How many requests the token endpoint received.
    public var tokenRequests: Int { state.withLock { $0.tokenRequests } }

    /// Every request received, in order.
    public var recordedRequests: [RecordedRequest] { state.withLock { $0.requests } }

    /// Forgets recorded requests and counts.
    public func resetCounters() {
        state.withLock { state in
            state.requests.removeAll()
            state.tokenRequests = 0
        }
    }
}

/// The fake upstream could not start.
public struct FakeUpstreamError: Error, Sendable {
    /// What went wrong.
    public var message: String
}

/// Lets the responder reach the `FakeUpstream` created after the server (whose URL needs the bound port).
final class FakeUpstreamResponderHandle: Sendable {
    private let upstream = Mutex<FakeUpstream?>(nil)
    func set(_ value: FakeUpstream) { upstream.withLock { $0 = value } }
    var value: FakeUpstream? { upstream.withLock { $0 } }
}
