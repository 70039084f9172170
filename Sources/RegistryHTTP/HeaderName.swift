import HTTPTypes

/// Header names Pier reads or writes that HTTPTypes does not define. Each literal is written once, here.
extension HTTPField.Name {
    /// `Docker-Distribution-API-Version: registry/2.0` on every response; Docker clients check it on `/v2/`.
    static let dockerDistributionAPIVersion = HTTPField.Name("Docker-Distribution-API-Version")!
    /// The digest of the content a response carries or a push stored.
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    /// The upload session id.
    static let dockerUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
    /// The subject a pushed manifest refers to, telling the client that the referrers API indexed it.
    static let ociSubject = HTTPField.Name("OCI-Subject")!
    /// Filters the referrers API applied.
    static let ociFiltersApplied = HTTPField.Name("OCI-Filters-Applied")!
    /// `Link: <…>; rel="next"` on paginated listings (RFC 8288).
    static let link = HTTPField.Name("Link")!
    /// A tag accepted with `?tag=` on a manifest push by digest.
    static let ociTag = HTTPField.Name("OCI-Tag")!
    /// The registry host a mirror served a request for (containerd names it with `?ns=`).
    static let ociNamespace = HTTPField.Name("OCI-Namespace")!
}

/// The value of `Docker-Distribution-API-Version`.
let apiVersion = "registry/2.0"
