/// Media types Pier knows by name. Each string literal is written here once.
// https://github.com/opencontainers/image-spec/blob/main/media-types.md
public enum MediaType {
    /// OCI image manifest.
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// OCI image config.
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    /// OCI empty descriptor (`{}`), used by artifacts.
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    /// Docker image manifest, schema 2.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list.
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker schema 1 manifest (signed); refused, as Distribution does by default.
    public static let dockerManifestV1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    /// Docker schema 1 manifest (unsigned).
    public static let dockerManifestV1 = "application/vnd.docker.distribution.manifest.v1+json"
    /// Docker foreign layer: its bytes live at `urls`, not in the registry.
    public static let dockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    /// Prefix of the OCI non-distributable layer types.
    public static let ociNondistributablePrefix = "application/vnd.oci.image.layer.nondistributable."
    /// Raw bytes.
    public static let octetStream = "application/octet-stream"
    /// JSON.
    public static let json = "application/json"

    /// The manifest media types Pier stores and serves.
    public static let manifestTypes: Set<String> = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    /// True for index-like types (an OCI index or a Docker manifest list).
    public static func isIndex(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerManifestList
    }

    /// A `Content-Type`/`Accept` value without parameters and surrounding spaces, lower-cased.
    public static func essence(of value: some StringProtocol) -> String {
        let base = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return base.trimmingSpaces().lowercased()
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces and tabs.
    func trimmingSpaces() -> Substring {
        let string = Substring(self)
        var start = string.startIndex
        var end = string.endIndex
        while start < end, string[start] == " " || string[start] == "\t" { start = string.index(after: start) }
        while end > start, string[string.index(before: end)] == " " || string[string.index(before: end)] == "\t" {
            end = string.index(before: end)
        }
        return string[start..<end]
    }
}
