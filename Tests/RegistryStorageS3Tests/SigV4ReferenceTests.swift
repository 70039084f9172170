import Foundation
import RegistryStorageS3
import Testing

/// Pier's SigV4 signer against botocore's, byte for byte, over seeded requests with hostile keys, query strings,
/// headers and payloads (`tools/s3/sigv4_reference.py` runs botocore with the same fixed clock and credentials).
@Suite(
    "SigV4 against botocore",
    .enabled(if: S3TestEnvironment.hasReferenceSigner, "needs botocore: set PIER_E2E_VENV (scripts/test.sh does)"))
struct SigV4ReferenceTests {
    /// What botocore made of one request.
    struct Reference: Decodable {
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String?
        var amzHeaders: [String: String]?
        var url: String?
    }

    struct Output: Decodable {
        var botocore: String
        var results: [Reference]
    }

    /// The botocore version scripts/test.sh installs.
    static let botocoreVersion = "1.43.11"

    @Test("Authorization headers equal botocore's S3SigV4Auth for 500 generated requests")
    func headerSigning() async throws {
        var generator = SigV4CaseGenerator(seed: 0x5349_4756_3401)
        let cases = (0..<500).map { _ in generator.next(presign: false) }
        let references = try await Self.reference(cases)
        var failures: [String] = []
        for (index, (item, reference)) in zip(cases, references).enumerated() {
            let signed = item.signer.sign(item.request, payload: item.sigV4Payload, at: AWSTimestamp(secondsSince1970: item.time))
            var differences: [String] = []
            if signed.canonicalRequest != reference.canonicalRequest {
                differences.append("canonical request:\n\(signed.canonicalRequest)\nbotocore:\n\(reference.canonicalRequest)")
            }
            if signed.stringToSign != reference.stringToSign { differences.append("string to sign differs") }
            if signed.authorization != reference.authorization {
                differences.append("Authorization: \(signed.authorization)\nbotocore: \(reference.authorization ?? "none")")
            }
            for (name, value) in reference.amzHeaders ?? [:] {
                let ours = signed.headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
                if ours != [value] { differences.append("\(name): \(ours) botocore: \(value)") }
            }
            let ourAmzHeaders = Set(signed.headers.map { $0.name.lowercased() }.filter { $0.hasPrefix("x-amz-date") || $0.hasPrefix("x-amz-content") || $0.hasPrefix("x-amz-security") })
            if ourAmzHeaders != Set((reference.amzHeaders ?? [:]).keys.map { $0.lowercased() }) {
                differences.append("added headers \(ourAmzHeaders.sorted()) botocore: \((reference.amzHeaders ?? [:]).keys.sorted())")
            }
            if !differences.isEmpty { failures.append("case \(index) \(try Self.json(item)):\n" + differences.joined(separator: "\n")) }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count) differ; the first:\n\(failures.prefix(3).joined(separator: "\n\n"))")
    }

    @Test("presigned URLs equal botocore's S3SigV4QueryAuth for 300 generated requests")
    func presigning() async throws {
        var generator = SigV4CaseGenerator(seed: 0x5052_4553_4947)
        let cases = (0..<300).map { _ in generator.next(presign: true) }
        let references = try await Self.reference(cases)
        var failures: [String] = []
        for (index, (item, reference)) in zip(cases, references).enumerated() {
            let presigned = try item.signer.presign(item.request, expires: item.expires, at: AWSTimestamp(secondsSince1970: item.time))
            var differences: [String] = []
            if presigned.canonicalRequest != reference.canonicalRequest {
                differences.append("canonical request:\n\(presigned.canonicalRequest)\nbotocore:\n\(reference.canonicalRequest)")
            }
            if presigned.stringToSign != reference.stringToSign { differences.append("string to sign differs") }
            if presigned.url != reference.url { differences.append("URL: \(presigned.url)\nbotocore: \(reference.url ?? "none")") }
            if !differences.isEmpty { failures.append("case \(index) \(try Self.json(item)):\n" + differences.joined(separator: "\n")) }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count) differ; the first:\n\(failures.prefix(3).joined(separator: "\n\n"))")
    }

    static func json(_ item: ReferenceCase) throws -> String {
        String(decoding: try JSONEncoder().encode(item), as: UTF8.self)
    }

    /// Runs the reference signer over `cases`; a missing botocore fails with the helper's message.
    static func reference(_ cases: [ReferenceCase]) async throws -> [Reference] {
        let python = try S3TestEnvironment.python()
        let script = S3TestEnvironment.repositoryRoot.appending(path: "tools/s3/sigv4_reference.py").path
        let directory = FileManager.default.temporaryDirectory.appending(path: "pier-sigv4-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appending(path: "in.json"), output = directory.appending(path: "out.json"), errors = directory.appending(path: "err.txt")
        try JSONEncoder().encode(cases).write(to: input)
        try Data().write(to: output)
        try Data().write(to: errors)
        let process = Process()
        process.executableURL = URL(filePath: python)
        process.arguments = [script]
        process.standardInput = try FileHandle(forReadingFrom: input)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw MissingRequirement("\(python) \(script) exited with \(status): \(message)")
        }
        let decoded = try JSONDecoder().decode(Output.self, from: Data(contentsOf: output))
        #expect(decoded.botocore == botocoreVersion, "the venv's botocore is not the pinned one")
        try #require(decoded.results.count == cases.count)
        return decoded.results
    }
}
