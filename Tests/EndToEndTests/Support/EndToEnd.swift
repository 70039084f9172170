import Foundation

/// The switches and paths that the test command (`scripts/test.sh`) passes to the end-to-end suites.
///
/// The suites drive the built `pier` binary with real clients (skopeo, ctr, dockerd, podman, oras,
/// python-dxf), one suite per client under `Suites/`, each with its own `pier serve` on a free port
/// (``PierServerTrait``) and distinct repository names. Images come from the offline generator in
/// `Images/`. To run only these:
///
///     PIER_E2E=1 PIER_BINARY=.build/debug/pier PIER_E2E_VENV=.build/e2e-venv \
///       swift test --skip-build --filter EndToEndTests
///
/// A failing client command's error quotes its output and the tail of pier's log (and the daemon's);
/// `PIER_E2E_KEEP=1` keeps every temporary directory (pier's data and full log, daemon state).
enum EndToEnd {
    /// Whether the end-to-end suites run: `PIER_E2E=1`. Otherwise they are disabled, so a plain
    /// `swift test` on a laptop needs none of the clients. When it is set, anything missing fails.
    static let isEnabled = ProcessInfo.processInfo.environment["PIER_E2E"] == "1"

    /// Whether temporary directories (registry data, logs, client stores) are kept for inspection:
    /// `PIER_E2E_KEEP=1`.
    static let keepsTemporaryFiles = ProcessInfo.processInfo.environment["PIER_E2E_KEEP"] == "1"

    /// The `pier` executable under test, from `PIER_BINARY`.
    static func pierBinary() throws -> URL {
        guard let path = ProcessInfo.processInfo.environment["PIER_BINARY"], !path.isEmpty else {
            throw MissingTool("PIER_BINARY is not set: point it at the built pier executable (scripts/test.sh does)")
        }
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingTool("PIER_BINARY=\(path) is not an executable file: build with `swift build --build-tests` first")
        }
        return URL(filePath: path)
    }

    /// The Python virtual environment holding `oras` and `python-dxf`, from `PIER_E2E_VENV`.
    static func venv() throws -> URL {
        guard let path = ProcessInfo.processInfo.environment["PIER_E2E_VENV"], !path.isEmpty else {
            throw MissingTool("PIER_E2E_VENV is not set: point it at a venv with oras==0.2.43 and python-dxf==12.1.1 (scripts/test.sh makes one)")
        }
        let python = URL(filePath: path).appending(path: "bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw MissingTool("PIER_E2E_VENV=\(path) has no bin/python: create it with `python3 -m venv` and pip install oras python-dxf")
        }
        return URL(filePath: path)
    }
}

/// A tool or setting the end-to-end suites need is absent. With `PIER_E2E=1` this is a failure, never a skip.
struct MissingTool: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "missing: " + description }
}

/// Finds the command-line tools the suites drive.
enum Tools {
    /// The absolute path of `name` on `PATH` (plus the sbin directories, where dockerd lives).
    ///
    /// - Parameter package: the Debian package that provides it, named in the failure message.
    static func path(_ name: String, package: String) throws -> String {
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/local/sbin:/usr/sbin:/sbin"
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw MissingTool("`\(name)` is not installed (Debian package \(package); scripts/test.sh installs it)")
    }

    /// The absolute path of a file that a package installs, such as `/bin/busybox`.
    static func file(_ path: String, package: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingTool("\(path) does not exist (Debian package \(package); scripts/test.sh installs it)")
        }
        return path
    }
}
