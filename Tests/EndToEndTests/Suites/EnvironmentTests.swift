import Foundation
import Testing

/// Everything the end-to-end suites need, checked in one place so that a machine without it fails
/// with one list of what is missing (each suite also fails on its own tools).
@Suite("End-to-end environment", .enabled(if: EndToEnd.isEnabled))
struct EnvironmentTests {
    @Test("the pier binary, the Python venv and every client tool are installed")
    func toolsArePresent() throws {
        let checks: [() throws -> Void] = [
            { _ = try EndToEnd.pierBinary() },
            { _ = try EndToEnd.venv() },
            { _ = try Tools.path("skopeo", package: "skopeo") },
            { _ = try Tools.path("podman", package: "podman") },
            { _ = try Tools.path("containerd", package: "containerd") },
            { _ = try Tools.path("ctr", package: "containerd") },
            { _ = try Tools.path("runc", package: "runc") },
            { _ = try Tools.path("dockerd", package: "docker.io") },
            { _ = try Tools.path("docker", package: "docker.io") },
            { _ = try Tools.path("umoci", package: "umoci") },
            { _ = try Tools.path("docker-registry", package: "docker-registry") },
            { _ = try Tools.file("/bin/busybox", package: "busybox-static") },
            { _ = try Tools.path("htpasswd", package: "apache2-utils") },
            { _ = try Tools.path("openssl", package: "openssl") },
            { _ = try Tools.path("curl", package: "curl") },
            { _ = try Tools.file(TokenServer.script.path, package: "this repository's tools/mirror-test") },
        ]
        var missing: [String] = []
        for check in checks {
            do { try check() } catch { missing.append("\(error)") }
        }
        #expect(missing.isEmpty, "PIER_E2E=1 needs these:\n\(missing.joined(separator: "\n"))")
    }

    @Test("the venv has the pinned oras and python-dxf")
    func pythonPackages() async throws {
        let python = try EndToEnd.venv().appending(path: "bin/python").path
        let result = try await ProcessRunner.run(python, [
            "-c", "import importlib.metadata as m; print(m.version('oras'), m.version('python-dxf'))",
        ]).check()
        #expect(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "0.2.43 12.1.1")
    }
}
