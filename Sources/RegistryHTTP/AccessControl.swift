import Foundation
import HTTPTypes
import Hummingbird
import RegistryAuth
import RegistryCore

/// Who a request comes from and whether it may do what it asks: HTTP Basic against htpasswd, Bearer tokens (from an
/// external token service or Pier's own), and the access rules.
///
/// Decisions follow Distribution's token protocol: a request without acceptable credentials gets 401 with the
/// challenge a client answers (`Basic realm=…`, or `Bearer realm=…,service=…,scope=…` naming exactly the scopes this
/// request needs, in a stable order); a token that is valid but too narrow gets 401 with
/// `error="insufficient_scope"`; a user proven by Basic credentials who lacks the permission gets 403 `DENIED`.
public struct AccessControl: Sendable {
    /// How tokens are checked, when the registry takes them (`auth.token`).
    public struct TokenSettings: Sendable {
        /// Checks tokens, remembering those already verified until they expire.
        public var verifier: VerifiedTokenCache
        /// The challenge's realm; `nil` for Pier's own `/token` under the request's host.
        public var realm: String?
        public var service: String
        /// Pier's own token service, when it issues the tokens.
        public var signer: TokenSigner?
        public var issuer: String
        public var expiration: Duration

        public init(verifier: TokenVerifier, realm: String?, service: String, issuer: String, signer: TokenSigner?, expiration: Duration) {
            self.verifier = VerifiedTokenCache(verifier: verifier)
            self.realm = realm
            self.service = service
            self.issuer = issuer
            self.signer = signer
            self.expiration = expiration
        }
    }

    /// htpasswd users, when configured.
    let basic: BasicAuthenticator?
    let token: TokenSettings?
    /// The rules for users Pier knows (htpasswd users and its own tokens' subjects).
    let policy: AccessPolicy
    let limiter: LoginRateLimiter
    /// `http.host`, for the realm of Pier's own token service.
    let externalURL: String?
    /// Whether Pier itself is served over TLS, for the realm of its own token service.
    let tls: Bool

    public init(
        basic: BasicAuthenticator?, token: TokenSettings?, policy: AccessPolicy?, limiter: LoginRateLimiter, externalURL: String?, tls: Bool
    ) {
        self.basic = basic
        self.token = token
        self.policy = policy ?? .authenticatedOnly
        self.limiter = limiter
        self.externalURL = externalURL
        self.tls = tls
    }

    /// Whether clients must prove who they are at all (otherwise only anonymous access rules apply).
    var hasAuthentication: Bool { basic != nil || token != nil }

    // MARK: What a request needs

    /// One permission a request needs: `action` on `type:name`, and the actions to ask for in the challenge.
    struct Requirement: Equatable {
        var type: String
        var name: String
        var action: String
        var challengeActions: [String]

        var scope: String { "\(type):\(name):\(challengeActions.joined(separator: ","))" }
    }

    /// The permissions `method` on `path` needs, target repository first. An upload belongs to its repository's
    /// push permission, whatever is done to it (status, append, finish, cancel).
    static func requirements(for path: RegistryPath, method: HTTPRequest.Method, mountSource: String?) -> [Requirement] {
        func repository(_ name: String, _ action: String, ask: [String]) -> Requirement {
            Requirement(type: "repository", name: name, action: action, challengeActions: ask)
        }
        switch path {
        case .base:
            return []
        case .catalog:
            return [Requirement(type: "registry", name: "catalog", action: "*", challengeActions: ["*"])]
        case .tags(let name), .referrers(let name, _):
            return [repository(name, "pull", ask: ["pull"])]
        case .manifest(let name, _), .blob(let name, _):
            switch method {
            case .get, .head: return [repository(name, "pull", ask: ["pull"])]
            case .delete: return [repository(name, "delete", ask: ["delete"])]
            default: return [repository(name, "push", ask: ["pull", "push"])]
            }
        case .uploads(let name):
            var needs = [repository(name, "push", ask: ["pull", "push"])]
            if let mountSource, mountSource != name {
                needs.append(repository(mountSource, "pull", ask: ["pull"]))
            }
            return needs
        case .upload(let name, _):
            return [repository(name, "push", ask: ["pull", "push"])]
        }
    }

    // MARK: Deciding

    /// Who made a request.
    enum Caller: Sendable {
        case anonymous
        /// Proven by HTTP Basic credentials.
        case user(String)
        /// Holds a valid token.
        case token(TokenClaims)
    }

    /// What a checked request may see beyond its own permissions.
    struct Grant: Sendable {
        let caller: Caller
        /// Filters catalog entries to those the caller may pull; `nil` lists everything.
        let catalogFilter: (@Sendable (String) -> Bool)?
    }

    /// Checks a `/v2/` request's credentials and permissions; throws the 401/403/429 to answer otherwise.
    func authorize(_ request: Request, path: RegistryPath?, client: String) async throws -> Grant {
        let mountSource = request.uri.queryParameters["mount"] != nil ? request.uri.queryParameters["from"].map(String.init) : nil
        let needs = path.map { Self.requirements(for: $0, method: request.method, mountSource: mountSource) } ?? []
        let caller = try await identify(request, needs: needs, client: client)
        let missing = needs.filter { !isAllowed($0, for: caller) }
        if missing.isEmpty {
            if case .anonymous = caller, path == .base || path == nil, hasAuthentication {
                // `docker login` pings /v2/ and must be challenged to send its credentials.
                throw challenge(request, needs: [], error: nil, message: "authentication required")
            }
            return Grant(caller: caller, catalogFilter: catalogFilter(for: caller))
        }
        switch caller {
        case .anonymous:
            throw challenge(request, needs: needs, error: nil, message: "authentication required")
        case .user:
            throw RegistryError(.denied, message: "requested access to the resource is denied", detail: missing.map(\.scope).joined(separator: " "),
                                hints: bodyHints(request))
        case .token:
            throw challenge(request, needs: needs, error: "insufficient_scope", message: "requested access to the resource is denied", code: .denied)
        }
    }

