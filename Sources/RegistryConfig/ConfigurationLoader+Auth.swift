import Foundation
import Yams

extension ConfigurationLoader {
    /// The actions access rules may grant.
    static let accessActions: Set<String> = ["pull", "push", "delete", "*"]

    /// `auth.token`: either a resource server for an external token service (realm, service, issuer and
    /// rootcertbundle or jwks), or Pier's own token service (a signingkey; realm defaults to Pier's `/token`).
    static func tokenAuth(
        scalar: (String) throws -> (String, String)?, duration: (String) throws -> TimeInterval?, file: String
    ) throws -> Configuration.TokenAuth? {
        let keys = ["realm", "service", "issuer", "rootcertbundle", "jwks", "signingkey", "expiration", "leeway"]
        var given: [String: (String, String)] = [:]
        for key in keys {
            if let value = try scalar("auth.token." + key) { given[key] = value }
        }
        guard let origin = given.values.map(\.1).sorted().first else { return nil }
        func required(_ key: String) throws -> String {
            guard let value = given[key]?.0, !value.isEmpty else {
                throw ConfigurationError("\(file): \(origin): auth.token needs '\(key)'")
            }
            return value
        }
        let builtIn = given["signingkey"] != nil
        var token = Configuration.TokenAuth(
            realm: given["realm"]?.0, service: try required("service"), issuer: try required("issuer"),
            rootCertBundle: given["rootcertbundle"]?.0, jwks: given["jwks"]?.0, signingKey: given["signingkey"]?.0
        )
        if !builtIn {
            _ = try required("realm")
            guard token.rootCertBundle != nil || token.jwks != nil else {
                throw ConfigurationError("\(file): \(origin): auth.token needs 'rootcertbundle' or 'jwks' to check tokens (or 'signingkey' for Pier's own token service)")
            }
        }
        if let realm = token.realm {
            guard let url = URL(string: realm), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigurationError("\(file): \(given["realm"]?.1 ?? origin): 'auth.token.realm' must be an http(s) URL, not '\(realm)'")
            }
        }
        for key in ["service", "issuer"] where token.service.contains("\"") || token.issuer.contains("\"") {
            throw ConfigurationError("\(file): \(given[key]?.1 ?? origin): 'auth.token.\(key)' must not contain quotes")
        }
        if let expiration = try duration("auth.token.expiration") {
            guard expiration >= 10, expiration <= 24 * 3600 else {
                throw ConfigurationError("\(file): \(given["expiration"]?.1 ?? origin): 'auth.token.expiration' must be between 10s and 24h")
            }
            token.expiration = expiration
        }
        if let leeway = try duration("auth.token.leeway") {
            guard leeway >= 0, leeway <= 300 else {
                throw ConfigurationError("\(file): \(given["leeway"]?.1 ?? origin): 'auth.token.leeway' must be between 0s and 5m")
            }
            token.leeway = leeway
        }
        return token
    }

    /// The `access` block, read from the YAML tree so that user names and repository patterns keep their case
    /// and dots:
    ///
    /// ```yaml
    /// access:
    ///   groups: {devs: [alice, bob]}
    ///   admins: [root]
    ///   repositories:
    ///     "team-a/**":
    ///       users: {alice: [pull, push, delete]}
    ///       groups: {devs: [pull]}
    ///       authenticated: [pull]
    ///       anonymous: [pull]
    /// ```
    static func access(from node: Node, file: String) throws -> Configuration.Access {
        func line(_ node: Node) -> String { "line \(node.mark?.line ?? 0)" }
        func fail(_ node: Node, _ message: String) -> ConfigurationError {
            ConfigurationError("\(file): \(line(node)): \(message)")
        }
        func mapping(_ node: Node, _ key: String) throws -> [(String, Node, Node)] {
            if case .scalar(let scalar) = node, scalar.style == .plain, ["", "~", "null"].contains(scalar.string) { return [] }
            guard case .mapping(let mapping) = node else { throw fail(node, "'\(key)' must be a mapping") }
            return try mapping.map { keyNode, value in
                guard case .scalar(let name) = keyNode, !name.string.isEmpty else { throw fail(keyNode, "'\(key)' keys must be plain strings") }
                return (name.string, keyNode, value)
            }
        }
        func names(_ node: Node, _ key: String) throws -> [String] {
            switch node {
            case .scalar(let scalar):
                if scalar.style == .plain, ["", "~", "null"].contains(scalar.string) { return [] }
                return [scalar.string]
            case .sequence(let sequence):
                return try sequence.map { item in
                    guard case .scalar(let scalar) = item, !scalar.string.isEmpty else { throw fail(item, "'\(key)' must be a list of names") }
                    return scalar.string
                }
            default:
                throw fail(node, "'\(key)' must be a list of names")
            }
        }
        func actions(_ node: Node, _ key: String) throws -> [String] {
            let list = try names(node, key).map { $0.lowercased() }
            for action in list where !accessActions.contains(action) {
                throw fail(node, "'\(key)': unknown action '\(action)' (known: pull, push, delete, *)")
            }
            return list
        }

        var access = Configuration.Access()
        for (key, keyNode, value) in try mapping(node, "access") {
            switch key.lowercased() {
            case "groups":
                for (group, _, members) in try mapping(value, "access.groups") {
                    access.groups[group] = try names(members, "access.groups.\(group)")
                }
            case "admins":
                access.admins = try names(value, "access.admins")
            case "repositories":
                for (pattern, patternNode, settings) in try mapping(value, "access.repositories") {
                    guard isRepositoryPattern(pattern) else {
                        throw fail(patternNode, "'\(pattern)' is not a repository pattern (lower-case names, '/', '*' within a component, '**' across components)")
                    }
                    var rule = Configuration.Access.Rule(pattern: pattern)
                    let prefix = "access.repositories.\(pattern)"
                    for (setting, settingNode, settingValue) in try mapping(settings, prefix) {
                        switch setting.lowercased() {
                        case "users":
                            for (user, _, granted) in try mapping(settingValue, prefix + ".users") {
                                rule.users[user] = try actions(granted, prefix + ".users.\(user)")
                            }
                        case "groups":
                            for (group, groupNode, granted) in try mapping(settingValue, prefix + ".groups") {
                                guard access.groups[group] != nil || groupDeclaredLater(group, in: node) else {
                                    throw fail(groupNode, "'\(prefix).groups': no group '\(group)' in access.groups")
                                }
                                rule.groups[group] = try actions(granted, prefix + ".groups.\(group)")
                            }
                        case "authenticated":
                            rule.authenticated = try actions(settingValue, prefix + ".authenticated")
                        case "anonymous":
                            rule.anonymous = try actions(settingValue, prefix + ".anonymous")
                        default:
                            throw fail(settingNode, "unknown setting '\(prefix).\(setting)' (known: users, groups, authenticated, anonymous)")
                        }
                    }
                    access.rules.append(rule)
                }
            default:
                throw fail(keyNode, "unknown setting 'access.\(key)' (known: groups, admins, repositories)")
            }
        }
        return access
    }

    /// Whether `access.groups` declares `group`, wherever it appears in the block.
    private static func groupDeclaredLater(_ group: String, in node: Node) -> Bool {
        guard case .mapping(let mapping) = node,
            let groups = mapping.first(where: { $0.key.string?.lowercased() == "groups" })?.value,
            case .mapping(let declared) = groups
        else { return false }
        return declared.contains { $0.key.string == group }
    }

    /// A repository glob: the repository grammar's characters plus `*`.
    static func isRepositoryPattern(_ pattern: String) -> Bool {
        guard !pattern.isEmpty, pattern.count <= 255 else { return false }
        return pattern.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            !component.isEmpty && component.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || "._-*".contains($0) }
        }
    }
}
