// TEMPORARY: stands in for the token layer being written in parallel; removed before merge.
import Crypto
import Foundation
public struct ResourceActions: Sendable, Hashable, Codable { public var type: String; public var name: String; public var actions: [String]
    public init(type: String, name: String, actions: [String]) { self.type = type; self.name = name; self.actions = actions } }
public struct TokenClaims: Sendable, Equatable {
    public var issuer: String; public var subject: String; public var audience: [String]; public var expiresAt: Date
    public var notBefore: Date?; public var issuedAt: Date?; public var id: String?; public var access: [ResourceActions]
    public init(issuer: String, subject: String, audience: [String], expiresAt: Date, notBefore: Date? = nil, issuedAt: Date? = nil, id: String? = nil, access: [ResourceActions] = []) {
        self.issuer = issuer; self.subject = subject; self.audience = audience; self.expiresAt = expiresAt; self.notBefore = notBefore; self.issuedAt = issuedAt; self.id = id; self.access = access }
}
public enum TokenError: Error, Sendable, Equatable { case expired }
public struct TokenKeyError: Error, Sendable, CustomStringConvertible { public var description: String }
public struct TrustedKeys: Sendable {
    public static func load(rootCertBundle: String?, jwks: String?) throws(TokenKeyError) -> TrustedKeys { TrustedKeys() }
    public func adding(_ signer: TokenSigner) -> TrustedKeys { self }
}
public struct TokenVerifier: Sendable {
    public init(issuer: String, audience: String, keys: TrustedKeys, leeway: Duration = .seconds(5)) {}
    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> TokenClaims { throw .expired }
}
public struct TokenSigner: Sendable {
    public static func loadOrCreate(path: String) throws(TokenKeyError) -> TokenSigner { TokenSigner() }
    public var keyID: String { "" }
    public func sign(_ claims: TokenClaims) -> String { "" }
}
