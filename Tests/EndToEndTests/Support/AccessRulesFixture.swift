import Foundation
import Testing

/// The users, access rules and repositories that the access-rule suites share (``TokenServiceEndToEndTests`` with
/// Pier's own token service, ``AccessRulesEndToEndTests`` with Basic credentials), and a table runner that drives
/// skopeo through (user, repository, action) rows.
enum AccessRulesFixture {
    /// htpasswd users and their passwords: bob is in `devs`, root is an admin, carol is only signed in.
    static let passwords = ["alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3", "root": "root-pw-4"]

    /// The token service's `service` and `issuer` (Pier's own, in ``TokenServiceEndToEndTests``).
    static let service = "pier-e2e-own"
    static let issuer = "pier-e2e-own-issuer"

    /// The rules of the task plus `team-a/secret/**`, which is more specific than `team-a/**` and so takes `devs`'
    /// pull away: it gives bob a repository he may not see.
    static let accessYAML = """
        access:
          groups:
            devs: [bob]
          admins: [root]
          repositories:
            "team-a/**":
              users: {alice: [pull, push, delete]}
              groups: {devs: [pull]}
            "team-a/secret/**":
              users: {alice: [pull, push]}
            "team-b/*":
              groups: {devs: [pull, push]}
            "public/**":
              anonymous: [pull]
            "**":
              authenticated: [pull]

        """

    /// The repositories root seeds with the `v1` image before a test.
    static let repositories = ["team-a/app", "team-a/secret/app", "team-b/app", "team-b/deep/app", "public/app", "other/app"]

    /// What each user may pull under the rules: the catalog they should see.
    static func pullable(by user: String?) -> [String] {
        switch user {
        case "root": return repositories.sorted()
        case "alice": return ["other/app", "public/app", "team-a/app", "team-a/secret/app", "team-b/deep/app"]
        case "bob": return ["other/app", "public/app", "team-a/app", "team-b/app", "team-b/deep/app"]
        case "carol": return ["other/app", "public/app", "team-b/deep/app"]
        default: return ["public/app"]
        }
    }

    /// `user:password` for skopeo's `--creds` and curl's `-u`.
    static func credentials(_ user: String) -> String { "\(user):\(passwords[user] ?? "")" }

    /// Starts pier with an htpasswd file of ``passwords`` (written by `htpasswd -B`), the access rules, and — when
    /// `tokenService` — Pier's own token service with a signing key it creates. The server is stopped by `teardown`.
    static func startPier(_ teardown: Teardown, label: String, tokenService: Bool) async throws -> PierServer {
        let htpasswd = try Tools.path("htpasswd", package: "apache2-utils")
        let directory = try TemporaryDirectory("access-\(label)")
        await teardown.add { directory.remove() }
        let file = directory.appending("users").path
        for (index, user) in passwords.keys.sorted().enumerated() {
            let create = index == 0 ? ["-c"] : []
            try await ProcessRunner.run(htpasswd, ["-B", "-b"] + create + [file, user, passwords[user] ?? ""], timeout: .seconds(30)).check()
        }
        var config = "auth:\n  htpasswd:\n    realm: Pier e2e\n    path: \(file)\n"
        if tokenService {
            // The key's directory does not exist yet: pier creates the key (and the directory) on first start.
            let key = directory.appending("keys/token.pem").path
            config += "  token:\n    service: \(service)\n    issuer: \(issuer)\n    signingkey: \(key)\n    expiration: 5m\n"
        }
        let pier = try await PierServer.start(label: label, config: config + accessYAML)
        await teardown.add { await pier.stop() }
        return pier
    }

    /// root pushes the `v1` image of `layout` to every repository of ``repositories``.
    static func seed(_ skopeo: Skopeo, _ layout: ImageLayout) async throws {
        for repository in repositories {
            try await skopeo.push(layout, "v1", to: repository, ["--dest-creds", credentials("root")])
        }
    }

    /// A client operation through skopeo.
    enum Action: String, Sendable {
        /// `skopeo inspect --raw`: the manifest only.
        case inspect
        /// `skopeo copy` from the registry into an OCI layout: manifest, config and layers.
        case pull
        /// `skopeo copy` from the generated layout to a new tag.
        case push
    }

