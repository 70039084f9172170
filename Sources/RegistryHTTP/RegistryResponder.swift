import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RegistryAuth
import RegistryCore
import RegistryProxy
import RegistryStorage

/// The whole HTTP API: parses the path from the right, dispatches to a controller, renders every error as the
/// spec's envelope, adds the headers every response carries, and writes one access-log line per request.
public struct RegistryResponder: HTTPResponder {
    public typealias Context = RegistryRequestContext

    let registry: Registry
    let manifests: ManifestController
    let blobs: BlobController
    let uploads: UploadController
    let listings: ListingController
    /// The pull-through cache, when upstreams are mirrored.
    let pullThrough: PullThroughCache?
    /// Headers added to every response (Distribution's `http.headers`).
    let extraHeaders: HTTPFields
    /// Distribution's `http.host`: when set, `Location` and `Link` URLs are absolute under it.
    let externalURL: String?
    let accessLog: Logger
    let logger: Logger
    /// Renders the process's metrics in Prometheus's text format for `GET /metrics`; `nil` turns the endpoint off.
    let metricsExporter: (@Sendable () -> [UInt8])?
    let httpMetrics = HTTPMetrics()
    /// The admin API, when an admin token is configured.
    let admin: AdminController?
    /// Authentication and access rules for every `/v2/` request, when any are configured.
    let accessControl: AccessControl?
    /// Pier's own token service (`/token`), when it issues tokens.
    let tokens: TokenController?

