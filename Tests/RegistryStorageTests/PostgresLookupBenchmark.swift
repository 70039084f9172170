import Foundation
import RegistryCore
import RegistryMetadataPostgres
import RegistryMetadataSQLite
import RegistryStorage
import RegistryTesting
import Testing

/// Measures the manifest lookup behind every manifest GET and HEAD against the PostgreSQL server of the tests: round
/// trips per lookup (the TCP segments each side sends, read with `ss`), latency and throughput, with SQLite beside it.
/// A measurement, not a check: it runs only with `PIER_BENCH_POSTGRES=1` (and the server's URL), and prints its figures.
@Suite("PostgreSQL lookup benchmark", .serialized)
struct PostgresLookupBenchmark {
    static let enabled = PostgresTestDatabase.isConfigured && ProcessInfo.processInfo.environment["PIER_BENCH_POSTGRES"] == "1"

    static let repositories = 1000
    static let lookups = 10_000

    @Test("manifest by tag: round trips, latency and throughput",
          .enabled(if: enabled, "a measurement: run with PIER_BENCH_POSTGRES=1 and PIER_TEST_POSTGRES_URL"))
    func manifestByTag() async throws {
        let configuration = try PostgresTestDatabase.configuration(maximumConnections: 1)
        let postgres = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        let names = try await Self.fill(postgres)
        let trips = try await Self.roundTrips(postgres, names)
        print("postgres: per lookup by tag (GET), client flights \(trips.client), server flights \(trips.server)")
        try await Self.writeRoundTrips(postgres)
        try await Self.measure("postgres", postgres, names)
        try await postgres.dropSchema()
        await postgres.shutdown()

        // Sixteen lookups at a time over a pool of sixteen connections.
        let wide = try await PostgresMetadataStore(
            configuration: try PostgresTestDatabase.configuration(maximumConnections: 16), logger: PostgresTestDatabase.logger)
        let wideNames = try await Self.fill(wide)
        try await Self.throughput("postgres, 16 connections", wide, wideNames)
        try await wide.dropSchema()
        await wide.shutdown()

        try await withTemporaryDirectory { root in
            let sqlite = try SQLiteMetadataStore(path: root + "/metadata.sqlite")
            let sqliteNames = try await Self.fill(sqlite)
            try await Self.measure("sqlite", sqlite, sqliteNames)
            try await Self.throughput("sqlite", sqlite, sqliteNames)
        }
    }

    /// One image per repository, five tags each; returns the repositories.
    static func fill(_ store: any MetadataStore) async throws -> [RepositoryName] {
        var names: [RepositoryName] = []
        for index in 0..<repositories {
            let repository = RepositoryName("bench/app-\(index)")!
            var described: [(Digest, Int)] = []
            for seed in [UInt64(index), UInt64(index + 100_000)] {
                let bytes = TestContent.bytes(64, seed: seed)
                let digest = Digest.of(bytes)
                try await store.pinBlob(digest)
                try await store.commitBlob(digest, size: 64, into: repository, finishing: nil)
                described.append((digest, 64))
            }
            let content = TestContent.imageManifest(config: described[0], layers: [described[1]])
            let record = ManifestRecord(repository: repository, digest: Digest.of(content),
                                        manifest: try Manifest(parsing: content, contentType: nil), content: content)
            try await store.putManifest(record, tags: ["latest", "v1", "v1.0", "v1.0.0", "stable"].map { Tag($0)! })
            names.append(repository)
        }
        return names
    }

    static func lookup(_ store: any MetadataStore, _ names: [RepositoryName], _ index: Int, withContent: Bool = true) async throws {
        let found = try await store.manifest(.tag(Tag("v1.0")!), in: names[index % names.count], withContent: withContent)
        guard found != nil else { throw ConformanceFailure("lookup \(index) found nothing") }
    }

    /// Request and reply flights per lookup: the data segments the client and the server sent, over a thousand lookups
    /// on the store's one connection.
    static func roundTrips(_ store: any MetadataStore, _ names: [RepositoryName]) async throws -> (client: Double, server: Double) {
        try await lookup(store, names, 0)
        let port = try PostgresTestDatabase.configuration().port
        let before = try segments(port: port)
        for index in 0..<1000 { try await lookup(store, names, index) }
        let after = try segments(port: port)
        return (Double(after.client - before.client) / 1000, Double(after.server - before.server) / 1000)
    }

    /// Request flights of the write path: a blob's pin and commit, and a new manifest with five tags.
    static func writeRoundTrips(_ store: any MetadataStore) async throws {
        let port = try PostgresTestDatabase.configuration().port
        let repository = RepositoryName("bench/writes")!
        var blobs: [(Digest, Int)] = []
        var before = try segments(port: port)
        for seed in 0..<200 {
            let digest = Digest.of(TestContent.bytes(64, seed: 900_000 + UInt64(seed)))
            try await store.pinBlob(digest)
            try await store.commitBlob(digest, size: 64, into: repository, finishing: nil)
            blobs.append((digest, 64))
        }
        var after = try segments(port: port)
        print("postgres: per pinBlob + commitBlob, client flights \(Double(after.client - before.client) / 200)")
        let records = try (0..<100).map { index in
            let content = TestContent.imageManifest(config: blobs[2 * index], layers: [blobs[2 * index + 1]])
            return ManifestRecord(repository: repository, digest: Digest.of(content),
                                  manifest: try Manifest(parsing: content, contentType: nil), content: content)
        }
        before = try segments(port: port)
        for (index, record) in records.enumerated() {
            try await store.putManifest(record, tags: (0..<5).map { Tag("t\(index)-\($0)")! })
        }
        after = try segments(port: port)
        print("postgres: per putManifest (new, 5 tags), client flights \(Double(after.client - before.client) / 100)")
    }

    /// The data segments sent by the clients of `port` and by the server on it, from the kernel's TCP counters.
    static func segments(port: Int) throws -> (client: Int, server: Int) {
        func sum(_ filter: String) throws -> Int {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/ss")
            process.arguments = ["-tinH", "state", "established", filter]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return output.split(whereSeparator: \.isWhitespace).compactMap { field -> Int? in
                field.hasPrefix("data_segs_out:") ? Int(field.dropFirst("data_segs_out:".count)) : nil
            }.reduce(0, +)
        }
        return (try sum("( dport = :\(port) )"), try sum("( sport = :\(port) )"))
    }

    static func measure(_ label: String, _ store: any MetadataStore, _ names: [RepositoryName]) async throws {
        for withContent in [true, false] {
            var samples: [Duration] = []
            samples.reserveCapacity(lookups)
            let clock = ContinuousClock()
            for index in 0..<lookups {
                let started = clock.now
                try await lookup(store, names, index, withContent: withContent)
                samples.append(clock.now - started)
            }
            samples.sort()
            func micros(_ duration: Duration) -> Int { Int(duration / .microseconds(1)) }
            let total = samples.reduce(Duration.zero, +)
            print("\(label): \(withContent ? "GET" : "HEAD") by tag, one at a time: mean \(micros(total / lookups)) µs, "
                + "p50 \(micros(samples[lookups / 2])) µs, p99 \(micros(samples[lookups * 99 / 100])) µs")
        }
    }

    static func throughput(_ label: String, _ store: any MetadataStore, _ names: [RepositoryName]) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for index in stride(from: worker, to: lookups * 2, by: 16) { try await lookup(store, names, index) }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double((clock.now - started) / .milliseconds(1)) / 1000
        print("\(label): GET by tag, 16 at a time: \(Int(Double(lookups * 2) / seconds)) lookups/s")
    }
}
