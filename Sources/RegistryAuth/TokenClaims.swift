import Foundation

/// One entry of a token's `access` claim (and of a requested scope), e.g.
/// `{"type":"repository","name":"team/app","actions":["pull","push"]}`.
// https://distribution.github.io/distribution/spec/auth/jwt/ ("access")
public struct ResourceActions: Sendable, Hashable, Codable {
    /// The resource type, e.g. `repository` or `registry`.
    public var type: String
    /// The resource name, e.g. `team/app` or `catalog`.
    public var name: String
    /// The granted (or requested) actions, e.g. `pull`, `push`, `delete`, `*`.
    public var actions: [String]

    /// Creates an access entry.
    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    private enum CodingKeys: String, CodingKey { case type, name, actions }

    /// Decodes an entry; a missing field (or `null`) reads as empty, as Distribution's Go decoder does, which grants
    /// nothing: no rule matches an empty name or an empty action list.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        actions = try container.decodeIfPresent([String].self, forKey: .actions) ?? []
    }
}

/// The claim set of a registry bearer token.
// https://distribution.github.io/distribution/spec/auth/jwt/ ("Claim Set")
public struct TokenClaims: Sendable, Equatable {
    /// `iss`: who issued the token.
    public var issuer: String
    /// `sub`: the authenticated user; empty for an anonymous client.
    public var subject: String
    /// `aud`: the services the token is meant for. JSON allows one string or an array of strings (RFC 7519 §4.1.3).
    public var audience: [String]
    /// `exp`: the token is refused after this instant (plus the verifier's leeway).
    public var expiresAt: Date
    /// `nbf`: the token is refused before this instant (minus the verifier's leeway).
    public var notBefore: Date?
    /// `iat`: when the token was issued.
    public var issuedAt: Date?
    /// `jti`: a unique identifier of the token.
    public var id: String?
    /// `access`: what the token grants; missing means nothing.
    public var access: [ResourceActions]

    /// Creates a claim set.
    public init(
        issuer: String,
        subject: String = "",
        audience: [String],
        expiresAt: Date,
        notBefore: Date? = nil,
        issuedAt: Date? = nil,
        id: String? = nil,
        access: [ResourceActions] = []
    ) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.issuedAt = issuedAt
        self.id = id
        self.access = access
    }
}

extension TokenClaims {
    /// The claims as JSON, as Pier's token service signs them: dates as whole seconds, `aud` as a string when
    /// there is one audience (what Distribution 2.8.2 requires), `access` always present.
    func encodedJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding strings, integers and arrays of them cannot fail.
        return (try? encoder.encode(Wire(self))) ?? Data("{}".utf8)
    }

    /// Parses a claim set; what is not JSON of the right shape, or lacks `exp`, is `malformed`.
    init(json: [UInt8]) throws(TokenError) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(json))
        } catch {
            throw .malformed("the claim set is not a JSON object of the expected shape")
        }
        guard let expiration = wire.exp else { throw .malformed("the claim set has no exp") }
        self.init(
            issuer: wire.iss ?? "",
            subject: wire.sub ?? "",
            audience: wire.aud?.values ?? [],
            expiresAt: Date(timeIntervalSince1970: expiration),
            notBefore: wire.nbf.map(Date.init(timeIntervalSince1970:)),
            issuedAt: wire.iat.map(Date.init(timeIntervalSince1970:)),
            id: wire.jti,
            access: wire.access ?? []
        )
    }

    /// The JSON form. Numeric dates decode from integers or floats (RFC 7519 §2 "NumericDate").
    private struct Wire: Codable {
        var iss: String?
        var sub: String?
        var aud: Audience?
        var exp: Double?
        var nbf: Double?
        var iat: Double?
        var jti: String?
        var access: [ResourceActions]?

        init(_ claims: TokenClaims) {
            iss = claims.issuer
            sub = claims.subject
            aud = claims.audience.isEmpty ? nil : Audience(values: claims.audience)
            exp = claims.expiresAt.timeIntervalSince1970
            nbf = claims.notBefore?.timeIntervalSince1970
            iat = claims.issuedAt?.timeIntervalSince1970
            jti = claims.id
            access = claims.access
        }

        private enum CodingKeys: String, CodingKey { case iss, sub, aud, exp, nbf, iat, jti, access }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(iss, forKey: .iss)
            try container.encodeIfPresent(sub, forKey: .sub)
            try container.encodeIfPresent(aud, forKey: .aud)
            // Whole seconds: some verifiers (Go's jwt libraries before v4) refuse a fractional NumericDate.
            try container.encodeIfPresent(exp.map(Self.wholeSeconds), forKey: .exp)
            try container.encodeIfPresent(nbf.map(Self.wholeSeconds), forKey: .nbf)
            try container.encodeIfPresent(iat.map(Self.wholeSeconds), forKey: .iat)
            try container.encodeIfPresent(jti, forKey: .jti)
            try container.encode(access ?? [], forKey: .access)
        }

        private static func wholeSeconds(_ seconds: Double) -> Int64 {
            Int64(exactly: seconds.rounded(.down)) ?? (seconds < 0 ? Int64.min : Int64.max)
        }
    }

    /// `aud`: one string or an array of strings.
    private struct Audience: Codable {
        var values: [String]

        init(values: [String]) { self.values = values }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let single = try? container.decode(String.self) {
                values = [single]
            } else {
                values = try container.decode([String].self)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            if values.count == 1 {
                try container.encode(values[0])
            } else {
                try container.encode(values)
            }
        }
    }
}