    /// - Parameters:
    ///   - extraHeaders: headers added to every response, e.g. `X-Content-Type-Options: nosniff`.
    ///   - externalURL: the externally reachable base URL (`http.host`), for absolute `Location` headers.
    ///   - accessLog: the logger that receives one `info` line per request.
    ///   - fileSends: when given, blob bodies are sent with `sendfile(2)` by a handler in the channel pipeline.
    ///   - pullThrough: the pull-through cache, when upstreams are mirrored.
    public init(
        registry: Registry, extraHeaders: HTTPFields = [:], externalURL: String? = nil, fileSends: FileSendRegistry? = nil,
        pullThrough: PullThroughCache? = nil, metricsExporter: (@Sendable () -> [UInt8])? = nil, adminToken: String? = nil,
        accessControl: AccessControl? = nil, accessLog: Logger, logger: Logger
    ) {
        self.accessControl = accessControl
        if let accessControl, let settings = accessControl.token, let signer = settings.signer {
            tokens = TokenController(access: accessControl, settings: settings, signer: signer)
        } else {
            tokens = nil
        }
        self.metricsExporter = metricsExporter
        admin = adminToken.map { AdminController(token: $0, pullThrough: pullThrough) }
        self.registry = registry
        self.pullThrough = pullThrough
        manifests = ManifestController(registry: registry, pullThrough: pullThrough)
        blobs = BlobController(registry: registry, fileSends: fileSends, pullThrough: pullThrough)
        // With access rules, a mount must name a source the caller may pull (checked before the controller runs).
        uploads = UploadController(registry: registry, mountsAnywhere: accessControl == nil)
        listings = ListingController(registry: registry, pullThrough: pullThrough)
        self.extraHeaders = extraHeaders
        self.externalURL = externalURL
        self.accessLog = accessLog
        self.logger = logger
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await route(request, client: context.remoteAddress?.ipAddress ?? "-")
        } catch {
            response = ErrorResponse.make(for: error, logger: logger)
        }
        if request.method == .head {
            // The headers of the GET answer without its body, whatever the route wrote. NIO's HTTP/1 encoder would drop
            // a body only for a request decoder paired with it, which Pier's own decoder is not; HTTP/2 never would.
            response = response.createHeadResponse()
        }
        response.headers[.dockerDistributionAPIVersion] = apiVersion
        if let externalURL {
            if let location = response.headers[.location], location.hasPrefix("/") {
                response.headers[.location] = externalURL + location
            }
            if let link = response.headers[.link], link.hasPrefix("</") {
                response.headers[.link] = "<" + externalURL + link.dropFirst()
            }
        }
        if !extraHeaders.isEmpty {
            for field in extraHeaders where response.headers[field.name] == nil {
                response.headers.append(field)
            }
        }
        let elapsed = ContinuousClock.now - start
        httpMetrics.record(
            method: request.method, status: response.status.code,
            nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        )
        if accessLog.logLevel <= .info {
            let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            accessLog.info("request", metadata: [
                "method": "\(request.method)",
                "path": "\(request.uri.path.prefix(512))",
                "status": "\(response.status.code)",
                "bytes": "\(response.headers[.contentLength] ?? "-")",
                "duration_ms": "\((milliseconds * 1000).rounded() / 1000)",
                "remote": "\(context.remoteAddress?.ipAddress ?? "-")",
                "user_agent": "\(request.headers[.userAgent]?.prefix(200) ?? "-")",
            ])
        }
        return response
    }

    private func route(_ request: Request, client: String) async throws -> Response {
        if request.uri.path == "/healthz", request.method == .get || request.method == .head {
            // For load balancers: the process answers and its metadata store can be read.
            _ = try await registry.metadata.repositories(after: nil, limit: 1)
            return try .json(["status": "ok"])
        }
        if request.uri.path.hasPrefix("/admin/") {
            guard let admin else { throw RegistryError(.unsupported, status: 404, message: "the admin API is off: set admin.token") }
            guard request.uri.path == "/admin/prefetch" else { throw RegistryError(.unsupported, status: 404, message: "no such endpoint") }
            guard request.method == .post else { throw RegistryError(.unsupported, status: 405, message: "method \(request.method) not allowed here") }
            return try await admin.prefetch(request)
        }
        if request.uri.path == "/metrics", request.method == .get, let metricsExporter {
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metricsExporter()))
            )
        }
        if let coding = request.headers[.transferEncoding], coding.lowercased().trimmingCharacters(in: .whitespaces) != "chunked" {
            // RFC 9112 §6.1: a transfer coding the server does not understand is answered 501. Reading a
            // `gzip, chunked` body as plain chunked would store bytes the client did not mean.
            throw RegistryError(.unsupported, status: 501, message: "unsupported Transfer-Encoding", detail: String(coding.prefix(100)))
        }
        if request.uri.path == "/token", let tokens {
            return try await tokens.respond(request, client: client)
        }
        var grant: AccessControl.Grant?
        let path = RegistryPath(request.uri.path)
        if let accessControl, request.uri.path == "/v2" || request.uri.path.hasPrefix("/v2/") {
            grant = try await accessControl.authorize(request, path: path, client: client)
        }
        guard let path else {
            throw RegistryError(.unsupported, status: 404, message: "no such endpoint")
        }
        let method = request.method
        if let pullThrough, let name = path.repositoryName {
            let namespace = request.uri.queryParameters["ns"].map(String.init)
            if method == .get || method == .head {
                if let route = try await pullThrough.route(name: name, namespace: namespace) {
                    return try await routeMirrored(request, path: path, route: route)
                }
            } else if let mirror = pullThrough.mirror(owningWritesTo: name, namespace: namespace) {
                throw RegistryError(.unsupported, status: 405, message: "\(name) is a read-only mirror of \(mirror.client.configuration.url)")
            }
        }
        switch path {
        case .base:
            guard method == .get || method == .head else { break }
            return try .json([String: String]())
        case .catalog:
            guard method == .get else { break }
            return try await listings.catalog(request, including: grant?.catalogFilter)
        case .tags(let name):
            guard method == .get else { break }
            return try await listings.listTags(request, repository: try RepositoryName(parsing: name))
        case .referrers(let name, let digest):
            guard method == .get else { break }
            return try await listings.listReferrers(request, repository: try RepositoryName(parsing: name), subject: try Digest(parsing: digest))
        case .manifest(let name, let reference):
            let repository = try RepositoryName(parsing: name)
            switch method {
            case .get, .head:
                return try await manifests.getManifest(request, repository: repository, reference: try existingReference(reference), head: method == .head)
            case .put:
                return try await manifests.putManifest(request, repository: repository, reference: try Reference(parsing: reference))
            case .delete:
                return try await manifests.deleteManifest(repository: repository, reference: try existingReference(reference))
            default: break
            }
        case .blob(let name, let digest):
            let repository = try RepositoryName(parsing: name)
            switch method {
            case .get, .head:
                return try await blobs.getBlob(request, repository: repository, digest: try Digest(parsing: digest), head: method == .head)
            case .delete:
                return try await blobs.deleteBlob(repository: repository, digest: try Digest(parsing: digest))
            default: break
            }
        case .uploads(let name):
            guard method == .post else { break }
            return try await uploads.startUpload(request, repository: try RepositoryName(parsing: name))
        case .upload(let name, let id):
            let repository = try RepositoryName(parsing: name)
            switch method {
            case .get: return try await uploads.uploadStatus(repository: repository, id: id)
            case .patch: return try await uploads.appendChunk(request, repository: repository, id: id)
            case .put: return try await uploads.finishUpload(request, repository: repository, id: id)
            case .delete: return try await uploads.cancelUpload(repository: repository, id: id)
            default: break
            }
        }
        throw RegistryError(.unsupported, status: 405, message: "method \(method) not allowed here")
    }

    /// A read of a mirrored repository: served from the cache, filled from its upstream.
    private func routeMirrored(_ request: Request, path: RegistryPath, route: MirrorRoute) async throws -> Response {
        let head = request.method == .head
        var response: Response
        switch path {
        case .manifest(_, let reference):
            response = try await manifests.getManifest(
                request, repository: route.repository, reference: try existingReference(reference), head: head, route: route
            )
        case .blob(_, let digest):
            response = try await blobs.getBlob(request, repository: route.repository, digest: try Digest(parsing: digest), head: head, route: route)
        case .tags(let name):
            guard !head else { throw RegistryError(.unsupported, status: 405, message: "method HEAD not allowed here") }
            // The listing carries the name the client asked for.
            response = try await listings.listTags(request, repository: (try? RepositoryName(parsing: name)) ?? route.repository, route: route)
        case .referrers(_, let digest):
            guard !head else { throw RegistryError(.unsupported, status: 405, message: "method HEAD not allowed here") }
            response = try await listings.listReferrers(request, repository: route.repository, subject: try Digest(parsing: digest), route: route)
        default:
            throw RegistryError(.unsupported, status: 405, message: "method \(request.method) not allowed here")
        }
        response.headers[.ociNamespace] = route.mirror.host
        return response
    }

    /// A reference to look up: a string that cannot be a tag names nothing, so it is unknown (404), not invalid;
    /// a malformed digest stays a 400.
    private func existingReference(_ string: String) throws(RegistryError) -> Reference {
        do {
            return try Reference(parsing: string)
        } catch where error.code == .manifestInvalid {
            throw RegistryError(.manifestUnknown, message: "manifest unknown", detail: String(string.prefix(200)))
        }
    }
}
