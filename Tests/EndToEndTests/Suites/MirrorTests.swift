import Foundation
import Testing

/// Pier as a pull-through cache (issue 3), driven by real clients in front of real upstreams on loopback:
/// the reference registry (plain, behind htpasswd, behind a Docker-Hub-like token server) and Pier itself.
/// Each test starts its own upstreams and its own `pier serve` with a mirror configuration, and counts the
/// requests the upstreams saw where the behaviour is about fetching once. The tests run one at a time:
/// together they start up to three registries, dockerd and containerd, too much at once for a 2-core machine.
@Suite("Pull-through mirror", .enabled(if: EndToEnd.isEnabled), .serialized)
struct MirrorTests {
    @Test("skopeo through a host prefix: copy --all, inspect and list-tags match the upstream, pushes are refused, and cached tags pull with the upstream stopped")
    func skopeoHostPrefix() async throws {
        try await Teardown.with { teardown in
            let layout = try await TestImages.shared.oci()
            let image = layout["multi"]
            let upstream = try await Self.startReference(teardown)
            try await LayoutPusher.push(layout, tag: "multi", to: upstream.api, repository: "team/multi", as: "v1")
            try await LayoutPusher.push(layout, tag: "v1", to: upstream.api, repository: "team/multi", as: "single")
            // revalidate 0s: every pull by tag asks the upstream, so the pull after it stopped takes the fallback path.
            let pier = try await Self.startPier(teardown, "mirror-prefix", Self.config(mirrors: [.init(upstream.host)], revalidate: "0s"))
            let skopeo = try Skopeo(pier: pier)
            let name = "\(Self.prefix(upstream.host))/team/multi"

            try await TemporaryDirectory.with("mirror-prefix") { directory in
                let first = directory.appending("first")
                try await skopeo.copy(skopeo.docker(name, "v1"), "oci:\(first.path):v1", ["--all"])
                try Self.expectLayout(first, tag: "v1", holds: image, from: layout)

                #expect(try await skopeo.rawManifest(name, "v1") == (try layout.blob(image.descriptor.digest)))
                #expect(try await skopeo.inspect(name, "v1")["Digest"] as? String == image.descriptor.digest)
                #expect(try await Self.listTags(skopeo, name) == ["single", "v1"])

                let direct = try await pier.api.manifest(name, "v1")
                #expect(direct.status == 200)
                #expect(direct.header("OCI-Namespace") == upstream.host)
                #expect(try await Self.catalog(pier).contains(name), "the cache is listed under the prefixed name")

                // A mirrored namespace is read-only.
                try await skopeo.run([
                    "copy", "--dest-tls-verify=false", layout.ociReference("v1"), skopeo.docker("\(Self.prefix(upstream.host))/team/pushed", "v1"),
                ]).checkFailed()
                let upload = try await pier.api.send("POST", "/v2/\(Self.prefix(upstream.host))/team/pushed/blobs/uploads/")
                #expect(upload.status == 405)
                #expect(Self.errorCode(upload) == "UNSUPPORTED")

                await upstream.stop()
                let second = directory.appending("second")
                try await skopeo.copy(skopeo.docker(name, "v1"), "oci:\(second.path):v1", ["--all"])
                try Self.expectLayout(second, tag: "v1", holds: image, from: layout)
                #expect(try await skopeo.rawManifest(name, "v1") == (try layout.blob(image.descriptor.digest)))
                #expect(try await Self.listTags(skopeo, name).contains("v1"), "the cached tags are listed with the upstream down")
            }
            try await Self.expectCleanStop(pier)
        }
    }