    /// One row of a table: `user` (nil: anonymous) doing `action` on `repository` is `allowed` or not.
    struct Row: Sendable, CustomStringConvertible {
        var user: String?
        var repository: String
        var action: Action
        var allowed: Bool
        /// A password to use instead of the user's own (a wrong one).
        var password: String?

        init(_ user: String?, _ action: Action, _ repository: String, _ allowed: Bool, password: String? = nil) {
            self.user = user
            self.action = action
            self.repository = repository
            self.allowed = allowed
            self.password = password
        }

        var credentials: String? {
            guard let user else { return nil }
            return password.map { "\(user):\($0)" } ?? AccessRulesFixture.credentials(user)
        }

        var description: String {
            let who = (user ?? "anonymous") + (password == nil ? "" : " (wrong password)")
            return "\(who) \(action.rawValue) \(repository) → \(allowed ? "allowed" : "refused")"
        }
    }

    /// Runs every row with skopeo against the seeded registry and expects each to succeed or fail as the row says.
    /// Allowed pulls must return the seeded bytes; an allowed push must show up as a tag (checked by root).
    static func check(_ rows: [Row], _ skopeo: Skopeo, _ layout: ImageLayout) async throws {
        let image = layout["v1"]
        let manifest = try layout.blob(image.descriptor.digest)
        try await TemporaryDirectory.with("access-table") { directory in
            for (index, row) in rows.enumerated() {
                let result: ProcessResult
                switch row.action {
                case .inspect:
                    let options = row.credentials.map { ["--creds", $0] } ?? ["--no-creds"]
                    result = try await skopeo.run(["inspect", "--raw", "--tls-verify=false"] + options + [skopeo.docker(row.repository, "v1")])
                    if row.allowed, result.succeeded {
                        #expect(result.standardOutputData == manifest, "\(row): the manifest bytes differ")
                    }
                case .pull:
                    let options = row.credentials.map { ["--src-creds", $0] } ?? ["--src-no-creds"]
                    let output = directory.appending("pull-\(index)")
                    result = try await skopeo.run(
                        ["copy", "--src-tls-verify=false"] + options + [skopeo.docker(row.repository, "v1"), "oci:\(output.path):v1"])
                    if row.allowed, result.succeeded {
                        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appending(path: "index.json"))) as? [String: Any]
                        let digest = ((written?["manifests"] as? [[String: Any]])?.first)?["digest"] as? String
                        #expect(digest == image.descriptor.digest, "\(row): pulled \(digest ?? "nothing")")
                    }
                case .push:
                    let options = row.credentials.map { ["--dest-creds", $0] } ?? ["--dest-no-creds"]
                    result = try await skopeo.run(
                        ["copy", "--dest-tls-verify=false"] + options + [layout.ociReference("v1"), skopeo.docker(row.repository, "row\(index)")])
                    // Whether the tag exists, seen by the admin: a refused push must leave nothing behind.
                    let tagged = try await skopeo.run([
                        "inspect", "--raw", "--tls-verify=false", "--creds", credentials("root"), skopeo.docker(row.repository, "row\(index)"),
                    ])
                    #expect(tagged.succeeded == row.allowed, "\(row): tag row\(index) \(tagged.succeeded ? "exists" : "is missing")")
                }
                #expect(result.succeeded == row.allowed, "\(row)\n\(result.summary)")
            }
        }
    }

    /// `curl -s -i` with `arguments`: the status, the header fields (lower-cased names) and the body of the last
    /// response. curl, not URLSession: on Linux URLSession hangs on a Basic challenge.
    static func curl(_ arguments: [String]) async throws -> HTTPResponse {
        let curl = try Tools.path("curl", package: "curl")
        let result = try await ProcessRunner.run(curl, ["-s", "-i", "--max-time", "60"] + arguments, timeout: .seconds(90)).check()
        let text = result.standardOutput
        guard let end = text.range(of: "\r\n\r\n") else { throw CommandFailure("curl printed no response head:\n\(result.summary)") }
        let lines = text[..<end.lowerBound].split(separator: "\r\n")
        guard let statusLine = lines.first, let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw CommandFailure("curl printed no status line:\n\(result.summary)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResponse(status: status, headers: headers, body: Data(text[end.upperBound...].utf8))
    }

    /// The `repositories` of a `/v2/_catalog` answer.
    static func catalogRepositories(in response: HTTPResponse) throws -> [String] {
        try #require(try response.jsonObject()["repositories"] as? [String], "catalog: \(response.status) \(response.text)")
    }
}
