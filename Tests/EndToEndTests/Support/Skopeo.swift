import Foundation

/// skopeo 1.9.3 pointed at one registry, with pier's log quoted in failures.
struct Skopeo: Sendable {
    /// Where skopeo, podman and buildah keep their blob-info cache when run as root. skopeo has no
    /// flag to move it, and a cache left by earlier runs changes which upload path a push takes
    /// (cross-repository mounts from repositories it saw before), so it is deleted once per test process.
    static let blobInfoCache = "/var/lib/containers/cache/blob-info-cache-v1.boltdb"
    private static let cacheReset = Locked(false)

    let executable: String
    let pier: PierServer

    /// Finds skopeo (a failure if missing) and resets the blob-info cache on first use.
    init(pier: PierServer) throws {
        executable = try Tools.path("skopeo", package: "skopeo")
        self.pier = pier
        Self.cacheReset.withLock { done in
            if !done { try? FileManager.default.removeItem(atPath: Self.blobInfoCache) }
            done = true
        }
    }

    /// `docker://<pier>/<repository>:<tag>` (or `@digest` when `reference` starts with `sha256:`).
    func docker(_ repository: String, _ reference: String) -> String {
        let separator = reference.hasPrefix("sha256:") ? "@" : ":"
        return "docker://\(pier.host)/\(repository)\(separator)\(reference)"
    }

    /// Runs `skopeo <arguments>` and returns the result (not yet checked).
    func run(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> ProcessResult {
        try await ProcessRunner.run(executable, arguments, timeout: timeout, diagnostics: [pier])
    }

    /// `skopeo copy [options] <source> <destination>` with TLS verification off on both sides; throws on failure.
    @discardableResult
    func copy(_ source: String, _ destination: String, _ options: [String] = []) async throws -> ProcessResult {
        try await run(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"] + options + [source, destination]).check()
    }

    /// Pushes one tag of a generated layout to `repository:tag` (`--all` for an index).
    @discardableResult
    func push(
        _ layout: ImageLayout, _ tag: String, to repository: String, as targetTag: String? = nil, _ options: [String] = []
    ) async throws -> ProcessResult {
        let all = layout[tag].manifests.count > 1 ? ["--all"] : []
        return try await copy(layout.ociReference(tag), docker(repository, targetTag ?? tag), all + options)
    }

    /// `skopeo inspect --raw`: the manifest bytes exactly as the registry serves them.
    func rawManifest(_ repository: String, _ reference: String) async throws -> Data {
        try await run(["inspect", "--raw", "--tls-verify=false", docker(repository, reference)]).check().standardOutputData
    }

    /// `skopeo inspect` (parsed JSON), with extra options such as `--override-arch`.
    func inspect(_ repository: String, _ reference: String, _ options: [String] = []) async throws -> [String: Any] {
        let result = try await run(["inspect", "--tls-verify=false"] + options + [docker(repository, reference)]).check()
        guard let object = try JSONSerialization.jsonObject(with: result.standardOutputData) as? [String: Any] else {
            throw CommandFailure("skopeo inspect printed no JSON object:\n\(result.summary)")
        }
        return object
    }
}