    @Test("containerd with a hosts.toml mirror: ctr pulls through pier, which routes by ?ns= to the named upstream")
    func containerdHostsMirror() async throws {
        try await Teardown.with { teardown in
            let layout = try await TestImages.shared.oci()
            let image = layout["multi"]
            let platform = try #require(image.manifest(for: TestImages.hostPlatform))
            let upstream = try await Self.startReference(teardown)
            try await LayoutPusher.push(layout, tag: "multi", to: upstream.api, repository: "team/ctr", as: "v1")
            let seeding = upstream.requests().count
            let pier = try await Self.startPier(teardown, "mirror-ctr", Self.config(mirrors: [.init(upstream.host)]))
            let containerd = try await ContainerdDaemon.start()
            await teardown.add { await containerd.stop() }

            try await TemporaryDirectory.with("mirror-hosts") { directory in
                let hostDirectory = directory.appending(upstream.host)
                try FileManager.default.createDirectory(at: hostDirectory, withIntermediateDirectories: true)
                let hosts = """
                    server = "http://\(upstream.host)"

                    [host."http://\(pier.host)"]
                      capabilities = ["pull", "resolve"]

                    """
                try Data(hosts.utf8).write(to: hostDirectory.appending(path: "hosts.toml"))
                try await containerd.ctr(
                    ["images", "pull", "--hosts-dir", directory.path, "\(upstream.host)/team/ctr:v1"], also: [pier, upstream]
                ).check()
            }

            let listing = try await containerd.ctr(["images", "ls"]).check().standardOutput
            #expect(listing.contains("\(upstream.host)/team/ctr:v1") && listing.contains(image.descriptor.digest), "ctr images ls:\n\(listing)")
            for blob in [platform.manifest, platform.config] + platform.layers {
                let content = try await containerd.ctr(["content", "get", blob.digest]).check()
                #expect(content.standardOutputData == (try layout.blob(blob.digest)), "blob \(blob)")
            }

            // containerd asked pier for everything: the upstream only ever saw pier.
            let served = pier.accessLog().filter { $0.userAgent.contains("containerd") && $0.path.hasPrefix("/v2/team/ctr/") }
            #expect(served.contains { $0.path == "/v2/team/ctr/manifests/v1" && $0.status == 200 }, "pier served: \(served)")
            for layer in platform.layers {
                #expect(served.contains { $0.method == "GET" && $0.path == "/v2/team/ctr/blobs/\(layer.digest)" && $0.status == 200 }, "layer \(layer.digest)")
            }
            let bypassed = upstream.requests().dropFirst(seeding).filter { !$0.userAgent.hasPrefix("pier/") }
            #expect(bypassed.isEmpty, "containerd went to the upstream directly: \(bypassed)")
            // Only ?ns= can have routed the plain name to that upstream: there is no default upstream.
            #expect(try await Self.catalog(pier).contains("\(Self.prefix(upstream.host))/team/ctr"))
            let direct = try await pier.api.manifest("team/ctr", "v1?ns=\(upstream.host)")
            #expect(direct.status == 200)
            #expect(direct.header("OCI-Namespace") == upstream.host)
            #expect(try await pier.api.manifest("team/ctr", "v1").status == 404, "without ?ns= the name is not mirrored")
            try await Self.expectCleanStop(pier)
        }
    }

    @Test("containerd as docker.io's mirror in front of a Distribution-style single proxy block: ctr pulls docker.io/library/busybox through pier (?ns=docker.io)")
    func containerdDockerHubMirror() async throws {
        try await Teardown.with { teardown in
            // `proxy: {remoteurl: http://127.0.0.1:…}` and nothing else, as a Distribution mirror is configured.
            let (layout, pier) = try await Self.startBusyboxMirror(teardown, label: "mirror-ctr-hub")
            let image = layout["busybox"].manifests[0]
            let containerd = try await ContainerdDaemon.start()
            await teardown.add { await containerd.stop() }

            try await TemporaryDirectory.with("mirror-hub-hosts") { directory in
                let hostDirectory = directory.appending("docker.io")
                try FileManager.default.createDirectory(at: hostDirectory, withIntermediateDirectories: true)
                // Docker Hub itself is unreachable here: a 404 from pier would make containerd fall back to it and fail.
                let hosts = """
                    server = "https://registry-1.docker.io"

                    [host."http://\(pier.host)"]
                      capabilities = ["pull", "resolve"]

                    """
                try Data(hosts.utf8).write(to: hostDirectory.appending(path: "hosts.toml"))
                try await containerd.ctr(["images", "pull", "--hosts-dir", directory.path, "docker.io/library/busybox:latest"], also: [pier]).check()
            }

            let listing = try await containerd.ctr(["images", "ls"]).check().standardOutput
            #expect(listing.contains("docker.io/library/busybox:latest"), "ctr images ls:\n\(listing)")
            for blob in [image.config] + image.layers {
                let content = try await containerd.ctr(["content", "get", blob.digest]).check()
                #expect(content.standardOutputData == (try layout.blob(blob.digest)), "blob \(blob)")
            }
            let served = pier.accessLog().filter { $0.userAgent.contains("containerd") && $0.path.hasPrefix("/v2/library/busybox/") }
            #expect(served.contains { $0.path == "/v2/library/busybox/manifests/latest" && $0.status == 200 }, "pier served: \(served)")
            for layer in image.layers {
                #expect(served.contains { $0.method == "GET" && $0.path == "/v2/library/busybox/blobs/\(layer.digest)" && $0.status == 200 })
            }
            // ?ns=docker.io, the docker.io/ prefix and Docker's plain name are one cache.
            #expect(try await Self.catalog(pier) == ["docker.io/library/busybox"])
            let byPrefix = try await pier.api.manifest("docker.io/library/busybox", "latest")
            #expect(byPrefix.status == 200 && byPrefix.header("OCI-Namespace") == "docker.io")
            try await Self.expectCleanStop(pier)
        }
    }

