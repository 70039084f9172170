import Foundation
import Testing

/// pier with `auth.htpasswd` (a file written by `htpasswd -B`), driven by the clients users log in with:
/// `docker login` and Docker Engine push/pull, `podman login`, `skopeo --creds`.
@Suite("htpasswd authentication", .enabled(if: EndToEnd.isEnabled), .dockerDaemon, .serialized)
struct BasicAuthTests {
    /// Runs `body` with a pier that requires the users of a fresh htpasswd file (alice / wonderland).
    func withAuthenticatedPier(_ body: (PierServer) async throws -> Void) async throws {
        let htpasswd = try Tools.path("htpasswd", package: "apache2-utils")
        try await TemporaryDirectory.with("htpasswd") { directory in
            let file = directory.appending("users").path
            try await ProcessRunner.run(htpasswd, ["-B", "-b", "-c", file, "alice", "wonderland"], timeout: .seconds(30)).check()
            let config = "auth:\n  htpasswd:\n    realm: Pier e2e\n    path: \(file)\n"
            let pier = try await PierServer.start(label: "htpasswd", config: config)
            do {
                try await body(pier)
            } catch {
                await pier.stop()
                throw error
            }
            await pier.stop()
        }
    }

    @Test("skopeo: --creds pushes and pulls; without or with a wrong password it is refused")
    func skopeo() async throws {
        try await withAuthenticatedPier { pier in
            let skopeo = try Skopeo(pier: pier)
            let layout = try await TestImages.shared.oci()
            let refused = try await skopeo.run(["copy", "--dest-tls-verify=false", layout.ociReference("v1"), skopeo.docker("auth/img", "v1")])
            #expect(refused.status != 0)
            let wrong = try await skopeo.run(["copy", "--dest-tls-verify=false", "--dest-creds", "alice:nope", layout.ociReference("v1"), skopeo.docker("auth/img", "v1")])
            #expect(wrong.status != 0)
            try await skopeo.push(layout, "v1", to: "auth/img", ["--dest-creds", "alice:wonderland"])
            let raw = try await skopeo.run(["inspect", "--raw", "--tls-verify=false", "--creds", "alice:wonderland", skopeo.docker("auth/img", "v1")]).check()
            #expect(raw.standardOutputData == (try layout.blob(layout["v1"].descriptor.digest)))
            // curl, not URLSession: on Linux URLSession hangs on a Basic challenge.
            let curl = try Tools.path("curl", package: "curl")
            let head = try await ProcessRunner.run(curl, ["-s", "-D", "-", "-o", "/dev/null", "http://\(pier.host)/v2/auth/img/manifests/v1"]).check()
            #expect(head.standardOutput.hasPrefix("HTTP/1.1 401"))
            #expect(head.standardOutput.lowercased().contains(#"www-authenticate: basic realm="pier e2e""#))
        }
    }

    @Test("docker login, then push, pull and run; after docker logout the pull is refused")
    func docker() async throws {
        try await withAuthenticatedPier { pier in
            let docker = try DockerDaemon.required()
            let layout = try await TestImages.shared.busybox()
            let image = layout["busybox"].manifests[0]
            let local = "pier-e2e/auth-busybox:latest", remote = "\(pier.host)/team/busybox:latest"
            try await TemporaryDirectory.with("docker-load") { directory in
                let archive = directory.appending("busybox.tar")
                try DockerArchive.write(layout, tag: "busybox", repositoryTag: local, to: archive)
                try await docker.docker(["load", "-i", archive.path]).check()
            }
            try await docker.docker(["tag", local, remote]).check()
            let wrongLogin = try await docker.docker(["login", "-u", "alice", "-p", "nope", pier.host], also: [pier])
            #expect(wrongLogin.status != 0)
            try await docker.docker(["login", "-u", "alice", "-p", "wonderland", pier.host], also: [pier]).check()
            try await docker.docker(["push", remote], also: [pier]).check()
            try await docker.docker(["rmi", remote, local]).check()
            try await docker.docker(["pull", remote], also: [pier]).check()
            let run = try await docker.docker(["run", "--rm", remote, "/bin/busybox", "echo", "authenticated"], also: [pier]).check()
            #expect(run.standardOutput.contains("authenticated"))
            #expect(image.config.digest.hasPrefix("sha256:"))
            try await docker.docker(["logout", pier.host]).check()
            try await docker.docker(["rmi", remote]).check()
            let refused = try await docker.docker(["pull", remote], also: [pier])
            #expect(refused.status != 0)
        }
    }

    @Test("podman login, then pull; --creds with a wrong password is refused")
    func podman() async throws {
        try await withAuthenticatedPier { pier in
            let layout = try await TestImages.shared.oci()
            let skopeo = try Skopeo(pier: pier)
            try await skopeo.push(layout, "v1", to: "auth/podman", ["--dest-creds", "alice:wonderland"])
            try await Podman.with(pier) { podman in
                let authfile = podman.directory.appending("auth.json").path
                let reference = "\(pier.host)/auth/podman:v1"
                let wrong = try await podman.run(["pull", "--tls-verify=false", "--creds", "alice:nope", reference])
                #expect(wrong.status != 0)
                try await podman.run(["login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "-p", "wonderland", pier.host]).check()
                try await podman.run(["pull", "--tls-verify=false", "--authfile", authfile, reference]).check()
                let inspected = try await podman.inspect(reference)
                #expect(inspected["Digest"] as? String == layout["v1"].descriptor.digest)
            }
        }
    }
}
