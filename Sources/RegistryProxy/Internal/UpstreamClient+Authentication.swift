import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

// Authentication as Docker and containerd do it: anonymous (or a cached token) first, then answer the
// 401 challenge once with a bearer token or basic credentials.
// https://distribution.github.io/distribution/spec/auth/token/
extension UpstreamClient {
    /// What a request carries to authenticate.
    private enum Credential {
        case bearer(TokenKey, String)
        case basic

        var isBasic: Bool {
            if case .basic = self { return true }
            return false
        }
    }

    /// Sends a registry API request for `repository`, authenticating as the upstream asks.
    ///
    /// Returns any answer except 401 and 403, which become `.unauthorized`.
    func perform(
        _ method: HTTPMethod, path: String, repository: String, accept: [String]
    ) async throws(UpstreamError) -> HTTPClientResponse {
        let url = configuration.url + path
        let request = "\(method) \(path)"
        var headers = HTTPHeaders()
        headers.add(name: HeaderName.userAgent, value: upstreamUserAgent)
        if !accept.isEmpty { headers.add(name: HeaderName.accept, value: accept.joined(separator: ", ")) }

        var credential = try await initialCredential(repository: repository)
        var challenged = false
        while true {
            let response = try await send(method, url: url, headers: headers, authorization: authorization(for: credential))
            switch response.status.code {
            case 401:
                break
            case 403:
                await discard(response)
                throw refused(status: 403, request: request, credential: credential)
            default:
                return response
            }
            let challenges = AuthenticationChallenge.parse(response.headers[HeaderName.wwwAuthenticate])
            await discard(response)
            // One answer to one challenge: a second 401 means the credentials (or the token they bought) were refused.
            guard !challenged else { throw refused(status: 401, request: request, credential: credential) }
            challenged = true

            if let bearer = challenges.first(where: { $0.scheme == "bearer" }), let realm = bearer.realm {
                let key = TokenKey(realm: realm, service: bearer.service, scope: bearer.scope ?? Self.pullScope(repository))
                if case .bearer(let oldKey, let oldToken) = credential { authentication.invalidate(oldKey, value: oldToken) }
                authentication.remember(key, for: repository)
                credential = .bearer(key, try await token(for: key))
            } else if challenges.contains(where: { $0.scheme == "basic" }) {
                guard configuration.hasCredentials, credential?.isBasic != true else {
                    throw refused(status: 401, request: request, credential: credential)
                }
                authentication.preferBasic()
                credential = .basic
            } else {
                throw UpstreamError(
                    .unauthorized, upstream: configuration.url, status: 401,
                    message: "upstream \(configuration.url) answered 401 for \(request) without a Bearer or Basic challenge")
            }
        }
    }

    /// The scope a pull of `repository` needs.
    static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }

    /// Basic credentials when the upstream asked for them before, else a token when its token endpoint is known.
    private func initialCredential(repository: String) async throws(UpstreamError) -> Credential? {
        if configuration.hasCredentials, authentication.prefersBasic { return .basic }
        guard let key = authentication.knownKey(repository: repository, standardScope: Self.pullScope(repository)) else { return nil }
        return .bearer(key, try await token(for: key))
    }

    private func authorization(for credential: Credential?) -> String? {
        switch credential {
        case .bearer(_, let token): "Bearer \(token)"
        case .basic: basicAuthorization
        case nil: nil
        }
    }

    /// `Basic base64(user:password)`, when credentials are configured.
    private var basicAuthorization: String? {
        guard let (username, password) = configuration.credentials else { return nil }
        return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    private func refused(status: Int, request: String, credential: Credential?) -> UpstreamError {
        let who = configuration.credentials.map { "the credentials of user \($0.username)" } ?? "anonymous access"
        let how =
            switch credential {
            case .bearer: "with a token from its token endpoint"
            case .basic: "with basic authentication"
            case nil: "without credentials"
            }
        logger.notice("upstream refused credentials", metadata: ["request": "\(request)", "status": "\(status)"])
        return UpstreamError(
            .unauthorized, upstream: configuration.url, status: status,
            message: "upstream \(configuration.url) refused \(who) (\(status) for \(request) \(how)); check the credentials configured for it")
    }

    /// A cached token for `key`, or one fetched now (a single request however many callers wait for it).
    private func token(for key: TokenKey) async throws(UpstreamError) -> String {
        try await authentication.token(for: key) { [self] in await fetchToken(key) }.get().value
    }

    /// GET realm?service=…&scope=… with basic credentials when configured.
    private func fetchToken(_ key: TokenKey) async -> Result<BearerToken, UpstreamError> {
        let realm = UpstreamURL.redacted(key.realm)
        guard var components = URLComponents(string: key.realm), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else {
            return .failure(
                UpstreamError(
                    .invalidResponse, upstream: configuration.url,
                    message: "upstream \(configuration.url) named an invalid token realm \(realm)"))
        }
        var query = components.queryItems ?? []
        if let service = key.service { query.append(URLQueryItem(name: "service", value: service)) }
        // Several scopes are space-separated in a challenge and repeated as parameters in the token request.
        for scope in key.scope.split(separator: " ") { query.append(URLQueryItem(name: "scope", value: String(scope))) }
        components.queryItems = query
        // `+` is legal in a query but many servers read it as a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.string else {
            return .failure(
                UpstreamError(
                    .invalidResponse, upstream: configuration.url,
                    message: "upstream \(configuration.url) named an invalid token realm \(realm)"))
        }

        var headers = HTTPHeaders()
        headers.add(name: HeaderName.userAgent, value: upstreamUserAgent)
        headers.add(name: HeaderName.accept, value: MediaTypeEssence.json)
        let requestedAt = ContinuousClock.now
        logger.debug("upstream token request", metadata: ["realm": "\(realm)", "scope": "\(key.scope)"])
        do throws(UpstreamError) {
            let response = try await send(.GET, url: url, headers: headers, authorization: basicAuthorization)
            let status = Int(response.status.code)
            guard status == 200 else {
                await discard(response)
                return .failure(tokenFailure(status: status, realm: realm, scope: key.scope, retryAfter: Self.retryAfter(response.headers)))
            }
            let bytes = try await readBody(of: response, limit: Self.smallBodyLimit, request: "GET \(realm)")
            guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(bytes)),
                let token = decoded.bearerToken(requestedAt: requestedAt)
            else {
                return .failure(
                    UpstreamError(
                        .invalidResponse, upstream: configuration.url, status: status,
                        message: "token endpoint \(realm) of upstream \(configuration.url) answered without a token"))
            }
            return .success(token)
        } catch {
            var error = error
            error.message = "token endpoint \(realm) of upstream \(configuration.url): " + error.message
            return .failure(error)
        }
    }

    private func tokenFailure(status: Int, realm: String, scope: String, retryAfter: Int?) -> UpstreamError {
        let answered = "token endpoint \(realm) of upstream \(configuration.url) answered \(status) for scope \(scope)"
        switch status {
        case 401, 403:
            let who = configuration.credentials.map { "the credentials of user \($0.username)" } ?? "anonymous access"
            logger.notice("upstream token endpoint refused credentials", metadata: ["realm": "\(realm)", "status": "\(status)"])
            return UpstreamError(
                .unauthorized, upstream: configuration.url, status: status,
                message: "\(answered): it refused \(who); check the credentials configured for it")
        default:
            return UpstreamError(status: status, upstream: configuration.url, retryAfter: retryAfter, message: answered)
        }
    }
}
