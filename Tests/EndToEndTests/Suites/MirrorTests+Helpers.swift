import Foundation
import Testing

/// The configuration, start-up and checking helpers of ``MirrorTests``.
extension MirrorTests {
    /// One entry of pier's `mirrors:` map.
    struct MirrorEntry {
        var host: String
        var username: String?
        var password: String?

        init(_ host: String, username: String? = nil, password: String? = nil) {
            self.host = host
            self.username = username
            self.password = password
        }
    }

    /// A pier `config.yml`: `proxy.remoteurl` naming `defaultUpstream`, and `mirrors` (all over plain HTTP).
    static func config(defaultUpstream: String? = nil, mirrors: [MirrorEntry] = [], revalidate: String? = nil) -> String {
        var text = "version: 0.1\n"
        if defaultUpstream != nil || revalidate != nil {
            text += "proxy:\n"
            if let defaultUpstream { text += "  remoteurl: http://\(defaultUpstream)\n" }
            if let revalidate { text += "  revalidate: \(revalidate)\n" }
        }
        if !mirrors.isEmpty {
            text += "mirrors:\n"
            for mirror in mirrors {
                text += "  \(mirror.host):\n    remoteurl: http://\(mirror.host)\n"
                if let username = mirror.username { text += "    username: \(username)\n" }
                if let password = mirror.password { text += "    password: \(password)\n" }
            }
        }
        return text
    }

    /// The first name component under which pier serves a mirrored host (`127.0.0.1:5000` → `127.0.0.1_5000`).
    static func prefix(_ host: String) -> String { host.replacingOccurrences(of: ":", with: "_") }

    static func startReference(_ teardown: Teardown, authentication: ReferenceRegistry.Authentication? = nil) async throws -> ReferenceRegistry {
        let registry = try await ReferenceRegistry.start(authentication: authentication)
        await teardown.add { await registry.stop() }
        return registry
    }

    static func startPier(_ teardown: Teardown, _ label: String, _ config: String) async throws -> PierServer {
        let pier = try await PierServer.start(label: label, config: config)
        await teardown.add { await pier.stop() }
        return pier
    }

    /// A reference registry holding the runnable busybox image as `library/busybox:latest`, and a pier whose
    /// default upstream it is (as Docker's `registry-mirrors` and a docker.io mirror in registries.conf need).
    static func startBusyboxMirror(_ teardown: Teardown, label: String) async throws -> (ImageLayout, PierServer) {
        let layout = try await TestImages.shared.busybox()
        let upstream = try await startReference(teardown)
        try await LayoutPusher.push(layout, tag: "busybox", to: upstream.api, repository: "library/busybox", as: "latest")
        let pier = try await startPier(teardown, label, config(defaultUpstream: upstream.host))
        return (layout, pier)
    }

    /// Pushes a generated image to a reference registry that needs credentials, with skopeo.
    static func seed(
        _ layout: ImageLayout, _ tag: String, to registry: ReferenceRegistry, _ target: String, credentials: String,
        diagnostics: [any DiagnosticLog] = []
    ) async throws {
        let skopeo = try Tools.path("skopeo", package: "skopeo")
        let all = layout[tag].manifests.count > 1 ? ["--all"] : []
        try await ProcessRunner.run(
            skopeo,
            ["copy", "--dest-tls-verify=false", "--dest-creds", credentials] + all + [layout.ociReference(tag), "docker://\(registry.host)/\(target)"],
            timeout: .seconds(300), diagnostics: diagnostics + [registry]
        ).check()
    }

    /// Checks that the `oci:` layout skopeo wrote at `directory` holds `image` (tagged `tag`) byte for byte.
    static func expectLayout(_ directory: URL, tag: String, holds image: GeneratedImage, from layout: ImageLayout) throws {
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appending(path: "index.json"))) as? [String: Any]
        let entries = try #require(index?["manifests"] as? [[String: Any]])
        let entry = entries.first { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == tag }
        #expect(entry?["digest"] as? String == image.descriptor.digest, "\(directory.path): tag \(tag)")
        for blob in image.allBlobs {
            let file = directory.appending(path: "blobs/sha256/\(blob.hex)")
            let data = try #require(try? Data(contentsOf: file), "\(directory.path) lacks \(blob)")
            #expect(data == (try layout.blob(blob.digest)), "\(directory.path): \(blob)")
        }
    }

    /// The tags `skopeo list-tags` prints for `repository` at skopeo's registry, sorted.
    static func listTags(_ skopeo: Skopeo, _ repository: String) async throws -> [String] {
        let result = try await skopeo.run(["list-tags", "--tls-verify=false", "docker://\(skopeo.pier.host)/\(repository)"]).check()
        let object = try JSONSerialization.jsonObject(with: result.standardOutputData) as? [String: Any]
        return (object?["Tags"] as? [String] ?? []).sorted()
    }

    /// The repositories of pier's first catalog page.
    static func catalog(_ pier: PierServer) async throws -> [String] {
        let response = try await pier.api.send("GET", "/v2/_catalog?n=1000")
        #expect(response.status == 200)
        return try response.jsonObject()["repositories"] as? [String] ?? []
    }

    /// The status of a GET of `url` as curl sees it: for servers that answer with a Basic challenge, which
    /// URLSession on Linux never returns (see ``ReferenceRegistry/start(proxying:authentication:)``).
    static func curlStatus(_ url: String) async throws -> Int? {
        let curl = try Tools.path("curl", package: "curl")
        let result = try await ProcessRunner.run(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", url], timeout: .seconds(60)).check()
        return Int(result.standardOutput)
    }

    /// The `code` of the first error of an OCI error body.
    static func errorCode(_ response: HTTPResponse) -> String? {
        ((try? response.jsonObject())?["errors"] as? [[String: Any]])?.first?["code"] as? String
    }

    /// Stops `pier` and checks that it had survived the test and exits 0 on SIGTERM.
    static func expectCleanStop(_ pier: PierServer) async throws {
        let log = pier.logTail(lines: 40)
        let outcome = await pier.stop()
        #expect(outcome == .terminated(0), "pier on \(pier.host) stopped with \(outcome):\n\(log)")
    }
}
