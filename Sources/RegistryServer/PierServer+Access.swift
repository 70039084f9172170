import Logging
import RegistryAuth
import RegistryConfig
import RegistryHTTP

extension PierServer {
    /// Authentication and access rules as configured (`auth.htpasswd`, `auth.token`, `access`); `nil` when the
    /// registry is open to everyone.
    public static func makeAccessControl(configuration: Configuration, logger: Logger) throws -> AccessControl? {
        guard configuration.htpasswd != nil || configuration.tokenAuth != nil || configuration.access != nil else { return nil }
        var basic: BasicAuthenticator?
        if let htpasswd = configuration.htpasswd {
            do {
                basic = try BasicAuthenticator(realm: htpasswd.realm, path: htpasswd.path, logger: logger)
            } catch {
                throw ConfigurationError("auth.htpasswd: \(error)")
            }
        }
        var token: AccessControl.TokenSettings?
        if let settings = configuration.tokenAuth {
            var keys: TrustedKeys
            do {
                keys = try TrustedKeys.load(rootCertBundle: settings.rootCertBundle, jwks: settings.jwks)
            } catch {
                throw ConfigurationError("auth.token: \(error)")
            }
            var signer: TokenSigner?
            if let path = settings.signingKey {
                do {
                    signer = try TokenSigner.loadOrCreate(path: path)
                } catch {
                    throw ConfigurationError("auth.token.signingkey: \(error)")
                }
                keys = keys.adding(signer!)
                logger.notice("Pier issues its own tokens", metadata: [
                    "realm": "\(settings.realm ?? "/token on the host clients use")", "service": "\(settings.service)", "kid": "\(signer!.keyID)",
                ])
            }
            token = AccessControl.TokenSettings(
                verifier: TokenVerifier(
                    issuer: settings.issuer, audience: settings.service, keys: keys, leeway: Configuration.duration(settings.leeway)
                ),
                realm: settings.realm, service: settings.service, issuer: settings.issuer, signer: signer,
                expiration: Configuration.duration(settings.expiration)
            )
        }
        let policy = configuration.access.map(accessPolicy)
        return AccessControl(
            basic: basic, token: token, policy: policy,
            limiter: LoginRateLimiter(limit: configuration.failedLogins.limit, window: Configuration.duration(configuration.failedLogins.window)),
            externalURL: configuration.http.externalURL, tls: configuration.http.tls != nil
        )
    }

    /// The rules of an `access` block.
    static func accessPolicy(_ access: Configuration.Access) -> AccessPolicy {
        let rules = access.rules.map { rule in
            AccessPolicy.Rule(
                pattern: RepositoryPattern(rule.pattern),
                users: rule.users.mapValues(AccessPolicy.Action.parse), groups: rule.groups.mapValues(AccessPolicy.Action.parse),
                authenticated: AccessPolicy.Action.parse(rule.authenticated), anonymous: AccessPolicy.Action.parse(rule.anonymous)
            )
        }
        return AccessPolicy(rules: rules, groups: access.groups, admins: access.admins)
    }
}
