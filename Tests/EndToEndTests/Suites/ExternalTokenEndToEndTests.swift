import Foundation
import Testing

/// Pier as a resource server for an external, Docker-Hub-like token service (``TokenServer``: RS256 tokens with the
/// signing certificate in `x5c`), configured as Distribution is: `auth.token.{realm, service, issuer, rootcertbundle}`.
/// The token server's policy decides: its users pull and push everywhere, anonymous clients pull except `private/`.
@Suite("External token service, end to end", .enabled(if: EndToEnd.isEnabled), .serialized)
struct ExternalTokenEndToEndTests {
    static let user = "tok", password = "tok-secret-9"

    @Test("skopeo pushes and pulls with the token server's credentials, pulls anonymously except private/, and wrong credentials are refused")
    func skopeo() async throws {
        try await Teardown.with { teardown in
            let tokenServer = try await TokenServer.start(users: ["\(Self.user):\(Self.password)"])
            await teardown.add { await tokenServer.stop() }
            let config = """
                auth:
                  token:
                    realm: \(tokenServer.realm)
                    service: \(TokenServer.service)
                    issuer: \(TokenServer.issuer)
                    rootcertbundle: \(tokenServer.certificate)

                """
            let pier = try await PierServer.start(label: "external-token", config: config)
            await teardown.add { await pier.stop() }
            let skopeo = try Skopeo(pier: pier)
            let layout = try await TestImages.shared.oci()
            let manifest = try layout.blob(layout["v1"].descriptor.digest)
            let creds = "\(Self.user):\(Self.password)"

            // Without a token: the exact challenge, naming the realm, the service and the scope this request needs.
            let challenged = try await AccessRulesFixture.curl(["http://\(pier.host)/v2/team/app/manifests/v1"])
            #expect(challenged.status == 401)
            #expect(
                challenged.header("www-authenticate")
                    == #"Bearer realm="\#(tokenServer.realm)",service="\#(TokenServer.service)",scope="repository:team/app:pull""#)
            let upload = try await AccessRulesFixture.curl(["-X", "POST", "http://\(pier.host)/v2/team/app/blobs/uploads/"])
            #expect(upload.status == 401)
            #expect(
                upload.header("www-authenticate")
                    == #"Bearer realm="\#(tokenServer.realm)",service="\#(TokenServer.service)",scope="repository:team/app:pull,push""#)

            // Nobody but the token server's users may push.
            try await skopeo.run(["copy", "--dest-tls-verify=false", "--dest-no-creds", layout.ociReference("v1"), skopeo.docker("team/app", "v1")])
                .checkFailed()
            try await skopeo.run([
                "copy", "--dest-tls-verify=false", "--dest-creds", "\(Self.user):wrong", layout.ociReference("v1"), skopeo.docker("team/app", "v1"),
            ]).checkFailed()
            try await skopeo.push(layout, "v1", to: "team/app", ["--dest-creds", creds])
            try await skopeo.push(layout, "v1", to: "private/app", ["--dest-creds", creds])

            // Pulls: with credentials everywhere, anonymously except private/, never with a wrong password.
            for repository in ["team/app", "private/app"] {
                let raw = try await skopeo.run(["inspect", "--raw", "--tls-verify=false", "--creds", creds, skopeo.docker(repository, "v1")]).check()
                #expect(raw.standardOutputData == manifest, "\(repository) with credentials")
            }
            let anonymous = try await skopeo.run(["inspect", "--raw", "--tls-verify=false", "--no-creds", skopeo.docker("team/app", "v1")]).check()
            #expect(anonymous.standardOutputData == manifest)
            try await TemporaryDirectory.with("external-pull") { directory in
                try await skopeo.copy(skopeo.docker("team/app", "v1"), "oci:\(directory.appending("out").path):v1", ["--src-no-creds"])
            }
            try await skopeo.run(["inspect", "--raw", "--tls-verify=false", "--no-creds", skopeo.docker("private/app", "v1")]).checkFailed()
            try await skopeo.run([
                "inspect", "--raw", "--tls-verify=false", "--creds", "\(Self.user):wrong", skopeo.docker("team/app", "v1"),
            ]).checkFailed()

            // The token server saw the clients: granted pushes to its user, anonymous pulls, the refused password.
            let requests = tokenServer.requests()
            #expect(requests.contains { $0.user == Self.user && $0.status == 200 && $0.scope.contains("repository:private/app:pull,push") }, "\(requests)")
            #expect(requests.contains { $0.user.isEmpty && $0.status == 200 && $0.scope == "repository:private/app:pull" }, "\(requests)")
            #expect(requests.contains { $0.status == 401 }, "\(requests)")

            // A token for one repository does not open another (the token server grants exactly what is asked).
            let answer = try await AccessRulesFixture.curl([
                "-u", creds, "\(tokenServer.realm)?service=\(TokenServer.service)&scope=repository:team/app:pull",
            ])
            let token = try #require(try answer.jsonObject()["token"] as? String)
            let granted = try await AccessRulesFixture.curl(["-H", "Authorization: Bearer \(token)", "http://\(pier.host)/v2/team/app/tags/list"])
            #expect(granted.status == 200, "\(granted.text)")
            let other = try await AccessRulesFixture.curl(["-H", "Authorization: Bearer \(token)", "http://\(pier.host)/v2/private/app/tags/list"])
            #expect(other.status == 401)
            #expect(other.header("www-authenticate")?.contains(#"error="insufficient_scope""#) == true, "\(other.headers)")
            // A token Pier cannot trust (signed by nobody it knows) is refused as invalid.
            let forged = try await AccessRulesFixture.curl(["-H", "Authorization: Bearer \(Self.forge(token))", "http://\(pier.host)/v2/team/app/tags/list"])
            #expect(forged.status == 401)
            #expect(forged.header("www-authenticate")?.contains(#"error="invalid_token""#) == true, "\(forged.headers)")

            let log = pier.logTail(lines: 40)
            let outcome = await pier.stop()
            #expect(outcome == .terminated(0), "pier stopped with \(outcome):\n\(log)")
        }
    }

    /// `token` with its payload swapped for one granting push everywhere, keeping the original signature.
    static func forge(_ token: String) -> String {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return token }
        let claims = #"{"iss":"\#(TokenServer.issuer)","sub":"tok","aud":"\#(TokenServer.service)","exp":4102444800,"nbf":0,"iat":0,"#
            + #""access":[{"type":"repository","name":"team/app","actions":["pull","push"]}]}"#
        let payload = Data(claims.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "\(parts[0]).\(payload).\(parts[2])"
    }
}
