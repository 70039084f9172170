import Foundation
import Testing

/// The access rules of ``AccessRulesFixture`` with htpasswd users and no token service: clients send Basic
/// credentials on every request. A user refused gets 403 `DENIED`, an anonymous client a 401 Basic challenge.
@Suite("Access rules with Basic credentials, end to end", .enabled(if: EndToEnd.isEnabled), .serialized)
struct AccessRulesEndToEndTests {
    typealias Row = AccessRulesFixture.Row

    @Test("skopeo --creds: pulls and pushes allowed or refused per user as the rules say; the catalog is filtered")
    func skopeoTable() async throws {
        try await Teardown.with { teardown in
            let pier = try await AccessRulesFixture.startPier(teardown, label: "access-basic", tokenService: false)
            let skopeo = try Skopeo(pier: pier)
            let layout = try await TestImages.shared.oci()
            try await AccessRulesFixture.seed(skopeo, layout)
            let rows: [Row] = [
                Row("alice", .push, "team-a/app", true),
                Row("alice", .inspect, "team-b/app", false),
                Row("bob", .pull, "team-a/app", true),
                Row("bob", .push, "team-a/app", false),
                Row("bob", .inspect, "team-a/secret/app", false),
                Row("bob", .push, "team-b/app", true),
                Row("carol", .inspect, "team-a/app", false),
                Row("carol", .inspect, "other/app", true),
                Row(nil, .inspect, "public/app", true),
                Row(nil, .inspect, "other/app", false),
                Row(nil, .push, "public/app", false),
            ]
            try await AccessRulesFixture.check(rows, skopeo, layout)

            // The wire: a user refused gets 403 DENIED, an anonymous client the Basic challenge.
            let denied = try await AccessRulesFixture.curl(["-u", AccessRulesFixture.credentials("carol"), "http://\(pier.host)/v2/team-a/app/manifests/v1"])
            #expect(denied.status == 403)
            let errors = try denied.jsonObject()["errors"] as? [[String: Any]]
            #expect(errors?.first?["code"] as? String == "DENIED", "\(denied.text)")
            let anonymous = try await AccessRulesFixture.curl(["http://\(pier.host)/v2/team-a/app/manifests/v1"])
            #expect(anonymous.status == 401)
            #expect(anonymous.header("www-authenticate") == #"Basic realm="Pier e2e""#)

            for user in ["alice", "bob", "carol", "root", nil] as [String?] {
                let credentials = user.map { ["-u", AccessRulesFixture.credentials($0)] } ?? []
                let catalog = try await AccessRulesFixture.curl(credentials + ["http://\(pier.host)/v2/_catalog"])
                #expect(try AccessRulesFixture.catalogRepositories(in: catalog) == AccessRulesFixture.pullable(by: user), "catalog of \(user ?? "anonymous")")
            }

            let log = pier.logTail(lines: 40)
            let outcome = await pier.stop()
            #expect(outcome == .terminated(0), "pier stopped with \(outcome):\n\(log)")
        }
    }
}