    /// The caller the request's credentials prove; throws when they prove nothing.
    private func identify(_ request: Request, needs: [Requirement], client: String) async throws -> Caller {
        guard let authorization = request.headers[.authorization] else { return .anonymous }
        let scheme = authorization.prefix { $0 != " " }.lowercased()
        if scheme == "bearer", let token {
            let value = String(authorization.dropFirst("bearer".count).trimmingHeaderSpaces)
            do {
                return .token(try token.verifier.verify(value))
            } catch {
                // The reason is the server's to know; the client learns only that the token is no good.
                throw challenge(request, needs: needs, error: "invalid_token", message: "authentication required: \(error)")
            }
        }
        if scheme == "basic", let basic {
            guard let (name, password) = BasicAuthenticator.credentials(in: authorization) else {
                throw challenge(request, needs: needs, error: nil, message: "authentication required")
            }
            // containers/image (skopeo, podman, buildah) without credentials answers a Basic challenge with an
            // empty user and password (`Basic Og==`): an anonymous request, not a failed login (zot does the same).
            if name.isEmpty, password.isEmpty { return .anonymous }
            let key = LoginRateLimiter.key(client: client, user: name)
            if let wait = limiter.retryAfter(key) {
                throw RegistryError(.tooManyRequests, message: "too many failed logins for this user from this address; retry later",
                                    hints: [.retryAfter(seconds: wait)] + bodyHints(request))
            }
            guard let user = await basic.authenticate(user: name, password: password) else {
                limiter.recordFailure(key)
                throw challenge(request, needs: needs, error: nil, message: "authentication required")
            }
            return .user(user)
        }
        throw challenge(request, needs: needs, error: token == nil ? nil : "invalid_token", message: "authentication required")
    }

    private func isAllowed(_ need: Requirement, for caller: Caller) -> Bool {
        switch caller {
        case .anonymous, .user:
            let user: String? = if case .user(let name) = caller { name } else { nil }
            if need.type == "registry" {
                // The catalog is filtered to what the caller may pull, so anyone who may pull anything may ask.
                return user != nil || policy.allowsAnonymous
            }
            guard let action = AccessPolicy.Action(rawValue: need.action) else { return false }
            return policy.actions(for: user, on: need.name).contains(action)
        case .token(let claims):
            return claims.access.contains { entry in
                entry.type == need.type && entry.name == need.name && (entry.actions.contains(need.action) || entry.actions.contains("*"))
            }
        }
    }

    private func catalogFilter(for caller: Caller) -> (@Sendable (String) -> Bool)? {
        let policy = self.policy
        switch caller {
        case .anonymous:
            return { policy.actions(for: nil, on: $0).contains(.pull) }
        case .user(let user):
            if policy.isAdmin(user) { return nil }
            return { policy.actions(for: user, on: $0).contains(.pull) }
        case .token(let claims):
            // Pier's own tokens name users Pier knows: their rules filter. Another service's tokens carry only
            // their grant, and `registry:catalog:*` lists everything, as in Distribution.
            guard token?.signer != nil, claims.issuer == token?.issuer else { return nil }
            let user = claims.subject.isEmpty ? nil : claims.subject
            if policy.isAdmin(user) { return nil }
            return { policy.actions(for: user, on: $0).contains(.pull) }
        }
    }

    // MARK: Challenges

    /// 401 with the challenge for `needs`.
    private func challenge(
        _ request: Request, needs: [Requirement], error: String?, message: String, code: RegistryError.Code = .unauthorized
    ) -> RegistryError {
        var value: String
        if let token {
            value = "Bearer realm=\"\(quoted(realm(for: request, token)))\",service=\"\(quoted(token.service))\""
            if !needs.isEmpty {
                value += ",scope=\"\(quoted(needs.map(\.scope).joined(separator: " ")))\""
            }
            if let error { value += ",error=\"\(error)\"" }
        } else {
            value = "Basic realm=\"\(quoted(basic?.realm ?? "Pier"))\""
        }
        return RegistryError(code, status: 401, message: message, detail: needs.isEmpty ? nil : needs.map(\.scope).joined(separator: " "),
                             hints: [.challenge(value)] + bodyHints(request))
    }

    /// The token realm clients are sent to: the configured one, or Pier's own `/token` as the client reached it.
    func realm(for request: Request, _ token: TokenSettings) -> String {
        if let realm = token.realm { return realm }
        if let externalURL { return externalURL + "/token" }
        let host = request.head.authority ?? "localhost"
        let safeHost = host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) } ? host : "localhost"
        return (tls ? "https://" : "http://") + safeHost + "/token"
    }

    private func quoted(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    /// A refused request's body is never read: end the connection rather than drain an upload nobody may make.
    private func bodyHints(_ request: Request) -> [RegistryError.Hint] {
        if request.headers[.transferEncoding] != nil || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0 {
            return [.closeConnection]
        }
        return []
    }
}
