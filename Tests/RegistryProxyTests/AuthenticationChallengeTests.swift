import Testing

@testable import RegistryProxy

@Suite("WWW-Authenticate parsing")
struct AuthenticationChallengeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var header: String
        var expected: [AuthenticationChallenge]
        var testDescription: String { header }
    }

    static let cases: [Case] = [
        Case(
            header: #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
            expected: [
                .init(
                    scheme: "bearer",
                    parameters: [
                        "realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull",
                    ])
            ]),
        Case(
            header: #"BEARER Realm = "https://x/token" , Service=registry"#,
            expected: [.init(scheme: "bearer", parameters: ["realm": "https://x/token", "service": "registry"])]),
        Case(
            header: #"Bearer realm="a \"quoted\" realm\\",scope="repository:a:pull,push""#,
            expected: [.init(scheme: "bearer", parameters: ["realm": #"a "quoted" realm\"#, "scope": "repository:a:pull,push"])]),
        Case(
            header: #"Basic realm="registry", Bearer realm="https://t/token",service="s""#,
            expected: [
                .init(scheme: "basic", parameters: ["realm": "registry"]),
                .init(scheme: "bearer", parameters: ["realm": "https://t/token", "service": "s"]),
            ]),
        Case(header: "Basic", expected: [.init(scheme: "basic")]),
        Case(
            header: #"Negotiate, Basic realm="x""#,
            expected: [.init(scheme: "negotiate"), .init(scheme: "basic", parameters: ["realm": "x"])]),
        Case(header: "Basic dGVzdDp0ZXN0==, Bearer realm=\"r\"", expected: [.init(scheme: "basic"), .init(scheme: "bearer", parameters: ["realm": "r"])]),
        Case(header: #"Bearer realm="unterminated"#, expected: [.init(scheme: "bearer", parameters: ["realm": "unterminated"])]),
        Case(header: "", expected: []),
        Case(header: " , ,", expected: []),
        Case(header: #"Bearer realm="first",realm="second""#, expected: [.init(scheme: "bearer", parameters: ["realm": "first"])]),
    ]

    @Test("parses challenges: quoting, escapes, case, several challenges, hostile input", arguments: cases)
    func parses(_ testCase: Case) {
        #expect(AuthenticationChallenge.parse(testCase.header) == testCase.expected)
    }

    @Test("parses several header fields")
    func severalFields() {
        let challenges = AuthenticationChallenge.parse([#"Basic realm="a""#, #"Bearer realm="b""#])
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
    }
}
