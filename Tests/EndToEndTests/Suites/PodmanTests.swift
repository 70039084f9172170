import Foundation
import Testing

/// podman 4.3 (root, private vfs storage per test) against pier: pull, tag and push, Docker
/// schema2 push, search through `_catalog`, and a platform-specific pull from an index.
@Suite("podman", .enabled(if: EndToEnd.isEnabled), .pierServer)
struct PodmanTests {
    @Test("pull keeps the manifest digest; the image ID is the config digest")
    func pull() async throws {
        let pier = try PierServer.required()
        let layout = try await TestImages.shared.oci()
        let image = layout["v1"]
        try await LayoutPusher.push(layout, tag: "v1", to: pier.api, repository: "podman/pull")
        try await Podman.with(pier) { podman in
            let reference = "\(pier.host)/podman/pull:v1"
            try await podman.run(["pull", "--tls-verify=false", reference]).check()
            let inspected = try await podman.inspect(reference)
            #expect("sha256:" + (inspected["Id"] as? String ?? "") == image.manifests[0].config.digest)
            #expect(inspected["Digest"] as? String == image.descriptor.digest)
            #expect((inspected["RootFS"] as? [String: Any])?["Layers"] as? [String] == image.manifests[0].diffIDs)
        }
    }

    @Test("tag and push, then push --format v2s2 as another tag")
    func tagAndPush() async throws {
        let pier = try PierServer.required()
        let layout = try await TestImages.shared.oci()
        let image = layout["v1"].manifests[0]
        try await LayoutPusher.push(layout, tag: "v1", to: pier.api, repository: "podman/source")
        try await Podman.with(pier) { podman in
            let source = "\(pier.host)/podman/source:v1", target = "\(pier.host)/podman/pushed:v1"
            try await podman.run(["pull", "--tls-verify=false", source]).check()
            try await podman.run(["tag", source, target]).check()
            try await podman.run(["push", "--tls-verify=false", target]).check()
            try await podman.run(["push", "--tls-verify=false", "--format", "v2s2", target, "docker://\(pier.host)/podman/pushed:v2s2"]).check()
        }
        #expect(try await pier.api.tags("podman/pushed").sorted() == ["v1", "v2s2"])
        for (tag, mediaType) in [("v1", MediaTypes.ociManifest), ("v2s2", MediaTypes.dockerManifest)] {
            let response = try await pier.api.manifest("podman/pushed", tag)
            #expect(response.header("Content-Type") == mediaType, "tag \(tag)")
            let manifest = try response.jsonObject()
            #expect(manifest["mediaType"] as? String == mediaType)
            let config = try #require(manifest["config"] as? [String: Any])
            #expect(config["digest"] as? String == image.config.digest, "podman pushes the config bytes it pulled (tag \(tag))")
            let layers = try #require(manifest["layers"] as? [[String: Any]])
            #expect(layers.count == image.layers.count)
            for layer in layers {
                let digest = try #require(layer["digest"] as? String)
                #expect(try await pier.api.blobStatus("podman/pushed", digest) == 200, "layer \(digest) of tag \(tag)")
            }
        }
    }

    @Test("search lists repositories from _catalog, and --list-tags their tags")
    func search() async throws {
        let pier = try PierServer.required()
        let layout = try await TestImages.shared.oci()
        for repository in ["podman/search-alpha", "podman/search-beta"] {
            try await LayoutPusher.push(layout, tag: "v1", to: pier.api, repository: repository, as: "1.0")
        }
        try await Podman.with(pier) { podman in
            let names = try await podman.run(["search", "--tls-verify=false", "--limit", "1000", "--format", "{{.Name}}", "\(pier.host)/"]).check()
            let listed = Set(names.standardOutput.split(separator: "\n").map(String.init))
            let expected: Set = ["\(pier.host)/podman/search-alpha", "\(pier.host)/podman/search-beta"]
            #expect(listed.isSuperset(of: expected), "podman search printed: \(listed.sorted())")

            let tags = try await podman.run(["search", "--tls-verify=false", "--list-tags", "\(pier.host)/podman/search-beta"]).check()
            #expect(tags.standardOutput.contains("1.0"), "podman search --list-tags printed: \(tags.standardOutput)")
        }
        #expect(pier.accessLog().contains { $0.method == "GET" && $0.path == "/v2/_catalog" && $0.status == 200 })
    }

    @Test("pull --platform linux/arm64 takes the arm64 image of a multi-arch index")
    func pullPlatform() async throws {
        let pier = try PierServer.required()
        let layout = try await TestImages.shared.oci()
        let arm64 = try #require(layout["multi"].manifest(for: .arm64))
        try await LayoutPusher.push(layout, tag: "multi", to: pier.api, repository: "podman/multi", as: "v1")
        try await Podman.with(pier) { podman in
            let reference = "\(pier.host)/podman/multi:v1"
            try await podman.run(["pull", "--tls-verify=false", "--platform", "linux/arm64", reference]).check()
            let inspected = try await podman.inspect(reference)
            #expect(inspected["Architecture"] as? String == "arm64")
            #expect("sha256:" + (inspected["Id"] as? String ?? "") == arm64.config.digest)
        }
    }
}

/// podman with storage of its own (`--root`, `--runroot`, vfs) in a temporary directory, so no test
/// touches the machine's images or another test's.
struct Podman {
    let executable: String
    let directory: TemporaryDirectory
    let pier: PierServer

    /// Runs `body` with a fresh podman store that is deleted afterwards.
    static func with(_ pier: PierServer, _ body: (Podman) async throws -> Void) async throws {
        let executable = try Tools.path("podman", package: "podman")
        try await TemporaryDirectory.with("podman") { directory in
            try await body(Podman(executable: executable, directory: directory, pier: pier))
        }
    }

    /// Runs `podman <global storage flags> <arguments>`, with `environment` added to this process's.
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
        let global = [
            "--root", directory.appending("root").path, "--runroot", directory.appending("run").path,
            "--storage-driver", "vfs", "--events-backend", "none",
        ]
        return try await ProcessRunner.run(
            executable, global + arguments, environment: environment, timeout: .seconds(300), diagnostics: [pier])
    }

    /// `podman image inspect` of one image, parsed.
    func inspect(_ reference: String) async throws -> [String: Any] {
        let result = try await run(["image", "inspect", reference]).check()
        let list = try JSONSerialization.jsonObject(with: result.standardOutputData) as? [[String: Any]]
        return try #require(list?.first, "podman image inspect printed no object:\n\(result.summary)")
    }
}
