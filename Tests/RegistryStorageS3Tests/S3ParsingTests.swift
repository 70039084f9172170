import NIOCore
import NIOHTTP1
import Testing

@testable import RegistryStorageS3

/// The small XML reader, the error mapping, the key decoding and the endpoint parsing, on S3's documents and
/// hostile ones.
@Suite("S3 parsing")
struct S3ParsingTests {
    @Test("S3's documents are read: declaration, namespace, entities, CDATA, nested parts")
    func documents() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>
              <!-- a comment --><Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x1F600;</Key>
              <Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag><Size>5242880</Size></Part>
              <Part><PartNumber>2</PartNumber><ETag><![CDATA["def"<&>]]></ETag><Size>1</Size></Part>
              <Empty/><IsTruncated>false</IsTruncated>
            </ListPartsResult>
            """
        let root = try XMLElement.parse(Array(xml.utf8))
        #expect(root.name == "ListPartsResult")
        #expect(root["Key"] == "a & b <c> \"d\" 'e' é😀")
        #expect(root.children("Part").map { $0["ETag"] } == ["\"abc\"", "\"def\"<&>"])
        #expect(root.children("Part").map { $0["Size"] } == ["5242880", "1"])
        #expect(root["Empty"] == "")
        #expect(root["Missing"] == nil)
    }

    @Test(
        "malformed or hostile documents are refused, never crash",
        arguments: [
            "", "   ", "<a>", "<a></b>", "<a><b></a></b>", "<a>&unknown;</a>", "<a>&#xD800;</a>", "<a>&#99999999999;</a>",
            "<a>&amp</a>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a/><b/>", "text", "<a attr=\"unterminated></a>",
            "<>", "</a>", "<a><![CDATA[never closed</a>", "<?xml never closed", "<a>" + String(repeating: "<b>", count: 40),
        ])
    func hostile(_ xml: String) {
        #expect(throws: XMLReader.Failure.self) { try XMLElement.parse(Array(xml.utf8)) }
    }

    @Test("nesting deeper than 32 levels is refused")
    func depth() {
        let deep = String(repeating: "<a>", count: 33) + String(repeating: "</a>", count: 33)
        #expect(throws: XMLReader.Failure.self) { try XMLElement.parse(Array(deep.utf8)) }
        let fine = String(repeating: "<a>", count: 32) + String(repeating: "</a>", count: 32)
        #expect(throws: Never.self) { try XMLElement.parse(Array(fine.utf8)) }
    }

    @Test(
        "S3 error codes map to the client's codes",
        arguments: [
            ("NoSuchKey", 404, S3Error.Code.noSuchKey), ("NoSuchUpload", 404, .noSuchUpload), ("NoSuchBucket", 404, .noSuchBucket),
            ("SlowDown", 503, .slowDown), ("InternalError", 500, .unavailable), ("SignatureDoesNotMatch", 403, .signatureDoesNotMatch),
            ("InvalidAccessKeyId", 403, .accessDenied), ("RequestTimeTooSkewed", 403, .accessDenied), ("EntityTooSmall", 400, .entityTooSmall),
            ("InvalidPart", 400, .invalidPart), ("InvalidPartOrder", 400, .invalidPart), ("InvalidRange", 416, .invalidRange),
            ("XAmzContentSHA256Mismatch", 400, .corruptTransfer), ("BadDigest", 400, .corruptTransfer), ("PreconditionFailed", 412, .preconditionFailed),
            ("SomethingNew", 400, .other),
        ])
    func errorCodes(_ code: String, _ status: Int, _ expected: S3Error.Code) throws {
        let document = try XMLElement.parse(Array("<Error><Code>\(code)</Code><Message>m</Message><RequestId>r</RequestId></Error>".utf8))
        let error = S3ErrorDocument.error(document, status: status, subject: "GetObject s3 key k", requestID: nil)
        #expect(error.code == expected)
        #expect(error.s3Code == code)
        #expect(error.requestID == "r")
        #expect(error.message.contains("GetObject s3 key k") && error.message.contains(": m"))
    }

    @Test(
        "answers without a document (HEAD) map by status",
        arguments: [(404, S3Error.Code.noSuchKey), (403, .accessDenied), (416, .invalidRange), (503, .slowDown), (500, .unavailable), (409, .other)])
    func statuses(_ status: Int, _ expected: S3Error.Code) {
        #expect(S3ErrorDocument.error(nil, status: status, subject: "HeadObject", requestID: "id").code == expected)
    }

    @Test(
        "listing keys are form-decoded; malformed escapes and non-UTF-8 are refused",
        arguments: [
            ("a+b", "a b"), ("a%2Bb", "a+b"), ("%E6%97%A5", "日"), ("100%25", "100%"), ("plain/key", "plain/key"), ("%zz", nil),
            ("%4", nil), ("%FF", nil), ("", ""),
        ] as [(String, String?)])
    func formDecoding(_ encoded: String, _ expected: String?) {
        #expect(S3Client.formDecoded(encoded) == expected)
    }

    @Test(
        "endpoints: scheme, host, port, IPv6, path or virtual-host style",
        arguments: [
            ("http://127.0.0.1:7480", "http", "127.0.0.1", 7480, false), ("https://minio.example:9000/", "https", "minio.example", 9000, true),
            ("storage.example", "https", "storage.example", nil, true), ("http://[::1]:9000", "http", "::1", 9000, false),
            ("[::1]", "https", "::1", nil, false),
        ] as [(String, String, String, Int?, Bool)])
    func endpoints(_ endpoint: String, _ scheme: String, _ host: String, _ port: Int?, _ virtualHost: Bool) throws {
        let configuration = S3Configuration(
            bucket: "bucket", region: "r", endpoint: endpoint, credentials: S3Credentials(accessKeyID: "a", secretAccessKey: "s"))
        let resolved = try S3Endpoint(configuration)
        #expect(resolved.scheme == scheme)
        #expect(resolved.host == host)
        #expect(resolved.port == port)
        #expect(resolved.virtualHost == virtualHost)
    }

    @Test("AWS without an endpoint: s3.<region>.amazonaws.com over HTTPS, virtual-host style unless the bucket needs path style")
    func awsDefaults() throws {
        var configuration = S3Configuration(
            bucket: "my-bucket", region: "eu-central-1", credentials: S3Credentials(accessKeyID: "a", secretAccessKey: "s"))
        var endpoint = try S3Endpoint(configuration)
        #expect(endpoint.scheme == "https" && endpoint.host == "s3.eu-central-1.amazonaws.com" && endpoint.virtualHost)
        let client = try S3Client(configuration: configuration, httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
        #expect(client.signingRequest(.GET, key: "a b").origin == "https://my-bucket.s3.eu-central-1.amazonaws.com")
        #expect(client.signingRequest(.GET, key: "a b").canonicalURI == "/a%20b")
        configuration.bucket = "my.dotted.bucket"
        endpoint = try S3Endpoint(configuration)
        #expect(!endpoint.virtualHost)
        configuration.bucket = "my-bucket"
        configuration.forcePathStyle = true
        configuration.secure = false
        let pathStyle = try S3Client(configuration: configuration, httpClient: S3Fixture.httpClient, logger: S3Fixture.logger)
        #expect(pathStyle.signingRequest(.GET, key: "a b").origin == "http://s3.eu-central-1.amazonaws.com")
        #expect(pathStyle.signingRequest(.GET, key: "a b").canonicalURI == "/my-bucket/a%20b")
        #expect(pathStyle.signingRequest(.GET, key: nil).canonicalURI == "/my-bucket")
    }

    @Test(
        "malformed endpoints and bucket names are refused",
        arguments: [
            ("ftp://host", "bucket"), ("http://host/path", "bucket"), ("http://host:0", "bucket"), ("http://host:99999", "bucket"),
            ("http://host:port", "bucket"), ("http://user@host", "bucket"), ("http://", "bucket"), ("http://host", "b"),
            ("http://host", String(repeating: "b", count: 64)),
        ])
    func malformedEndpoints(_ endpoint: String, _ bucket: String) {
        let configuration = S3Configuration(
            bucket: bucket, region: "r", endpoint: endpoint, credentials: S3Credentials(accessKeyID: "a", secretAccessKey: "s"))
        #expect(throws: S3Error.self) { try S3Endpoint(configuration) }
    }

    @Test(
        "Content-Range answers are parsed; malformed ones are nil",
        arguments: [
            ("bytes 0-0/1", 0..<1, 1), ("bytes 5-9/10", 5..<10, 10), ("bytes 0-9/5", nil, nil), ("bytes 9-5/10", nil, nil),
            ("bytes */10", nil, nil), ("items 0-1/2", nil, nil), ("bytes 0-1", nil, nil),
        ] as [(String, Range<Int64>?, Int64?)])
    func contentRange(_ value: String, _ range: Range<Int64>?, _ size: Int64?) {
        let parsed = S3Client.parseContentRange(value)
        #expect(parsed?.range == range)
        #expect(parsed?.size == size)
    }
}
