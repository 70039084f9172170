import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryAuth
import RegistryCore

/// Pier's own token service (`GET`/`POST /token`), per Docker's token protocol: a client that got a Bearer challenge
/// asks here, with its htpasswd credentials or none, for the scopes it needs, and gets a short-lived token granting
/// the part of them the access rules allow.
// https://distribution.github.io/distribution/spec/auth/token/
struct TokenController: Sendable {
    let access: AccessControl
    let settings: AccessControl.TokenSettings
    let signer: TokenSigner

    /// Scopes per request, and the longest scope, accepted.
    static let maximumScopes = 32
    static let maximumScopeLength = 600
    /// The largest form body of `POST /token`.
    static let maximumFormBytes = 16 * 1024

    func respond(_ request: Request, client: String) async throws -> Response {
        var parameters: [(String, String)] = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        var username: String?
        var password: String?
        switch request.method {
        case .get:
            if let authorization = request.headers[.authorization] {
                guard let (user, secret) = BasicAuthenticator.credentials(in: authorization) else {
                    throw unauthorized(request, "malformed Basic credentials")
                }
                username = user
                password = secret
            }
        case .post:
            // OAuth2 password grant (containerd tries it first): a form body.
            let form = try await formParameters(request)
            parameters += form
            let grant = form.first { $0.0 == "grant_type" }?.1
            switch grant {
            case "password":
                username = form.first { $0.0 == "username" }?.1
                password = form.first { $0.0 == "password" }?.1
                guard username != nil, password != nil else {
                    throw RegistryError(.unsupported, status: 400, message: "the password grant needs username and password")
                }
            default:
                throw RegistryError(.unsupported, status: 400, message: "unsupported grant_type (only password)", detail: grant.map { String($0.prefix(64)) })
            }
        default:
            throw RegistryError(.unsupported, status: 405, message: "method \(request.method) not allowed here")
        }
        if let service = parameters.first(where: { $0.0 == "service" })?.1, service != settings.service {
            throw RegistryError(.denied, status: 400, message: "unknown service", detail: String(service.prefix(200)))
        }
        let scopes = try parseScopes(parameters.filter { $0.0 == "scope" }.map(\.1))

        var user: String?
        if let username, let password {
            guard let basic = access.basic else { throw unauthorized(request, "this registry has no users") }
            let key = LoginRateLimiter.key(client: client, user: username)
            if let wait = access.limiter.retryAfter(key) {
                throw RegistryError(.tooManyRequests, message: "too many failed logins for this user from this address; retry later",
                                    hints: [.retryAfter(seconds: wait)])
            }
            guard let proven = await basic.authenticate(user: username, password: password) else {
                access.limiter.recordFailure(key)
                throw unauthorized(request, "wrong user name or password")
            }
            user = proven
        }

        let granted = scopes.compactMap { grant($0, to: user) }
        let now = Date()
        let expiresIn = Int(settings.expiration.components.seconds)
        let claims = TokenClaims(
            issuer: settings.issuer, subject: user ?? "", audience: [settings.service], expiresAt: now.addingTimeInterval(TimeInterval(expiresIn)),
            notBefore: now.addingTimeInterval(-1), issuedAt: now, id: UUID().uuidString, access: granted
        )
        let token = signer.sign(claims)
        let formatter = ISO8601DateFormatter()
        let body = TokenResponse(token: token, accessToken: token, expiresIn: expiresIn, issuedAt: formatter.string(from: now))
        return try .json(body, headers: [.cacheControl: "no-store"])
    }

    /// The part of `requested` the rules give `user` (`nil`: anonymous); `nil` when nothing.
    private func grant(_ requested: ResourceActions, to user: String?) -> ResourceActions? {
        let policy = access.policy
        switch requested.type {
        case "repository":
            let allowed = policy.actions(for: user, on: requested.name)
            let asked = requested.actions.contains("*") ? Set(AccessPolicy.Action.allCases) : AccessPolicy.Action.parse(requested.actions)
            let actions = asked.intersection(allowed).sorted().map(\.rawValue)
            return actions.isEmpty ? nil : ResourceActions(type: "repository", name: requested.name, actions: actions)
        case "registry" where requested.name == "catalog":
            // The catalog is filtered per user when listed; anyone who may pull something may ask for it.
            guard user != nil || policy.allowsAnonymous, requested.actions.contains("*") else { return nil }
            return ResourceActions(type: "registry", name: "catalog", actions: ["*"])
        default:
            return nil
        }
    }

    /// `type:name:action,action`, several per parameter separated by spaces. Names cannot contain `:` in Pier, but
    /// the name is taken between the first and the last colon as the spec's grammar allows a port in it.
    private func parseScopes(_ values: [String]) throws -> [ResourceActions] {
        var scopes: [ResourceActions] = []
        for value in values {
            for item in value.split(separator: " ", omittingEmptySubsequences: true) {
                guard scopes.count < Self.maximumScopes, item.count <= Self.maximumScopeLength else {
                    throw RegistryError(.unsupported, status: 400, message: "too many or too long scopes (at most \(Self.maximumScopes))")
                }
                guard let first = item.firstIndex(of: ":"), let last = item.lastIndex(of: ":"), first < last else {
                    throw RegistryError(.unsupported, status: 400, message: "invalid scope", detail: String(item.prefix(200)))
                }
                let type = String(item[..<first])
                let name = String(item[item.index(after: first)..<last])
                let actions = item[item.index(after: last)...].split(separator: ",").map(String.init)
                guard !type.isEmpty, !name.isEmpty else {
                    throw RegistryError(.unsupported, status: 400, message: "invalid scope", detail: String(item.prefix(200)))
                }
                if type == "repository", RepositoryName(name) == nil {
                    throw RegistryError(.nameInvalid, message: "invalid repository name in scope", detail: String(name.prefix(200)))
                }
                scopes.append(ResourceActions(type: type, name: name, actions: actions))
            }
        }
        return scopes
    }

    private func formParameters(_ request: Request) async throws -> [(String, String)] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maximumFormBytes {
            throw RegistryError(.sizeInvalid, status: 413, message: "form too large", hints: [.closeConnection])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maximumFormBytes)
        } catch let stall as RequestBodyStalled {
            throw RegistryError(.unsupported, status: 408, message: "request body stalled", detail: stall.description, hints: [.closeConnection])
        } catch {
            throw RegistryError(.sizeInvalid, status: 413, message: "form too large", hints: [.closeConnection])
        }
        // application/x-www-form-urlencoded by hand: URLComponents traps on a malformed percent-encoding.
        var parameters: [(String, String)] = []
        for pair in String(decoding: buffer.readableBytesView, as: UTF8.self).split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) throws -> String {
                guard let value = part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw RegistryError(.unsupported, status: 400, message: "malformed form body")
                }
                return value
            }
            parameters.append((try decode(parts[0]), parts.count > 1 ? try decode(parts[1]) : ""))
        }
        return parameters
    }

    private func unauthorized(_ request: Request, _ message: String) -> RegistryError {
        let realm = (access.basic?.realm ?? "Pier").replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return RegistryError(.unauthorized, message: message, hints: [.challenge("Basic realm=\"\(realm)\"")])
    }
}

/// The token service's answer: the token under both names clients read.
// https://distribution.github.io/distribution/spec/auth/token/#token-response-fields
private struct TokenResponse: Encodable {
    var token: String
    var accessToken: String
    var expiresIn: Int
    var issuedAt: String

    enum CodingKeys: String, CodingKey {
        case token
        case accessToken = "access_token"
        case expiresIn = "expires_in"
        case issuedAt = "issued_at"
    }
}
