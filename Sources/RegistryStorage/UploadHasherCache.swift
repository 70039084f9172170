import RegistryCore
import Synchronization

/// Running hashes of uploads in progress in this process, so that a chunked upload is hashed once, as it arrives.
///
/// A cache only, safe to lose and never stale: an entry is used only for the exact offset it covers, and the bytes
/// before an upload's offset never change (one writer at a time, by the claim in the metadata store). An upload
/// continued on another replica or after a restart misses it and is re-hashed from storage when it finishes.
final class UploadHasherCache: Sendable {
    private struct Entry {
        var offset: Int64
        var hasher: DigestHasher
    }

    private struct State {
        var entries: [String: Entry] = [:]
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The running hash of `id` if it covers exactly the first `offset` bytes with `algorithm`.
    func hasher(for id: String, at offset: Int64, algorithm: DigestAlgorithm) -> DigestHasher? {
        if offset == 0 { return DigestHasher(algorithm) }
        return state.withLock { state in
            guard let entry = state.entries[id], entry.offset == offset, entry.hasher.algorithm == algorithm else { return nil }
            return entry.hasher
        }
    }

    /// Remembers the running hash of `id` after `offset` bytes.
    func store(_ hasher: DigestHasher?, for id: String, at offset: Int64) {
        state.withLock { state in
            guard let hasher else {
                state.entries[id] = nil
                return
            }
            if state.entries.count >= capacity, state.entries[id] == nil, let victim = state.entries.keys.first {
                state.entries[victim] = nil
            }
            state.entries[id] = Entry(offset: offset, hasher: hasher)
        }
    }

    /// Forgets `id`.
    func remove(_ id: String) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }
}
