/// S3's error answers (`<Error><Code>NoSuchKey</Code><Message>…</Message><RequestId>…</RequestId></Error>`) as
/// ``S3Error``s.
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
enum S3ErrorDocument {
    /// The error of an answer with status `status` and error document `document` (absent for HEAD answers).
    static func error(_ document: XMLElement?, status: Int, subject: String, requestID: String?) -> S3Error {
        let s3Code = document.flatMap { $0.name == "Error" ? $0["Code"] : nil }
        let message = document?["Message"].flatMap { $0.isEmpty ? nil : $0 }
        let code = self.code(s3Code, status: status)
        var text = "\(subject): S3 answered \(status) \(s3Code ?? "")"
        if let message { text += ": \(message)" }
        return S3Error(code, text, s3Code: s3Code, status: status, requestID: document?["RequestId"] ?? requestID)
    }

    /// The code for S3's `<Code>`, or for the status when there is none.
    static func code(_ s3Code: String?, status: Int) -> S3Error.Code {
        switch s3Code {
        case "NoSuchKey": .noSuchKey
        case "NoSuchUpload": .noSuchUpload
        case "NoSuchBucket": .noSuchBucket
        case "AccessDenied", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "RequestTimeTooSkewed",
            "AllAccessDisabled", "AccountProblem":
            .accessDenied
        case "SignatureDoesNotMatch": .signatureDoesNotMatch
        case "SlowDown", "RequestLimitExceeded", "TooManyRequests": .slowDown
        case "PreconditionFailed": .preconditionFailed
        case "InvalidRange": .invalidRange
        case "InvalidPart", "InvalidPartOrder": .invalidPart
        case "EntityTooSmall": .entityTooSmall
        case "BucketAlreadyExists": .bucketAlreadyExists
        case "InternalError", "ServiceUnavailable": .unavailable
        case "BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody": .corruptTransfer
        case "InvalidArgument", "InvalidRequest", "EntityTooLarge", "MalformedXML", "InvalidBucketName", "KeyTooLongError",
            "InvalidDigest", "MissingContentLength":
            .invalidArgument
        case .some: .other
        case nil:
            // No error document: a HEAD, or a proxy in front of S3.
            switch status {
            case 404: .noSuchKey
            case 401, 403: .accessDenied
            case 412: .preconditionFailed
            case 416: .invalidRange
            case 429: .slowDown
            case 500...599: status == 503 ? .slowDown : .unavailable
            default: .other
            }
        }
    }
}
