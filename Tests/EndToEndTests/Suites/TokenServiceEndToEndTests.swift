import Foundation
import Testing

/// Pier's own token service (`auth.token` with a signing key, users from htpasswd) and the access rules of
/// ``AccessRulesFixture``, driven by real clients: Docker Engine and podman log in, skopeo passes `--creds`, and
/// curl asks `/token` for a catalog token. Every client goes through the Bearer challenge → `/token` → token dance.
@Suite("Token service and access rules, end to end", .enabled(if: EndToEnd.isEnabled), .dockerDaemon, .serialized)
struct TokenServiceEndToEndTests {
    typealias Row = AccessRulesFixture.Row

    /// A pier with the token service, seeded by root through skopeo (itself a token client).
    func withSeededPier(_ label: String, _ body: (PierServer, Skopeo, ImageLayout) async throws -> Void) async throws {
        try await Teardown.with { teardown in
            let pier = try await AccessRulesFixture.startPier(teardown, label: label, tokenService: true)
            let skopeo = try Skopeo(pier: pier)
            let layout = try await TestImages.shared.oci()
            try await AccessRulesFixture.seed(skopeo, layout)
            try await body(pier, skopeo, layout)
            let log = pier.logTail(lines: 40)
            let outcome = await pier.stop()
            #expect(outcome == .terminated(0), "pier stopped with \(outcome):\n\(log)")
        }
    }

    @Test("skopeo --creds through the token service: each user's pulls and pushes are allowed or refused as the rules say")
    func skopeoTable() async throws {
        try await withSeededPier("token-table") { pier, skopeo, layout in
            let rows: [Row] = [
                Row("alice", .inspect, "team-a/app", true),
                Row("alice", .push, "team-a/app", true),
                Row("alice", .pull, "team-a/secret/app", true),
                Row("alice", .inspect, "team-b/app", false),
                Row("alice", .push, "team-b/app", false),
                Row("alice", .inspect, "other/app", true),
                Row("bob", .pull, "team-a/app", true),
                Row("bob", .push, "team-a/app", false),
                Row("bob", .inspect, "team-a/secret/app", false),
                Row("bob", .push, "team-b/app", true),
                Row("bob", .inspect, "team-b/deep/app", true),
                Row("bob", .push, "team-b/deep/app", false),
                Row("carol", .inspect, "team-a/app", false),
                Row("carol", .inspect, "team-b/app", false),
                Row("carol", .pull, "public/app", true),
                Row("carol", .push, "other/app", false),
                Row("root", .push, "other/app", true),
                Row("root", .push, "brand-new/app", true),
                Row(nil, .pull, "public/app", true),
                Row(nil, .inspect, "other/app", false),
                Row(nil, .push, "public/app", false),
                Row("alice", .inspect, "public/app", false, password: "wrong"),
            ]
            try await AccessRulesFixture.check(rows, skopeo, layout)
            // Every client request with credentials went through a token: /token was asked, and answered.
            let tokens = pier.accessLog().filter { $0.path == "/token" }
            #expect(tokens.contains { $0.status == 200 && $0.userAgent.contains("skopeo") }, "token requests: \(tokens)")
            #expect(tokens.contains { $0.status == 401 }, "the wrong password got 401 from /token: \(tokens)")
        }
    }

    @Test("docker login as alice pushes team-a/app; as bob pushing there is denied, but pull and a team-b push work; logged out only public/ pulls")
    func docker() async throws {
        try await withSeededPier("token-docker") { pier, _, _ in
            let docker = try DockerDaemon.required()
            let layout = try await TestImages.shared.busybox()
            let local = "pier-e2e/token-busybox:latest"
            let teamA = "\(pier.host)/team-a/app:docker", teamB = "\(pier.host)/team-b/app:docker"
            try await TemporaryDirectory.with("docker-load") { directory in
                let archive = directory.appending("busybox.tar")
                try DockerArchive.write(layout, tag: "busybox", repositoryTag: local, to: archive)
                try await docker.docker(["load", "-i", archive.path]).check()
            }
            try await docker.docker(["tag", local, teamA]).check()
            try await docker.docker(["tag", local, teamB]).check()
            let wrong = try await docker.docker(["login", "-u", "alice", "-p", "wrong", pier.host], also: [pier])
            #expect(!wrong.succeeded, "docker login with a wrong password:\n\(wrong.summary)")

            try await docker.docker(["login", "-u", "alice", "-p", AccessRulesFixture.passwords["alice"] ?? "", pier.host], also: [pier]).check()
            try await docker.docker(["push", teamA], also: [pier]).check()
            try await docker.docker(["rmi", teamA]).check()
            try await docker.docker(["pull", teamA], also: [pier]).check()

            try await docker.docker(["login", "-u", "bob", "-p", AccessRulesFixture.passwords["bob"] ?? "", pier.host], also: [pier]).check()
            try await docker.docker(["tag", local, "\(pier.host)/team-a/app:bob"]).check()
            let denied = try await docker.docker(["push", "\(pier.host)/team-a/app:bob"], also: [pier])
            #expect(!denied.succeeded, "bob pushed to team-a/app:\n\(denied.summary)")
            let message = (denied.standardOutput + denied.standardError).lowercased()
            #expect(message.contains("denied") || message.contains("unauthorized"), "docker push said:\n\(denied.summary)")
            try await docker.docker(["rmi", teamA]).check()
            try await docker.docker(["pull", teamA], also: [pier]).check()
            try await docker.docker(["push", teamB], also: [pier]).check()

            // What landed, as root sees it: alice's and bob's allowed pushes, not bob's refused one.
            let root = ["-u", AccessRulesFixture.credentials("root")]
            let teamATags = try await AccessRulesFixture.curl(root + ["http://\(pier.host)/v2/team-a/app/tags/list"]).jsonObject()["tags"] as? [String]
            #expect(teamATags?.sorted() == ["docker", "v1"])
            let teamBTags = try await AccessRulesFixture.curl(root + ["http://\(pier.host)/v2/team-b/app/tags/list"]).jsonObject()["tags"] as? [String]
            #expect(teamBTags?.sorted() == ["docker", "v1"])

            try await docker.docker(["logout", pier.host]).check()
            try await docker.docker(["pull", "\(pier.host)/public/app:v1"], also: [pier]).check()
            try await docker.docker(["rmi", teamA]).check()
            let refused = try await docker.docker(["pull", teamA], also: [pier])
            #expect(!refused.succeeded, "an anonymous pull of team-a/app:\n\(refused.summary)")
        }
    }