    @Test("Docker Engine with registry-mirrors pulls and runs docker.io/library/busybox from pier's default upstream")
    func dockerRegistryMirror() async throws {
        try await Teardown.with { teardown in
            let (layout, pier) = try await Self.startBusyboxMirror(teardown, label: "mirror-docker")
            let image = layout["busybox"].manifests[0]
            let docker = try await DockerDaemon.start(registryMirrors: ["http://\(pier.host)"])
            await teardown.add { await docker.stop() }

            try await docker.docker(["pull", "busybox"], also: [pier]).check()
            let inspected = try await docker.docker(["image", "inspect", "busybox"]).check()
            let object = try #require((try JSONSerialization.jsonObject(with: inspected.standardOutputData) as? [[String: Any]])?.first)
            #expect(object["Id"] as? String == image.config.digest)
            let greeting = try await docker.docker(["run", "--rm", "--network", "none", "busybox"]).check()
            #expect(greeting.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == TestImages.busyboxGreeting)
            let echo = try await docker.docker(["run", "--rm", "--network", "none", "busybox", "/bin/busybox", "echo", "ok"]).check()
            #expect(echo.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")

            let served = pier.accessLog().filter { $0.userAgent.hasPrefix("docker/") }
            #expect(served.contains { $0.path == "/v2/library/busybox/manifests/latest" && $0.status == 200 }, "pier served: \(served)")
            for layer in image.layers {
                #expect(served.contains { $0.method == "GET" && $0.path == "/v2/library/busybox/blobs/\(layer.digest)" && $0.status == 200 })
            }
            try await Self.expectCleanStop(pier)
        }
    }

    @Test("podman with a registries.conf mirror pulls docker.io/library/busybox from pier's default upstream")
    func podmanRegistriesMirror() async throws {
        try await Teardown.with { teardown in
            let (layout, pier) = try await Self.startBusyboxMirror(teardown, label: "mirror-podman")
            let image = layout["busybox"].manifests[0]
            try await Podman.with(pier) { podman in
                let configuration = podman.directory.appending("registries.conf")
                let text = """
                    unqualified-search-registries = []

                    [[registry]]
                    prefix = "docker.io"
                    location = "docker.io"

                    [[registry.mirror]]
                    location = "\(pier.host)"
                    insecure = true

                    """
                try Data(text.utf8).write(to: configuration)
                try await podman.run(["pull", "docker.io/library/busybox:latest"], environment: ["CONTAINERS_REGISTRIES_CONF": configuration.path]).check()
                let inspected = try await podman.inspect("docker.io/library/busybox:latest")
                #expect("sha256:" + (inspected["Id"] as? String ?? "") == image.config.digest)
            }
            let served = pier.accessLog().filter { $0.path.hasPrefix("/v2/library/busybox/") }
            #expect(served.contains { $0.path == "/v2/library/busybox/manifests/latest" && $0.status == 200 }, "pier served: \(served)")
            for layer in image.layers {
                #expect(served.contains { $0.method == "GET" && $0.path == "/v2/library/busybox/blobs/\(layer.digest)" && $0.status == 200 })
            }
            try await Self.expectCleanStop(pier)
        }
    }

