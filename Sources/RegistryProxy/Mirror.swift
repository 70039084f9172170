import Foundation
import RegistryCore

/// One mirrored upstream registry: the host clients name, and the client that reaches it.
public struct Mirror: Sendable {
    /// The registry host clients name, e.g. `docker.io` or `registry.example.com:5000`.
    public let host: String
    /// The first component of the local names of this upstream's repositories: the host, with `:` (not allowed
    /// in repository names) written as `_`.
    public let prefix: String
    public let client: UpstreamClient
    /// Docker Hub files one-component names under `library/`.
    public let isDockerHub: Bool
    /// Cached content of this upstream expires this long after its last pull.
    public let ttl: Duration
    /// Other registry hosts routed to this mirror too (`?ns=` and path prefix), cached under ``host``: the remote's
    /// own host when the proxy block stands in for another registry (`docker.io` served by `mirror.gcr.io`).
    public let aliases: [String]

    public init(host: String, client: UpstreamClient, ttl: Duration = .seconds(168 * 3600), aliases: [String] = []) {
        self.host = host.lowercased()
        self.prefix = Self.prefix(for: self.host)
        self.client = client
        self.isDockerHub = self.host == "docker.io"
        self.ttl = ttl
        let host = self.host
        self.aliases = aliases.map { $0.lowercased() }.filter { $0 != host }
    }

    /// The first component of the local names of a host's cached repositories (`:` is not allowed in names).
    public static func prefix(for host: String) -> String {
        host.lowercased().replacingOccurrences(of: ":", with: "_")
    }

    /// The name of `repository` at the upstream: Docker Hub's official images live under `library/`.
    // Why: `docker pull alpine` through a mirror asks for `/v2/library/alpine/…` (Docker Engine) or for
    // `/v2/alpine/…` (some clients, and the path-prefix form `docker.io/alpine`); Docker Hub knows only the first.
    func upstreamName(of repository: String) -> String {
        isDockerHub && !repository.contains("/") ? "library/" + repository : repository
    }
}

/// Where a request for a mirrored repository goes: the upstream, its name there, and its local (cached) name.
public struct MirrorRoute: Sendable {
    public let mirror: Mirror
    /// The repository's name at the upstream, e.g. `library/alpine`.
    public let upstreamRepository: String
    /// The local name of the cached repository, e.g. `docker.io/library/alpine`: what the catalog lists, and the
    /// path-prefix name clients can pull.
    public let repository: RepositoryName

    init(mirror: Mirror, name: String) throws(RegistryError) {
        self.mirror = mirror
        upstreamRepository = mirror.upstreamName(of: name)
        repository = try RepositoryName(parsing: mirror.prefix + "/" + upstreamRepository)
    }
}
