import Foundation
import Testing

/// HTTPS with certificate verification on: skopeo with `--cert-dir` (CA, then CA plus client certificate under
/// `http.tls.clientcas`), and containerd's `ctr` with a `hosts.toml` naming the CA and client certificate.
/// Docker Engine is not used here: it treats 127.0.0.0/8 as insecure, so it would not verify anything.
@Suite("TLS: skopeo and ctr verifying pier's certificate", .enabled(if: EndToEnd.isEnabled))
struct TLSClientTests {
    @Test("skopeo pushes and pulls over HTTPS with verification on; without the CA it refuses pier's certificate")
    func skopeoVerified() async throws {
        try await TemporaryDirectory.with("tls-pki") { pki in
            try await TestCertificates.make(in: pki, clientCertificate: false)
            try await TestCertificates.withPier(label: "tls", pki, mutual: false) { pier in
                let skopeo = try Skopeo(pier: pier)
                let layout = try await TestImages.shared.oci()
                let image = layout["v1"]
                let certs = pki.appending("certs-ca").path
                try await skopeo.run(["copy", "--dest-cert-dir", certs, layout.ociReference("v1"), skopeo.docker("tls/img", "v1")]).check()
                #expect(try await skopeo.run(["inspect", "--raw", "--cert-dir", certs, skopeo.docker("tls/img", "v1")]).check()
                    .standardOutputData.sha256Digest == image.descriptor.digest)
                try await TemporaryDirectory.with("tls-pull") { output in
                    try await skopeo.run(["copy", "--src-cert-dir", certs, skopeo.docker("tls/img", "v1"), "oci:\(output.path):v1"]).check()
                    for blob in image.allBlobs {
                        #expect(try Data(contentsOf: output.appending("blobs/sha256/\(blob.hex)")) == (try layout.blob(blob.digest)))
                    }
                }
                let unverified = try await skopeo.run(["inspect", "--raw", skopeo.docker("tls/img", "v1")]).checkFailed()
                #expect(unverified.standardError.contains("certificate"), "\(unverified.summary)")
            }
        }
    }

    @Test("http.tls.clientcas: skopeo with client.cert/client.key pushes and pulls; without them it is refused")
    func skopeoMutual() async throws {
        try await TemporaryDirectory.with("tls-pki") { pki in
            try await TestCertificates.make(in: pki, clientCertificate: true)
            try await TestCertificates.withPier(label: "mtls", pki, mutual: true) { pier in
                let skopeo = try Skopeo(pier: pier)
                let layout = try await TestImages.shared.oci()
                let certs = pki.appending("certs-client").path
                try await skopeo.run(["copy", "--dest-cert-dir", certs, layout.ociReference("v1"), skopeo.docker("mtls/img", "v1")]).check()
                #expect(try await skopeo.run(["inspect", "--raw", "--cert-dir", certs, skopeo.docker("mtls/img", "v1")]).check()
                    .standardOutputData.sha256Digest == layout["v1"].descriptor.digest)
                try await skopeo.run(["inspect", "--raw", "--cert-dir", pki.appending("certs-ca").path, skopeo.docker("mtls/img", "v1")]).checkFailed()
            }
        }
    }

    @Test("ctr pulls over HTTPS with a hosts.toml naming the CA and the client certificate")
    func containerdHostsToml() async throws {
        try await TemporaryDirectory.with("tls-pki") { pki in
            try await TestCertificates.make(in: pki, clientCertificate: true)
            try await TestCertificates.withPier(label: "ctrtls", pki, mutual: true) { pier in
                let layout = try await TestImages.shared.oci()
                let image = layout["multi"]
                try await Skopeo(pier: pier).run([
                    "copy", "--all", "--dest-cert-dir", pki.appending("certs-client").path, layout.ociReference("multi"),
                    "docker://\(pier.host)/ctrtls/multi:v1",
                ]).check()
                let hosts = pki.appending("hosts.d/\(pier.host)")
                try FileManager.default.createDirectory(at: hosts, withIntermediateDirectories: true)
                let toml = """
                    server = "https://\(pier.host)"
                    [host."https://\(pier.host)"]
                      capabilities = ["pull", "resolve", "push"]
                      ca = "\(pki.appending("ca.pem").path)"
                      client = [["\(pki.appending("client.pem").path)", "\(pki.appending("client.key").path)"]]
                    """
                try Data(toml.utf8).write(to: hosts.appending(path: "hosts.toml"))
                let containerd = try await ContainerdDaemon.start()
                do {
                    let reference = "\(pier.host)/ctrtls/multi:v1"
                    try await containerd.ctr(["images", "pull", "--hosts-dir", pki.appending("hosts.d").path, reference], also: [pier]).check()
                    let listing = try await containerd.ctr(["images", "ls"]).check().standardOutput
                    #expect(listing.contains(image.descriptor.digest), "\(listing)")
                } catch {
                    await containerd.stop()
                    throw error
                }
                await containerd.stop()
            }
        }
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with `openssl`, plus the cert dirs
/// skopeo reads (`ca.crt`; `client.cert` and `client.key`).
enum TestCertificates {
    static func make(in directory: TemporaryDirectory, clientCertificate: Bool) async throws {
        let openssl = try Tools.path("openssl", package: "openssl")
        func run(_ arguments: [String]) async throws {
            try await ProcessRunner.run(openssl, arguments, workingDirectory: directory.url, timeout: .seconds(60)).check()
        }
        try await run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                       "-subj", "/CN=Pier e2e CA", "-keyout", "ca.key", "-out", "ca.pem"])
        try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".utf8).write(to: directory.appending("server.ext"))
        try Data("extendedKeyUsage=clientAuth\n".utf8).write(to: directory.appending("client.ext"))
        for name in clientCertificate ? ["server", "client"] : ["server"] {
            try await run(["req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=\(name)", "-keyout", "\(name).key", "-out", "\(name).csr"])
            try await run(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "\(Int.random(in: 1...1_000_000))",
                           "-days", "30", "-extfile", "\(name).ext", "-out", "\(name).pem"])
        }
        let manager = FileManager.default
        try manager.createDirectory(at: directory.appending("certs-ca"), withIntermediateDirectories: true)
        try manager.copyItem(at: directory.appending("ca.pem"), to: directory.appending("certs-ca/ca.crt"))
        if clientCertificate {
            try manager.createDirectory(at: directory.appending("certs-client"), withIntermediateDirectories: true)
            try manager.copyItem(at: directory.appending("ca.pem"), to: directory.appending("certs-client/ca.crt"))
            try manager.copyItem(at: directory.appending("client.pem"), to: directory.appending("certs-client/client.cert"))
            try manager.copyItem(at: directory.appending("client.key"), to: directory.appending("certs-client/client.key"))
        }
    }

    /// Runs `body` with a `pier serve` using these files, stopped afterwards.
    static func withPier(label: String, _ directory: TemporaryDirectory, mutual: Bool, _ body: (PierServer) async throws -> Void) async throws {
        var curl = ["--cacert", directory.appending("ca.pem").path]
        if mutual { curl += ["--cert", directory.appending("client.pem").path, "--key", directory.appending("client.key").path] }
        let pier = try await PierServer.start(label: label, config: config(directory, mutual: mutual), httpsCurlOptions: curl)
        do {
            try await body(pier)
        } catch {
            await pier.stop()
            throw error
        }
        await pier.stop()
    }

    /// A `config.yml` serving TLS with these files; `mutual` requires client certificates from the same CA.
    static func config(_ directory: TemporaryDirectory, mutual: Bool) -> String {
        var text = """
            version: 0.1
            http:
              tls:
                certificate: \(directory.appending("server.pem").path)
                key: \(directory.appending("server.key").path)

            """
        if mutual { text += "    clientcas:\n      - \(directory.appending("ca.pem").path)\n" }
        return text
    }
}
