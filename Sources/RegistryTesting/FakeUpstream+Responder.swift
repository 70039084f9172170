import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import Synchronization

/// The fake upstream's HTTP API.
struct FakeUpstreamResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let handle: FakeUpstreamResponderHandle

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let upstream = handle.value else { return Response(status: .serviceUnavailable) }
        return try await upstream.respond(to: request)
    }
}

extension HTTPField.Name {
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let link = HTTPField.Name("Link")!
    static let ociFiltersApplied = HTTPField.Name("OCI-Filters-Applied")!
}

extension FakeUpstream {
    /// How long a stall lasts at most (it ends earlier when the server stops).
    static let stallLimit = Duration.seconds(300)

    func respond(to request: Request) async throws -> Response {
        let path = request.uri.path
        let method = request.method.rawValue
        let fault: Fault? = state.withLock { state in
            let accept = request.headers[values: .accept]
            state.requests.append(
                RecordedRequest(
                    method: method, path: path, authorization: request.headers[.authorization],
                    accept: accept.isEmpty ? nil : accept.joined(separator: ", "), userAgent: request.headers[.userAgent]))
            if path == "/token" { state.tokenRequests += 1 }
            guard
                let index = state.faults.firstIndex(where: { rule in
                    rule.pathContaining.map { path.contains($0) } ?? path.hasPrefix("/v2/")
                })
            else { return nil }
            let rule = state.faults[index]
            if let remaining = rule.remaining {
                if remaining <= 1 { state.faults.remove(at: index) } else { state.faults[index].remaining = remaining - 1 }
            }
            return rule.fault
        }
        switch fault {
        case .status(let code, let retryAfter):
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter { headers[.retryAfter] = String(retryAfter) }
            return Self.errorResponse(HTTPResponse.Status(code: code), code: code == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", headers: headers)
        case .stallBeforeHeaders:
            try await Task.sleep(for: Self.stallLimit)
            return Response(status: .serviceUnavailable)
        case .answer(let status, let fields, let body):
            var headers: HTTPFields = [:]
            for (name, value) in fields { if let name = HTTPField.Name(name) { headers[name] = value } }
            return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        default:
            break
        }
        let response: Response
        if path == "/token" {
            response = token(request)
        } else if path.hasPrefix("/_cdn/") {
            response = cdn(path: path, method: request.method, fault: fault)
        } else if path == "/v2/" || path == "/v2" {
            response = authenticate(request, repository: nil) ?? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: Self.json([:]))))
        } else if path.hasPrefix("/v2/") {
            response = registry(request, path: path, fault: fault)
        } else {
            response = Self.errorResponse(.notFound, code: "NOT_FOUND")
        }
        return response
    }

    // MARK: Registry API

    private func registry(_ request: Request, path: String, fault: Fault?) -> Response {
        let route = String(path.dropFirst("/v2/".count))
        if route.hasSuffix("/tags/list") {
            let repository = String(route.dropLast("/tags/list".count))
            return authenticate(request, repository: repository) ?? tags(request, repository: repository)
        }
        if let range = route.range(of: "/referrers/", options: .backwards), !route[range.upperBound...].contains("/") {
            let repository = String(route[..<range.lowerBound])
            return authenticate(request, repository: repository) ?? referrers(request, repository: repository, subject: String(route[range.upperBound...]))
        }
        for kind in ["/manifests/", "/blobs/"] {
            guard let range = route.range(of: kind, options: .backwards) else { continue }
            let repository = String(route[..<range.lowerBound])
            let reference = String(route[range.upperBound...])
            if let refusal = authenticate(request, repository: repository) { return refusal }
            return kind == "/manifests/"
                ? manifest(repository: repository, reference: reference, method: request.method, fault: fault)
                : blob(repository: repository, reference: reference, method: request.method, fault: fault)
        }
        return Self.errorResponse(.notFound, code: "NOT_FOUND")
    }

    private func manifest(repository: String, reference: String, method: HTTPRequest.Method, fault: Fault?) -> Response {
        guard let manifest = state.withLock({ $0.manifests[repository]?[reference] }) else {
            return Self.errorResponse(.notFound, code: "MANIFEST_UNKNOWN")
        }
        let headers: HTTPFields = [.contentType: manifest.mediaType, .dockerContentDigest: manifest.digest.description]
        return Self.contentResponse(manifest.bytes, headers: headers, method: method, fault: fault)
    }

    private func blob(repository: String, reference: String, method: HTTPRequest.Method, fault: Fault?) -> Response {
        let (bytes, redirect) = state.withLock { state in
            (Digest(reference).flatMap { state.blobs[repository]?[$0] }, state.blobRedirect)
        }
        guard let bytes else { return Self.errorResponse(.notFound, code: "BLOB_UNKNOWN") }
        if method == .get, let redirect {
            let location =
                switch redirect {
                case .sameServer: "/_cdn/\(reference)?signature=fake"
                case .otherServer(let baseURL): "\(baseURL)/_cdn/\(reference)?signature=fake"
                }
            return Response(status: .temporaryRedirect, headers: [.location: location])
        }
        return Self.blobResponse(bytes, digest: reference, method: method, fault: fault)
    }

    private func cdn(path: String, method: HTTPRequest.Method, fault: Fault?) -> Response {
        let reference = String(path.dropFirst("/_cdn/".count))
        let bytes = state.withLock { state in
            Digest(reference).flatMap { digest in state.blobs.values.lazy.compactMap { $0[digest] }.first }
        }
        guard let bytes else { return Self.errorResponse(.notFound, code: "NoSuchKey") }
        return Self.blobResponse(bytes, digest: reference, method: method, fault: fault)
    }

    private static func blobResponse(_ bytes: [UInt8], digest: String, method: HTTPRequest.Method, fault: Fault?) -> Response {
        let headers: HTTPFields = [.contentType: MediaType.octetStream, .dockerContentDigest: digest]
        return contentResponse(bytes, headers: headers, method: method, fault: fault)
    }

    /// A 200 with `bytes` as its body (none for HEAD), misbehaving as `fault` says.
    private static func contentResponse(_ bytes: [UInt8], headers: HTTPFields, method: HTTPRequest.Method, fault: Fault?) -> Response {
        var headers = headers
        headers[.contentLength] = String(bytes.count)
        guard method != .head else { return Response(status: .ok, headers: headers, body: .init()) }
        let body: ResponseBody
        switch fault {
        case .stallAfterHeaders(let count):
            body = ResponseBody { writer in
                try await writer.write(ByteBuffer(bytes: bytes.prefix(count)))
                try await Task.sleep(for: stallLimit)
                try await writer.finish(nil)
            }
        case .truncate(let after):
            body = ResponseBody { writer in
                try await writer.write(ByteBuffer(bytes: bytes.prefix(after)))
                // Throwing after the head was sent makes the server close the connection mid-body.
                throw FakeUpstreamError(message: "truncated on purpose")
            }
        case .wrongBytes:
            body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes.map { $0 ^ 0xFF }))
        case .status, .stallBeforeHeaders, .answer, nil:
            body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    private func tags(_ request: Request, repository: String) -> Response {
        let (stored, pageSize) = state.withLock { ($0.manifests[repository].map { Array($0.keys) }, $0.tagPageSize) }
        guard let references = stored else {
            return Self.errorResponse(.notFound, code: "NAME_UNKNOWN")
        }
        var all = references.filter { Digest($0) == nil }.sorted()
        let query = request.uri.queryParameters
        if let last = query["last"].map(String.init) { all = all.filter { $0 > last } }
        let limit = min(query["n"].flatMap { Int(String($0)) } ?? all.count, pageSize)
        let page = Array(all.prefix(limit))
        var headers: HTTPFields = [.contentType: "application/json"]
        if page.count < all.count, let last = page.last {
            headers[.link] = "</v2/\(repository)/tags/list?n=\(limit)&last=\(last)>; rel=\"next\""
        }
        let json = try? JSONSerialization.data(withJSONObject: ["name": repository, "tags": page])
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Array(json ?? Data()))))
    }

    // MARK: Authentication

    /// A 401 when the request is not authorised for `repository` (nil: the ping), else nil.
    private func authenticate(_ request: Request, repository: String?) -> Response? {
        let authorization = request.headers[.authorization]
        let now = ContinuousClock.now
        return state.withLock { state -> Response? in
            switch state.authentication {
            case .none:
                return nil
            case .basic(let username, let password):
                if Self.hasCredentials(authorization, username: username, password: password) { return nil }
                return Self.errorResponse(.unauthorized, code: "UNAUTHORIZED", headers: [.wwwAuthenticate: "Basic realm=\"fake\""])
            case .bearer(let service, _, _, _):
                if let authorization, authorization.hasPrefix("Bearer "),
                    let token = state.tokens[String(authorization.dropFirst("Bearer ".count))], token.expires > now,
                    repository.map({ token.repositories.contains($0) }) ?? true
                {
                    return nil
                }
                var challenge = "Bearer realm=\"\(url)/token\",service=\"\(service)\""
                if let repository { challenge += ",scope=\"repository:\(repository):pull\"" }
                return Self.errorResponse(.unauthorized, code: "UNAUTHORIZED", headers: [.wwwAuthenticate: challenge])
            }
        }
    }

    /// The token endpoint: checks service, scope and (when configured) basic credentials; issues an opaque token.
    private func token(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        let authorization = request.headers[.authorization]
        return state.withLock { state -> Response in
            guard case .bearer(let service, let username, let password, let lifetime) = state.authentication else {
                return Self.errorResponse(.notFound, code: "NOT_FOUND")
            }
            if let username, let password {
                guard Self.hasCredentials(authorization, username: username, password: password) else {
                    return Self.errorResponse(.unauthorized, code: "UNAUTHORIZED")
                }
            } else if authorization != nil {
                // As Docker Hub's token service: anonymous tokens for anyone, but credentials it does not know
                // (a user "" included) are refused, not ignored.
                return Self.errorResponse(.unauthorized, code: "UNAUTHORIZED")
            }
            guard query["service"].map(String.init) == service else {
                return Self.errorResponse(.badRequest, code: "INVALID_SERVICE")
            }
            var repositories: Set<String> = []
            for scope in query.getAll("scope") {
                let parts = scope.split(separator: ":")
                guard parts.count == 3, parts[0] == "repository", parts[2].split(separator: ",").contains("pull") else {
                    return Self.errorResponse(.badRequest, code: "INVALID_SCOPE")
                }
                repositories.insert(String(parts[1]))
            }
            state.nextToken += 1
            let token = "fake-token-\(state.nextToken)-\(UInt32.random(in: .min ... .max))"
            state.tokens[token] = IssuedToken(repositories: repositories, expires: .now + .seconds(lifetime))
            let object: [String: Any] = [
                state.tokenField: token, "expires_in": lifetime, "issued_at": ISO8601DateFormatter().string(from: Date()),
            ]
            let json = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: Array(json))))
        }
    }

    private static func hasCredentials(_ authorization: String?, username: String, password: String) -> Bool {
        guard let authorization, let (user, secret) = basicCredentials(authorization) else { return false }
        return user == username && secret == password
    }

    private static func basicCredentials(_ authorization: String) -> (String, String)? {
        guard authorization.hasPrefix("Basic "), let data = Data(base64Encoded: String(authorization.dropFirst("Basic ".count))),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    // MARK: Responses

    static func errorResponse(_ status: HTTPResponse.Status, code: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        let body = json(["errors": [["code": code, "message": "fake upstream says \(code)"]]])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `object` as JSON bytes.
    static func json(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }
}