    @Test("a chain client → pier B → pier A → reference: two concurrent pulls through B, each hop fetches each manifest and blob once")
    func chain() async throws {
        try await Teardown.with { teardown in
            let layout = try await TestImages.shared.oci()
            let image = layout["multi"]
            let upstream = try await Self.startReference(teardown)
            try await LayoutPusher.push(layout, tag: "multi", to: upstream.api, repository: "chain/app", as: "v1")
            let seeding = upstream.requests().count
            let pierA = try await Self.startPier(teardown, "mirror-a", Self.config(defaultUpstream: upstream.host))
            let pierB = try await Self.startPier(teardown, "mirror-b", Self.config(defaultUpstream: pierA.host))
            let skopeo = try Skopeo(pier: pierB)

            try await TemporaryDirectory.with("mirror-chain") { directory in
                let outputs = (0..<3).map { directory.appending("out-\($0)") }
                async let first = skopeo.copy(skopeo.docker("chain/app", "v1"), "oci:\(outputs[0].path):v1", ["--all"])
                async let second = skopeo.copy(skopeo.docker("chain/app", "v1"), "oci:\(outputs[1].path):v1", ["--all"])
                _ = try await (first, second)
                // Once more, after both: all from B's cache.
                try await skopeo.copy(skopeo.docker("chain/app", "v1"), "oci:\(outputs[2].path):v1", ["--all"])
                for output in outputs { try Self.expectLayout(output, tag: "v1", holds: image, from: layout) }
            }

            let fromB = pierA.accessLog().filter { $0.method == "GET" }
            let fromA = upstream.requests().dropFirst(seeding).filter { $0.method == "GET" }
            for (hop, paths) in [("pier A", fromB.map(\.path)), ("reference", fromA.map(\.path))] {
                #expect(paths.filter { $0 == "/v2/chain/app/manifests/v1" }.count == 1, "\(hop): GETs of the tag")
                for manifest in image.manifests {
                    let count = paths.filter { $0 == "/v2/chain/app/manifests/\(manifest.manifest.digest)" }.count
                    #expect(count == 1, "\(hop): GETs of manifest \(manifest.manifest.digest)")
                    for blob in [manifest.config] + manifest.layers {
                        let count = paths.filter { $0 == "/v2/chain/app/blobs/\(blob.digest)" }.count
                        #expect(count == 1, "\(hop): GETs of blob \(blob.digest)")
                    }
                }
            }
            #expect(fromA.allSatisfy { $0.userAgent.hasPrefix("pier/") }, "only pier A talks to the reference")
            try await Self.expectCleanStop(pierB)
            try await Self.expectCleanStop(pierA)
        }
    }

