/// The key pair (and, for temporary credentials, the session token) that S3 requests are signed with.
public struct S3Credentials: Sendable, Hashable, CustomStringConvertible {
    /// The access key id, e.g. `AKIAIOSFODNN7EXAMPLE`; it travels in every request.
    public var accessKeyID: String
    /// The secret access key; it never leaves this process.
    public var secretAccessKey: String
    /// The session token of temporary credentials (STS), sent as `X-Amz-Security-Token`.
    public var sessionToken: String?

    /// Credentials from a key pair and an optional session token.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// The credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; `nil` unless both
    /// keys are set and not empty (an empty `AWS_SESSION_TOKEN` means none).
    public init?(environment: [String: String]) {
        guard let accessKeyID = environment["AWS_ACCESS_KEY_ID"], !accessKeyID.isEmpty,
            let secretAccessKey = environment["AWS_SECRET_ACCESS_KEY"], !secretAccessKey.isEmpty
        else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        self.init(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: token)
    }

    /// The access key id only: the secret and the token never reach a log.
    public var description: String {
        "S3Credentials(\(accessKeyID), secret redacted" + (sessionToken == nil ? ")" : ", session token redacted)")
    }
}
