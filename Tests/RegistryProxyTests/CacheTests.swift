import AsyncHTTPClient
import Foundation
import Logging
import RegistryCore
import RegistryMetadataSQLite
import RegistryProxy
import RegistryStorage
import RegistryStorageFileSystem
import RegistryTesting
import Testing

/// Prefetching and expiry over real stores (SQLite metadata, in-memory blobs) and a fake upstream.
@Suite("Cache: prefetch and expiry")
struct CacheTests {
    struct Fixture {
        let upstream: FakeUpstream
        let blobs: FileSystemBlobStore
        /// The data directory (blobs under `blobs/`).
        let root: String
        let registry: Registry
        let cache: PullThroughCache
        let mirror: Mirror
    }

    /// Runs `body` with a cache mirroring a fake upstream as host `up.test`.
    func withCache(ttl: Duration = .seconds(3600), _ body: (Fixture) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let upstream = try await FakeUpstream.start()
            let httpClient = UpstreamClient.makeHTTPClient()
            let blobs = try await FileSystemBlobStore(root: directory)
            let registry = Registry(blobs: blobs, metadata: try SQLiteMetadataStore(path: directory + "/metadata.sqlite"), logger: testLogger)
            let mirror = Mirror(
                host: "up.test", client: UpstreamClient(configuration: .init(url: upstream.url), httpClient: httpClient, logger: testLogger), ttl: ttl
            )
            let cache = PullThroughCache(registry: registry, mirrors: [mirror], defaultHost: nil, logger: testLogger)
            do {
                try await body(Fixture(upstream: upstream, blobs: blobs, root: directory, registry: registry, cache: cache, mirror: mirror))
            } catch {
                try? await httpClient.shutdown()
                await upstream.stop()
                throw error
            }
            try await httpClient.shutdown()
            await upstream.stop()
        }
    }

    /// Whether the blob store holds exactly these bytes under their digest, on disk.
    static func stored(_ fixture: Fixture, _ bytes: [UInt8]) -> Bool {
        guard let path = fixture.blobs.localPath(of: Digest.of(bytes)), let data = FileManager.default.contents(atPath: path) else { return false }
        return Digest.of(Array(data)) == Digest.of(bytes)
    }

    /// The bytes of every blob file under the data directory.
    static func bytesOnDisk(_ fixture: Fixture) -> Int {
        let base = fixture.root + "/blobs"
        let files = FileManager.default.enumerator(atPath: base)?.compactMap { $0 as? String } ?? []
        return files.reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: base + "/" + file))?[.size] as? Int
            return total + (size ?? 0)
        }
    }

    /// Puts an image with the given layers (plus a config of its own) into the upstream.
    @discardableResult
    static func addImage(_ upstream: FakeUpstream, _ repository: String, tag: String, layers: [[UInt8]], seed: UInt64) -> Digest {
        let config = TestContent.bytes(50, seed: seed)
        let configDigest = upstream.addBlob(repository: repository, bytes: config)
        let layerDescriptors = layers.map { (upstream.addBlob(repository: repository, bytes: $0), $0.count) }
        return upstream.addManifest(
            repository: repository, tag: tag,
            bytes: TestContent.imageManifest(config: (configDigest, config.count), layers: layerDescriptors)
        )
    }

    @Test("prefetch fetches a multi-platform image whole, or only the platforms asked for")
    func prefetch() async throws {
        try await withCache { fixture in
            var children: [(Digest, Int)] = []
            var layers: [[UInt8]] = []
            for seed in UInt64(1)...3 {
                let layer = TestContent.bytes(10_000, seed: seed * 10)
                layers.append(layer)
                let config = TestContent.bytes(50, seed: seed)
                let configDigest = fixture.upstream.addBlob(repository: "lib/multi", bytes: config)
                let layerDigest = fixture.upstream.addBlob(repository: "lib/multi", bytes: layer)
                let manifest = TestContent.imageManifest(config: (configDigest, config.count), layers: [(layerDigest, layer.count)])
                children.append((fixture.upstream.addManifest(repository: "lib/multi", tag: nil, bytes: manifest), manifest.count))
            }
            fixture.upstream.addManifest(repository: "lib/multi", tag: "v1", bytes: TestContent.index(children), mediaType: MediaType.ociIndex)
            let prefetcher = Prefetcher(cache: fixture.cache)

            let one = try await prefetcher.prefetch(ImageReference(parsing: "up.test/lib/multi:v1"), platforms: ["linux/arm64"])
            #expect(one.manifests == 2 && one.blobs == 2 && one.fetchedBlobs == 2)
            #expect(Self.stored(fixture, layers[1]), "the arm64 layer is cached")
            #expect(!Self.stored(fixture, layers[0]), "the amd64 layer is not")

            let all = try await prefetcher.prefetch(ImageReference(parsing: "up.test/lib/multi:v1"))
            #expect(all.manifests == 4 && all.blobs == 6 && all.fetchedBlobs == 4, "what was cached is not fetched again")
            for layer in layers { #expect(Self.stored(fixture, layer)) }
            let repository = RepositoryName("up.test/lib/multi")!
            #expect(try await fixture.registry.tags(in: repository, count: nil, last: nil).items == ["v1"])
        }
    }

    @Test("a sync rule fetches the upstream's tags that match its pattern, and nothing else")
    func syncRule() async throws {
        try await withCache { fixture in
            var layers: [String: [UInt8]] = [:]
            for (index, tag) in ["3.19", "3.20", "3.21", "edge"].enumerated() {
                let layer = TestContent.bytes(5000, seed: UInt64(700 + index))
                layers[tag] = layer
                Self.addImage(fixture.upstream, "library/alpine", tag: tag, layers: [layer], seed: UInt64(70 + index))
            }
            let sync = CacheSync(name: "alpine", cache: fixture.cache, host: "up.test", repositories: ["library/alpine", "library/missing"],
                                 tagPattern: #"^3\.2[0-9]$"#, platforms: [], maximumTags: 10, logger: testLogger)
            let report = await sync.run()
            #expect(report.tags == 2 && report.failures == 1, "\(report)")
            #expect(Self.stored(fixture, layers["3.20"]!) && Self.stored(fixture, layers["3.21"]!))
            #expect(!Self.stored(fixture, layers["3.19"]!) && !Self.stored(fixture, layers["edge"]!))
            let cachedTags = try await fixture.registry.tags(in: RepositoryName("up.test/library/alpine")!, count: nil, last: nil).items
            #expect(cachedTags == ["3.20", "3.21"])
        }
    }

    @Test("a sync rule with referrers fetches each image's referrers, and theirs; without, it does not")
    func syncRuleReferrers() async throws {
        try await withCache { fixture in
            /// Puts a one-layer manifest (a referrer of `subject` when given) into the upstream; returns it and its layer.
            func add(seed: UInt64, tag: String?, subject: (Digest, Int)?) -> ((Digest, Int), [UInt8]) {
                let config = TestContent.bytes(30, seed: seed)
                let layer = TestContent.bytes(2000, seed: seed + 1)
                let configDigest = fixture.upstream.addBlob(repository: "library/app", bytes: config)
                let layerDigest = fixture.upstream.addBlob(repository: "library/app", bytes: layer)
                let manifest = TestContent.imageManifest(config: (configDigest, config.count), layers: [(layerDigest, layer.count)],
                                                         subject: subject, artifactType: subject == nil ? nil : "application/vnd.example.sig")
                return ((fixture.upstream.addManifest(repository: "library/app", tag: tag, bytes: manifest), manifest.count), layer)
            }
            let (image, _) = add(seed: 900, tag: "1.0", subject: nil)
            let (signature, signatureLayer) = add(seed: 910, tag: nil, subject: image)
            let (_, countersignatureLayer) = add(seed: 920, tag: nil, subject: signature)
            func rule(referrers: Bool) -> CacheSync {
                CacheSync(name: "app", cache: fixture.cache, host: "up.test", repositories: ["library/app"], tagPattern: nil, platforms: [],
                          maximumTags: 10, referrers: referrers, logger: testLogger)
            }
            #expect(await rule(referrers: false).run().tags == 1)
            #expect(!Self.stored(fixture, signatureLayer), "referrers are fetched only when asked for")
            let report = await rule(referrers: true).run()
            #expect(report.tags == 1 && report.failures == 0, "\(report)")
            #expect(Self.stored(fixture, signatureLayer) && Self.stored(fixture, countersignatureLayer))
            let repository = RepositoryName("up.test/library/app")!
            let recorded = try await fixture.registry.metadata.cachedReferrers(of: image.0, in: repository)
            #expect(recorded?.map(\.digest) == [signature.0], "the listing is cached with its subject")
        }
    }

    @Test("routes: ?ns= (and Docker Hub's API host names), host prefixes with ports, Docker Hub's library/, hosted names")
    func routes() async throws {
        try await withTemporaryDirectory { directory in
            let httpClient = UpstreamClient.makeHTTPClient()
            let registry = Registry(blobs: InMemoryBlobStore(), metadata: try SQLiteMetadataStore(path: directory + "/m.sqlite"), logger: testLogger)
            func mirror(_ host: String) -> Mirror {
                Mirror(host: host, client: UpstreamClient(configuration: .init(url: "http://127.0.0.1:9"), httpClient: httpClient, logger: testLogger))
            }
            let cache = PullThroughCache(registry: registry, mirrors: [mirror("docker.io"), mirror("registry.example.com:5000")],
                                         defaultHost: "docker.io", logger: testLogger)
            func route(_ name: String, _ namespace: String? = nil) async throws -> String? {
                try await cache.route(name: name, namespace: namespace).map { "\($0.mirror.host) \($0.upstreamRepository) \($0.repository)" }
            }
            #expect(try await route("alpine", "docker.io") == "docker.io library/alpine docker.io/library/alpine")
            #expect(try await route("library/alpine", "registry-1.docker.io") == "docker.io library/alpine docker.io/library/alpine")
            #expect(try await route("docker.io/alpine") == "docker.io library/alpine docker.io/library/alpine")
            #expect(try await route("registry.example.com_5000/team/app") == "registry.example.com:5000 team/app registry.example.com_5000/team/app")
            #expect(try await route("team/app", "registry.example.com:5000") == "registry.example.com:5000 team/app registry.example.com_5000/team/app")
            #expect(try await route("team/app") == "docker.io team/app docker.io/team/app", "the default upstream")
            #expect(try await route("team/app", "ghcr.io") == nil, "another registry's name never goes to the default upstream")
            _ = try await registry.pushTestBlob([1, 2, 3], into: RepositoryName("team/app")!)
            #expect(try await route("team/app") == nil, "a pushed repository is hosted")
            #expect(cache.mirror(owningWritesTo: "docker.io/library/alpine", namespace: nil)?.host == "docker.io")
            #expect(cache.mirror(owningWritesTo: "team/app", namespace: nil) == nil)
            try await httpClient.shutdown()
        }
    }

    @Test("image references parse as Docker reads them", arguments: [
        ("docker.io/library/alpine:3.20", "docker.io", "library/alpine", "3.20"),
        ("alpine", nil, "alpine", "latest"),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1"),
        ("team/app", nil, "team/app", "latest"),
        ("registry.example.com/team/app", "registry.example.com", "team/app", "latest"),
    ])
    func imageReferences(text: String, host: String?, name: String, tag: String) throws {
        let reference = try ImageReference(parsing: text)
        #expect(reference.host == host && reference.name == name && reference.reference == .tag(Tag(tag)!))
    }

    @Test("expiry by size evicts the least recently pulled image, removes its bytes and keeps shared and hosted layers")
    func sizeCap() async throws {
        try await withCache { fixture in
            let shared = TestContent.bytes(200_000, seed: 500)
            let oldOnly = TestContent.bytes(300_000, seed: 501)
            let newOnly = TestContent.bytes(300_000, seed: 502)
            let hosted = TestContent.bytes(100_000, seed: 503)
            Self.addImage(fixture.upstream, "lib/old", tag: "v1", layers: [shared, oldOnly, hosted], seed: 1)
            Self.addImage(fixture.upstream, "lib/new", tag: "v1", layers: [shared, newOnly], seed: 2)
            // A hosted repository holds one of the cached layers too.
            try await fixture.registry.pushTestBlob(hosted, into: RepositoryName("team/app")!)
            let hostedManifest = TestContent.imageManifest(config: (Digest.of(hosted), hosted.count), layers: [])
            _ = try await fixture.registry.putManifest(hostedManifest, contentType: MediaType.ociManifest, in: RepositoryName("team/app")!, reference: .tag(Tag("v1")!))

            let prefetcher = Prefetcher(cache: fixture.cache)
            _ = try await prefetcher.prefetch(ImageReference(parsing: "up.test/lib/old:v1"))
            _ = try await prefetcher.prefetch(ImageReference(parsing: "up.test/lib/new:v1"))
            let expiry = CacheExpiry(registry: fixture.registry, mirrors: [fixture.mirror], maxSize: 600_000, grace: .zero, logger: testLogger)
            let before = Self.bytesOnDisk(fixture)
            let report = try await expiry.run()
            let after = Self.bytesOnDisk(fixture)
            #expect(before - after == oldOnly.count + 50, "the evicted image's layer and config left the disk (\(before) → \(after))")

            #expect(report.evictedManifests == 1)
            #expect(!Self.stored(fixture, oldOnly), "the evicted image's own layer is gone from storage")
            #expect(Self.stored(fixture, shared), "a layer the remaining image uses stays")
            #expect(Self.stored(fixture, newOnly))
            #expect(Self.stored(fixture, hosted), "a layer a hosted image uses stays")
            #expect(report.cachedBytes <= 600_000)
            let hostedStill = try await fixture.registry.manifest(.tag(Tag("v1")!), in: RepositoryName("team/app")!, withContent: false)
            #expect(hostedStill.digest == Digest.of(hostedManifest))
            // The remaining image is served without the upstream.
            fixture.upstream.resetCounters()
            let route = try fixture.cache.route(host: "up.test", name: "lib/new")
            _ = try await fixture.cache.manifest(.tag(Tag("v1")!), route: route, withContent: true)
            guard case .stored = try await fixture.cache.blob(Digest.of(newOnly), route: route) else {
                Issue.record("the remaining image's layer is not stored")
                return
            }
            #expect(fixture.upstream.recordedRequests.filter { $0.method == "GET" }.isEmpty)
        }
    }

    @Test("expiry by ttl removes images not pulled within it and nothing else")
    func timeToLive() async throws {
        try await withCache { fixture in
            let layer = TestContent.bytes(50_000, seed: 600)
            let kept = TestContent.bytes(50_000, seed: 601)
            Self.addImage(fixture.upstream, "lib/short", tag: "v1", layers: [layer], seed: 3)
            Self.addImage(fixture.upstream, "lib/other", tag: "v1", layers: [kept], seed: 4)
            _ = try await Prefetcher(cache: fixture.cache).prefetch(ImageReference(parsing: "up.test/lib/short:v1"))
            // Within an hour's ttl nothing goes, however long this machine took.
            let hour = CacheExpiry(registry: fixture.registry, prefixes: [(fixture.mirror.prefix, .seconds(3600))], maxSize: nil, grace: .zero, logger: testLogger)
            let early = try await hour.run()
            #expect(early.expiredManifests == 0 && early.deletedBlobs == 0, "still within its ttl")
            // A ttl that has passed for the first image only: pulled before the cutoff, the second one after it.
            try await Task.sleep(for: .milliseconds(20))
            let cutoff = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(20))
            _ = try await Prefetcher(cache: fixture.cache).prefetch(ImageReference(parsing: "up.test/lib/other:v1"))
            let passed = CacheExpiry(registry: fixture.registry, prefixes: [(fixture.mirror.prefix, ContinuousClock.now - cutoff)],
                                     maxSize: nil, grace: .zero, logger: testLogger)
            let late = try await passed.run()
            #expect(late.expiredManifests == 1 && late.deletedBlobs == 2, "\(late)")
            #expect(!Self.stored(fixture, layer))
            #expect(Self.stored(fixture, kept), "an image pulled within its ttl stays")
        }
    }

    @Test("content cached under a mirror's other name (the proxy block's host before it stood in for docker.io) expires with its ttl")
    func aliasPrefixExpires() async throws {
        try await withCache { fixture in
            Self.addImage(fixture.upstream, "lib/old", tag: "v1", layers: [TestContent.bytes(1000, seed: 700)], seed: 5)
            _ = try await Prefetcher(cache: fixture.cache).prefetch(ImageReference(parsing: "up.test/lib/old:v1"))
            try await Task.sleep(for: .milliseconds(20))
            let standIn = Mirror(host: "docker.io", client: fixture.mirror.client, ttl: .milliseconds(10), aliases: ["up.test"])
            let report = try await CacheExpiry(registry: fixture.registry, mirrors: [standIn], maxSize: nil, grace: .zero, logger: testLogger).run()
            #expect(report.expiredManifests == 1, "\(report)")
        }
    }
}
