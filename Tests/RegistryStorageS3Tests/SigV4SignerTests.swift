import RegistryStorageS3
import Testing

/// The signer on AWS's own published examples, and its building blocks on hostile inputs. These need no botocore.
@Suite("SigV4 signer")
struct SigV4SignerTests {
    // The credentials and time of the examples in AWS's S3 SigV4 documentation.
    static let signer = SigV4Signer(
        credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    static let time = AWSTimestamp(secondsSince1970: 1_369_353_600)  // 20130524T000000Z

    // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "GET Object"
    @Test("AWS's GET Object example signs to the documented signature")
    func getObjectExample() {
        let request = SigV4Request(
            method: "GET", scheme: "https", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
            headers: [SigV4Header("Range", "bytes=0-9")])
        let signed = Self.signer.sign(request, payload: .empty, at: Self.time)
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(signed.url == "https://examplebucket.s3.amazonaws.com/test.txt")
        #expect(signed.headers.first == SigV4Header("Host", "examplebucket.s3.amazonaws.com"))
    }

    // The same page, "PUT Object": a signed payload, the storage class and Date headers.
    @Test("AWS's PUT Object example signs to the documented signature")
    func putObjectExample() {
        let request = SigV4Request(
            method: "PUT", scheme: "https", host: "examplebucket.s3.amazonaws.com", path: "/test$file.text",
            headers: [SigV4Header("Date", "Fri, 24 May 2013 00:00:00 GMT"), SigV4Header("x-amz-storage-class", "REDUCED_REDUNDANCY")])
        let signed = Self.signer.sign(request, payload: .sha256(of: Array("Welcome to Amazon S3.".utf8)), at: Self.time)
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        #expect(signed.url == "https://examplebucket.s3.amazonaws.com/test%24file.text")
    }

    // The same page, "GET Bucket (List Objects)": query parameters.
    @Test("AWS's list objects example signs to the documented signature")
    func listObjectsExample() {
        let request = SigV4Request(
            method: "GET", scheme: "https", host: "examplebucket.s3.amazonaws.com", path: "/",
            query: [SigV4QueryItem("prefix", "J"), SigV4QueryItem("max-keys", "2")])
        let signed = Self.signer.sign(request, payload: .empty, at: Self.time)
        #expect(signed.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
        #expect(signed.url == "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J")
    }

    // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    @Test("AWS's presigned URL example signs to the documented signature")
    func presignedExample() throws {
        let request = SigV4Request(method: "GET", scheme: "https", host: "examplebucket.s3.amazonaws.com", path: "/test.txt")
        let presigned = try Self.signer.presign(request, expires: 86_400, at: Self.time)
        #expect(presigned.signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        #expect(
            presigned.url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
                + "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test("a presigned URL must expire after 1 s to 7 days", arguments: [0, -1, 604_801, Int.max])
    func presignExpiryBounds(_ expires: Int) {
        let request = SigV4Request(method: "GET", scheme: "https", host: "h", path: "/k")
        #expect(throws: S3Error.self) { try Self.signer.presign(request, expires: expires, at: Self.time) }
    }

    @Test("a session token is sent and signed as X-Amz-Security-Token")
    func sessionToken() throws {
        var signer = Self.signer
        signer.credentials.sessionToken = "token/+="
        let request = SigV4Request(method: "GET", scheme: "https", host: "h", path: "/k")
        let signed = signer.sign(request, payload: .unsigned, at: Self.time)
        #expect(signed.headers.contains(SigV4Header("X-Amz-Security-Token", "token/+=")))
        #expect(signed.authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
        let presigned = try signer.presign(request, expires: 60, at: Self.time)
        #expect(presigned.url.contains("&X-Amz-Security-Token=token%2F%2B%3D&X-Amz-Signature="))
    }

    @Test(
        "paths are encoded once per byte, / kept, never normalised",
        arguments: [
            ("/bucket/a b", "/bucket/a%20b"), ("/bucket/a+b=c&d", "/bucket/a%2Bb%3Dc%26d"), ("/b/~-._", "/b/~-._"),
            ("/b/a//c/", "/b/a//c/"), ("/b/./../x", "/b/./../x"), ("/b/%2F", "/b/%252F"), ("/b/é", "/b/%C3%A9"),
            ("/b/😀", "/b/%F0%9F%98%80"), ("/b/?#", "/b/%3F%23"), ("", "/"),
        ])
    func pathEncoding(_ path: String, _ expected: String) {
        #expect(SigV4Request(method: "GET", scheme: "http", host: "h", path: path).canonicalURI == expected)
    }

    @Test("query parameters are encoded, then sorted by name and value")
    func queryOrdering() {
        let request = SigV4Request(
            method: "GET", scheme: "http", host: "h", path: "/",
            query: [
                SigV4QueryItem("b", "2"), SigV4QueryItem("a", "z"), SigV4QueryItem("a", "y"), SigV4QueryItem("uploads"),
                SigV4QueryItem("a b", "c/d"), SigV4QueryItem("A", "~"),
            ])
        #expect(request.canonicalQueryString == "A=~&a=y&a=z&a%20b=c%2Fd&b=2&uploads=")
    }

    @Test("the Host header drops the scheme's default port and brackets IPv6 addresses")
    func hostHeader() {
        #expect(SigV4Request(method: "GET", scheme: "http", host: "127.0.0.1", port: 80, path: "/").hostHeader == "127.0.0.1")
        #expect(SigV4Request(method: "GET", scheme: "https", host: "S3.Example", port: 443, path: "/").hostHeader == "s3.example")
        #expect(SigV4Request(method: "GET", scheme: "http", host: "127.0.0.1", port: 443, path: "/").hostHeader == "127.0.0.1:443")
        #expect(SigV4Request(method: "GET", scheme: "http", host: "::1", port: 9000, path: "/").hostHeader == "[::1]:9000")
    }

    @Test(
        "timestamps are written in UTC, leap days and years before 1970 included",
        arguments: [
            (Int64(0), "19700101T000000Z"), (951_782_400, "20000229T000000Z"), (4_107_542_399, "21000228T235959Z"),
            (1_709_164_799, "20240228T235959Z"), (1_709_164_800, "20240229T000000Z"), (-1, "19691231T235959Z"),
            (253_402_300_799, "99991231T235959Z"),
        ])
    func timestamps(_ seconds: Int64, _ expected: String) {
        let time = AWSTimestamp(secondsSince1970: seconds)
        #expect(time.basicDateTime == expected)
        #expect(time.basicDate == String(expected.prefix(8)))
    }

    @Test("credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, never printed")
    func environmentCredentials() throws {
        let credentials = try #require(S3Credentials(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3tVALUE", "AWS_SESSION_TOKEN": "t0kenVALUE",
        ]))
        #expect(credentials == S3Credentials(accessKeyID: "AKID", secretAccessKey: "s3cr3tVALUE", sessionToken: "t0kenVALUE"))
        #expect("\(credentials)".contains("AKID") && !"\(credentials)".contains("VALUE"))
        #expect(S3Credentials(environment: ["AWS_ACCESS_KEY_ID": "AKID"]) == nil)
        #expect(S3Credentials(environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": ""])?.sessionToken == nil)
    }
}