    @Test("podman login as carol: pulls other/app, is refused team-a/app; a wrong password does not log in")
    func podman() async throws {
        try await withSeededPier("token-podman") { pier, _, layout in
            try await Podman.with(pier) { podman in
                let authfile = podman.directory.appending("auth.json").path
                let wrong = try await podman.run(["login", "--tls-verify=false", "--authfile", authfile, "-u", "carol", "-p", "wrong", pier.host])
                #expect(!wrong.succeeded, "podman login with a wrong password:\n\(wrong.summary)")
                try await podman.run([
                    "login", "--tls-verify=false", "--authfile", authfile, "-u", "carol", "-p", AccessRulesFixture.passwords["carol"] ?? "", pier.host,
                ]).check()
                let allowed = "\(pier.host)/other/app:v1"
                try await podman.run(["pull", "--tls-verify=false", "--authfile", authfile, allowed]).check()
                #expect(try await podman.inspect(allowed)["Digest"] as? String == layout["v1"].descriptor.digest)
                let refused = try await podman.run(["pull", "--tls-verify=false", "--authfile", authfile, "\(pier.host)/team-a/app:v1"])
                #expect(!refused.succeeded, "carol pulled team-a/app:\n\(refused.summary)")
                // The same image name with alice's credentials instead: the refusal was carol's, not the image's.
                try await podman.run([
                    "pull", "--tls-verify=false", "--creds", AccessRulesFixture.credentials("alice"), "\(pier.host)/team-a/app:v1",
                ]).check()
            }
        }
    }

    @Test("a catalog token from GET /token lists only what its user may pull; anonymous callers see only public/")
    func catalog() async throws {
        try await withSeededPier("token-catalog") { pier, _, _ in
            let query = "service=\(AccessRulesFixture.service)&scope=registry:catalog:*"
            for user in ["bob", "carol", "root", nil] as [String?] {
                let credentials = user.map { ["-u", AccessRulesFixture.credentials($0)] } ?? []
                let answer = try await AccessRulesFixture.curl(credentials + ["-g", "http://\(pier.host)/token?\(query)"])
                #expect(answer.status == 200, "/token for \(user ?? "anonymous"): \(answer.text)")
                let token = try #require(try answer.jsonObject()["token"] as? String)
                let catalog = try await AccessRulesFixture.curl(["-H", "Authorization: Bearer \(token)", "http://\(pier.host)/v2/_catalog"])
                #expect(catalog.status == 200, "catalog for \(user ?? "anonymous"): \(catalog.text)")
                #expect(try AccessRulesFixture.catalogRepositories(in: catalog) == AccessRulesFixture.pullable(by: user), "catalog of \(user ?? "anonymous")")
            }
            // A token for something else does not open the catalog: insufficient scope.
            let pullToken = try await AccessRulesFixture.curl([
                "-u", AccessRulesFixture.credentials("bob"), "http://\(pier.host)/token?service=\(AccessRulesFixture.service)&scope=repository:team-a/app:pull",
            ])
            let token = try #require(try pullToken.jsonObject()["token"] as? String)
            let narrow = try await AccessRulesFixture.curl(["-H", "Authorization: Bearer \(token)", "http://\(pier.host)/v2/_catalog"])
            #expect(narrow.status == 401)
            #expect(narrow.header("www-authenticate")?.contains(#"error="insufficient_scope""#) == true, "\(narrow.headers)")
            // The token is good for what it grants.
            let tags = try await AccessRulesFixture.curl(["-H", "Authorization: Bearer \(token)", "http://\(pier.host)/v2/team-a/app/tags/list"])
            #expect(tags.status == 200, "\(tags.text)")
        }
    }
}
