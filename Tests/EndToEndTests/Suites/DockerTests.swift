import Foundation
import Testing

/// Docker Engine 20.10 (a private dockerd) against pier: pulls of images pushed by skopeo, and a
/// runnable busybox image loaded, pushed, removed, pulled back and run.
@Suite("Docker Engine", .enabled(if: EndToEnd.isEnabled), .pierServer, .dockerDaemon)
struct DockerTests {
    @Test("docker pull of an image pushed by skopeo: image ID is the config digest, repo digest the manifest's")
    func pullSkopeoPushed() async throws {
        let pier = try PierServer.required(), docker = try DockerDaemon.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let image = layout["v1"]
        try await skopeo.push(layout, "v1", to: "docker/img")

        let reference = "\(pier.host)/docker/img:v1"
        try await docker.docker(["pull", reference], also: [pier]).check()
        let inspected = try await inspect(reference, docker)
        #expect(inspected["Id"] as? String == image.manifests[0].config.digest)
        #expect((inspected["RepoDigests"] as? [String])?.contains("\(pier.host)/docker/img@\(image.descriptor.digest)") == true)
        #expect((inspected["RootFS"] as? [String: Any])?["Layers"] as? [String] == image.manifests[0].diffIDs)

        try await docker.docker(["pull", "\(pier.host)/docker/img@\(image.descriptor.digest)"], also: [pier]).check()
    }

    @Test("docker pull --platform linux/arm64 picks the arm64 image of an index")
    func pullPlatform() async throws {
        let pier = try PierServer.required(), docker = try DockerDaemon.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let arm64 = try #require(layout["multi"].manifest(for: .arm64))
        try await skopeo.push(layout, "multi", to: "docker/multi")

        let reference = "\(pier.host)/docker/multi:multi"
        try await docker.docker(["pull", "--platform", "linux/arm64", reference], also: [pier]).check()
        let inspected = try await inspect(reference, docker)
        #expect(inspected["Id"] as? String == arm64.config.digest)
        #expect(inspected["Architecture"] as? String == "arm64")
    }

    @Test("docker push of a runnable image, remove it, pull it back and run it")
    func pushPullRun() async throws {
        let pier = try PierServer.required(), docker = try DockerDaemon.required()
        let layout = try await TestImages.shared.busybox()
        let image = layout["busybox"].manifests[0]
        let local = "pier-e2e/busybox:latest", remote = "\(pier.host)/user/busybox:latest"

        try await TemporaryDirectory.with("docker-load") { directory in
            let archive = directory.appending("busybox.tar")
            try DockerArchive.write(layout, tag: "busybox", repositoryTag: local, to: archive)
            try await docker.docker(["load", "-i", archive.path]).check()
        }
        #expect(try await inspect(local, docker)["Id"] as? String == image.config.digest)
        try await docker.docker(["tag", local, remote]).check()
        try await docker.docker(["push", remote], also: [pier]).check()

        #expect(try await pier.api.tags("user/busybox") == ["latest"])
        let pushed = try await pier.api.manifest("user/busybox", "latest")
        #expect(pushed.header("Content-Type") == MediaTypes.dockerManifest)
        let config = try #require(try pushed.jsonObject()["config"] as? [String: Any])
        #expect(config["digest"] as? String == image.config.digest)

        try await docker.docker(["rmi", local, remote]).check()
        try await docker.docker(["image", "inspect", remote]).checkFailed()
        try await docker.docker(["pull", remote], also: [pier]).check()
        #expect(try await inspect(remote, docker)["Id"] as? String == image.config.digest)

        let run = try await docker.docker(["run", "--rm", "--network", "none", remote]).check()
        #expect(run.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == TestImages.busyboxGreeting)
    }

    @Test("docker push of 12 MiB layers and pull back: the files in the layers are unchanged")
    func bigLayersRoundTrip() async throws {
        let pier = try PierServer.required(), docker = try DockerDaemon.required()
        let layout = try await TestImages.shared.oci()
        let local = "pier-e2e/big:latest", remote = "\(pier.host)/docker/big:v1"
        try await TemporaryDirectory.with("docker-big") { directory in
            let archive = directory.appending("big.tar")
            try DockerArchive.write(layout, tag: "big", repositoryTag: local, to: archive)
            try await docker.docker(["load", "-i", archive.path]).check()
            try await docker.docker(["tag", local, remote]).check()
            try await docker.docker(["push", remote], also: [pier]).check()
            try await docker.docker(["rmi", local, remote]).check()
            try await docker.docker(["pull", remote], also: [pier]).check()
            let container = try await docker.docker(["create", remote, "/usr/bin/hello"]).check()
                .standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            try await docker.docker(["cp", "\(container):/data", directory.appending("data").path]).check()
            try await docker.docker(["rm", container]).check()
            for index in 0..<2 {
                let file = try Data(contentsOf: directory.appending("data/layer-\(index).bin"))
                #expect(file == PseudoRandomBytes.generate(count: 12 * 1024 * 1024, seed: "big/linux/amd64/\(index)"), "layer \(index)")
            }
        }
        let uploads = pier.accessLog().filter { $0.method == "PATCH" && $0.path.hasPrefix("/v2/docker/big/blobs/uploads/") }
        #expect(uploads.count >= 2, "dockerd streams each layer with PATCH")
    }

    @Test("docker manifest create, annotate and push build a multi-arch list from two repositories")
    func manifestList() async throws {
        let pier = try PierServer.required(), docker = try DockerDaemon.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        try await skopeo.push(layout, "v1", to: "docker/list-amd64")
        try await skopeo.push(layout, "v1", to: "docker/list-arm64", ["--format", "v2s2"])
        let amd64 = "\(pier.host)/docker/list-amd64:v1", arm64 = "\(pier.host)/docker/list-arm64:v1"
        let list = "\(pier.host)/docker/list:v1"

        try await docker.docker(["manifest", "create", "--insecure", list, amd64, arm64], also: [pier]).check()
        try await docker.docker(["manifest", "annotate", list, arm64, "--arch", "arm64", "--variant", "v8"]).check()
        let pushed = try await docker.docker(["manifest", "push", "--insecure", list], also: [pier]).check()
        let digest = try #require(pushed.standardOutput.split(separator: "\n").last.map(String.init))

        let response = try await pier.api.manifest("docker/list", "v1")
        #expect(response.header("Docker-Content-Digest") == digest)
        #expect(response.body.sha256Digest == digest)
        let entries = try #require(try response.jsonObject()["manifests"] as? [[String: Any]])
        #expect(entries.compactMap { ($0["platform"] as? [String: Any])?["architecture"] as? String } == ["amd64", "arm64"])
        #expect(entries.first?["digest"] as? String == layout["v1"].descriptor.digest)
        for entry in entries {
            let child = try #require(entry["digest"] as? String)
            #expect(try await pier.api.manifest("docker/list", child).status == 200, "manifest \(child) in the list's repository")
        }
    }

    /// `docker image inspect` of one image, parsed.
    private func inspect(_ reference: String, _ docker: DockerDaemon) async throws -> [String: Any] {
        let result = try await docker.docker(["image", "inspect", reference]).check()
        let list = try JSONSerialization.jsonObject(with: result.standardOutputData) as? [[String: Any]]
        return try #require(list?.first, "docker image inspect printed no object:\n\(result.summary)")
    }
}
