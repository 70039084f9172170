@testable import RegistryMetadataSQLite
import Testing

@Suite("SQLite waits")
struct SQLiteWaitTests {
    @Test("a statement run where it may not wait gives up on a lock at once; elsewhere it waits with growing sleeps, 30 s in all")
    func busyCallback() async throws {
        let start = ContinuousClock.now
        let gaveUp = SQLiteMetadataStore.$mayWaitForLocks.withValue(false) { !SQLiteMetadataStore.busyCallback(0) }
        #expect(gaveUp)
        #expect(ContinuousClock.now - start < .milliseconds(5))
        #expect(SQLiteMetadataStore.busyCallback(0), "a waiting connection gave up at the first try")
        #expect(!SQLiteMetadataStore.busyCallback(400), "a waiting connection never gives up")
        #expect(SQLiteMetadataStore.busyCallback(200), "a waiting connection gave up well before 30 s")
    }
}