    @Test("a token-authenticated upstream like Docker Hub: a private image pulls with the mirror's credentials, one token per repository scope; wrong credentials are a 502 DENIED")
    func tokenUpstream() async throws {
        try await Teardown.with { teardown in
            let layout = try await TestImages.shared.oci()
            let image = layout["multi"]
            let tokens = try await TokenServer.start(users: ["puller:s3cret"])
            await teardown.add { await tokens.stop() }
            let upstream = try await Self.startReference(teardown, authentication: tokens.authentication)
            try await Self.seed(layout, "multi", to: upstream, "private/app:v1", credentials: "puller:s3cret", diagnostics: [tokens])
            // The upstream really requires a token: an anonymous request is challenged.
            let challenge = try await upstream.api.send("GET", "/v2/private/app/manifests/v1")
            #expect(challenge.status == 401)
            #expect(challenge.header("WWW-Authenticate")?.hasPrefix("Bearer realm=\"\(tokens.realm)\"") == true)

            let pier = try await Self.startPier(
                teardown, "mirror-token", Self.config(mirrors: [.init(upstream.host, username: "puller", password: "s3cret")]))
            let name = "\(Self.prefix(upstream.host))/private/app"
            let before = tokens.requests().count
            try await TemporaryDirectory.with("mirror-token") { directory in
                let skopeo = try Skopeo(pier: pier)
                try await skopeo.copy(skopeo.docker(name, "v1"), "oci:\(directory.path)/out:v1", ["--all"])
                try Self.expectLayout(directory.appending("out"), tag: "v1", holds: image, from: layout)
            }
            let during = Array(tokens.requests().dropFirst(before))
            #expect(during.count == 1, "token requests for the whole pull: \(during)")
            #expect(during.first?.scope == "repository:private/app:pull")
            #expect(during.first?.user == "puller")
            #expect(during.first?.status == 200)
            let fetched = upstream.requests().filter { $0.method == "GET" && $0.path.hasPrefix("/v2/private/app/blobs/") && $0.status == 200 }
            #expect(Set(fetched.map(\.path)).count == fetched.count, "each blob fetched once: \(fetched)")
            #expect(fetched.count == Set(image.manifests.flatMap { [$0.config.digest] + $0.layers.map(\.digest) }).count)
            try await Self.expectCleanStop(pier)

            let refused = try await Self.startPier(
                teardown, "mirror-token-bad", Self.config(mirrors: [.init(upstream.host, username: "puller", password: "wrong")]))
            let response = try await refused.api.manifest(name, "v1")
            #expect(response.status == 502)
            #expect(Self.errorCode(response) == "DENIED")
            #expect(response.text.contains(upstream.host), "the error names the upstream: \(response.text)")
            try await Self.expectCleanStop(refused)
        }
    }

    @Test("an htpasswd upstream: right credentials pull through pier; wrong ones fail the client, and pier answers 502 DENIED naming the upstream")
    func htpasswdUpstream() async throws {
        try await Teardown.with { teardown in
            let layout = try await TestImages.shared.oci()
            let image = layout["v1"]
            let directory = try TemporaryDirectory("htpasswd")
            await teardown.add { directory.remove() }
            let htpasswd = try Tools.path("htpasswd", package: "apache2-utils")
            let entry = try await ProcessRunner.run(htpasswd, ["-Bbn", "puller", "s3cret"]).check()
            try entry.standardOutputData.write(to: directory.appending("htpasswd"))
            let upstream = try await Self.startReference(teardown, authentication: .htpasswd(path: directory.appending("htpasswd").path))
            try await Self.seed(layout, "v1", to: upstream, "private/basic:v1", credentials: "puller:s3cret")
            #expect(try await Self.curlStatus("http://\(upstream.host)/v2/private/basic/manifests/v1") == 401)
            let name = "\(Self.prefix(upstream.host))/private/basic"

            let pier = try await Self.startPier(
                teardown, "mirror-basic", Self.config(mirrors: [.init(upstream.host, username: "puller", password: "s3cret")]))
            let skopeo = try Skopeo(pier: pier)
            try await skopeo.copy(skopeo.docker(name, "v1"), "oci:\(directory.path)/out:v1")
            try Self.expectLayout(directory.appending("out"), tag: "v1", holds: image, from: layout)
            try await Self.expectCleanStop(pier)

            let refused = try await Self.startPier(
                teardown, "mirror-basic-bad", Self.config(mirrors: [.init(upstream.host, username: "puller", password: "wrong")]))
            let badSkopeo = try Skopeo(pier: refused)
            try await badSkopeo.run(["copy", "--src-tls-verify=false", badSkopeo.docker(name, "v1"), "oci:\(directory.path)/bad:v1"]).checkFailed()
            for path in ["/v2/\(name)/manifests/v1", "/v2/\(name)/blobs/\(image.manifests[0].layers[0].digest)"] {
                let response = try await refused.api.send("GET", path, headers: ["Accept": RegistryAPI.manifestAccept])
                #expect(response.status == 502, "GET \(path)")
                #expect(Self.errorCode(response) == "DENIED", "GET \(path): \(response.text)")
                #expect(response.text.contains(upstream.host), "GET \(path): the error names the upstream: \(response.text)")
            }
            #expect(try await Self.catalog(refused).isEmpty, "nothing is cached from a refused upstream")
            try await Self.expectCleanStop(refused)
        }
    }
}
