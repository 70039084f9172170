import Foundation

/// The Python registry clients (`oras` and `python-dxf`) from the venv in `PIER_E2E_VENV`.
struct PythonClients: Sendable {
    let venv: URL
    let pier: PierServer

    /// Finds the venv (a failure if missing or without the packages' entry points).
    init(pier: PierServer) throws {
        venv = try EndToEnd.venv()
        self.pier = pier
        guard FileManager.default.isExecutableFile(atPath: venv.appending(path: "bin/dxf").path) else {
            throw MissingTool("PIER_E2E_VENV=\(venv.path) has no bin/dxf: pip install python-dxf==12.1.1 oras==0.2.43 into it")
        }
    }

    /// Runs a Python script in the venv, in `directory`, and parses the JSON its last output line holds.
    ///
    /// The script gets `HOST` (pier's `host:port`) as a global and `sys.argv[1:]` = `arguments`.
    func script(_ source: String, arguments: [String] = [], in directory: URL) async throws -> Any {
        let program = "HOST = \(String(reflecting: pier.host))\n" + source
        let result = try await ProcessRunner.run(
            venv.appending(path: "bin/python").path, ["-c", program] + arguments,
            workingDirectory: directory, timeout: .seconds(300), diagnostics: [pier]
        ).check()
        guard let line = result.standardOutput.split(separator: "\n").last,
              let value = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        else { throw CommandFailure("the script printed no JSON on its last line:\n\(result.summary)") }
        return value
    }

    /// Runs the `dxf` command line against pier (`DXF_HOST`, `DXF_INSECURE=1`, `DXF_PROGRESS=0`).
    func dxf(_ arguments: [String], in directory: URL? = nil) async throws -> ProcessResult {
        try await ProcessRunner.run(
            venv.appending(path: "bin/dxf").path, arguments,
            environment: ["DXF_HOST": pier.host, "DXF_INSECURE": "1", "DXF_PROGRESS": "0"],
            workingDirectory: directory, timeout: .seconds(300), diagnostics: [pier])
    }
}
