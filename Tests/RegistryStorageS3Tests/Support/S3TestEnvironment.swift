import Foundation

/// What the test command (`scripts/test.sh`) tells the S3 suites: where botocore is, and where a real S3 server runs.
///
/// Plain `swift test` on a laptop leaves these suites out, with a message saying why. When the test command runs
/// (`PIER_E2E=1`), they are required: a missing botocore or S3 server is a failure naming what is missing.
enum S3TestEnvironment {
    static let environment = ProcessInfo.processInfo.environment

    /// Whether the test command is running: everything these suites need must then be present.
    static let isRequired = environment["PIER_E2E"] == "1"

    /// Whether the differential SigV4 suite runs: in the test command, or when a venv is named.
    static let hasReferenceSigner = isRequired || !(environment["PIER_E2E_VENV"] ?? "").isEmpty

    /// Whether the suites against a real S3 server run: in the test command, or when an endpoint is named.
    static let hasS3Server = isRequired || !(environment["PIER_S3_ENDPOINT"] ?? "").isEmpty

    /// The Python interpreter of the venv that holds botocore (`PIER_E2E_VENV/bin/python`).
    static func python() throws -> String {
        guard let venv = environment["PIER_E2E_VENV"], !venv.isEmpty else {
            throw MissingRequirement("PIER_E2E_VENV is not set: point it at a venv with botocore (scripts/test.sh makes .build/e2e-venv)")
        }
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw MissingRequirement("PIER_E2E_VENV=\(venv) has no bin/python: create it with `python3 -m venv` and pip install botocore")
        }
        return python
    }

    /// The real S3 server the client suites talk to: `PIER_S3_ENDPOINT`, `PIER_S3_ACCESS_KEY`, `PIER_S3_SECRET_KEY`
    /// and `PIER_S3_REGION` (scripts/rgw.sh starts a Ceph RADOS Gateway and prints them).
    static func server() throws -> (endpoint: String, accessKey: String, secretKey: String, region: String) {
        var missing: [String] = []
        func value(_ name: String) -> String {
            guard let value = environment[name], !value.isEmpty else {
                missing.append(name)
                return ""
            }
            return value
        }
        let server = (value("PIER_S3_ENDPOINT"), value("PIER_S3_ACCESS_KEY"), value("PIER_S3_SECRET_KEY"), environment["PIER_S3_REGION"] ?? "us-east-1")
        guard missing.isEmpty else {
            throw MissingRequirement(
                "\(missing.joined(separator: ", ")) not set: the S3 suites need a real S3 server (scripts/rgw.sh start runs Ceph RGW; scripts/test.sh does it)")
        }
        return server
    }

    /// The repository's root directory, found from this file's path.
    static let repositoryRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

/// Something a required S3 suite needs is absent. In the test command this is a failure, never a skip.
struct MissingRequirement: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "missing: " + description }
}
