import Synchronization

/// What an ``UpstreamClient`` has learnt about authenticating to its upstream: cached bearer tokens, the
/// token endpoint it was sent to, and whether the upstream wants basic credentials up front.
///
/// Token requests are single-flight: concurrent callers needing the same token share one request.
final class AuthenticationState: Sendable {
    private enum Entry {
        case ready(BearerToken)
        case pending(id: Int, Task<Result<BearerToken, UpstreamError>, Never>)
    }

    private enum Lookup {
        case cached(BearerToken)
        case waiting(Task<Result<BearerToken, UpstreamError>, Never>)
    }

    private struct State {
        var tokens: [TokenKey: Entry] = [:]
        /// The token key last used per repository, so that later requests send a token up front.
        var keys: [String: TokenKey] = [:]
        /// The last bearer challenge's realm and service, for repositories not seen yet.
        var endpoint: (realm: String, service: String?)?
        var prefersBasic = false
        var nextID = 0
    }

    /// Past this many cached entries, expired tokens and repository keys are dropped.
    private static let pruneThreshold = 1024

    private let state = Mutex(State())

    /// True once the upstream has asked for basic authentication.
    var prefersBasic: Bool { state.withLock { $0.prefersBasic } }

    /// Remembers that the upstream asks for basic credentials, to send them up front from now on.
    func preferBasic() { state.withLock { $0.prefersBasic = true } }

    /// The token key to use up front for `repository` (with `standardScope` when only the endpoint is known).
    func knownKey(repository: String, standardScope: String) -> TokenKey? {
        state.withLock { state in
            if let key = state.keys[repository] { return key }
            guard let endpoint = state.endpoint else { return nil }
            return TokenKey(realm: endpoint.realm, service: endpoint.service, scope: standardScope)
        }
    }

    /// Remembers that `repository` is served with tokens for `key`.
    func remember(_ key: TokenKey, for repository: String) {
        state.withLock { state in
            if state.keys.count >= Self.pruneThreshold { state.keys.removeAll(keepingCapacity: true) }
            state.keys[repository] = key
            state.endpoint = (key.realm, key.service)
        }
    }

    /// A usable cached token for `key`, or the result of `fetch` — run at most once at a time per key.
    func token(
        for key: TokenKey, fetch: @escaping @Sendable () async -> Result<BearerToken, UpstreamError>
    ) async -> Result<BearerToken, UpstreamError> {
        let now = ContinuousClock.now
        let lookup: Lookup = state.withLock { state in
            switch state.tokens[key] {
            case .ready(let token) where token.usableUntil > now:
                return .cached(token)
            case .pending(_, let task):
                return .waiting(task)
            case .ready, nil:
                state.nextID += 1
                let id = state.nextID
                if state.tokens.count >= Self.pruneThreshold { Self.pruneExpired(&state, now: now) }
                // Unstructured on purpose: one waiter's cancellation must not fail the others' shared request.
                let task = Task { [self] in
                    let result = await fetch()
                    complete(key, id: id, with: result)
                    return result
                }
                state.tokens[key] = .pending(id: id, task)
                return .waiting(task)
            }
        }
        switch lookup {
        case .cached(let token): return .success(token)
        case .waiting(let task): return await task.value
        }
    }

    /// Forgets the cached token for `key` if it is still `value` (the upstream refused it).
    func invalidate(_ key: TokenKey, value: String) {
        state.withLock { state in
            if case .ready(let token) = state.tokens[key], token.value == value { state.tokens[key] = nil }
        }
    }

    private func complete(_ key: TokenKey, id: Int, with result: Result<BearerToken, UpstreamError>) {
        state.withLock { state in
            guard case .pending(let pendingID, _) = state.tokens[key], pendingID == id else { return }
            switch result {
            case .success(let token): state.tokens[key] = .ready(token)
            case .failure: state.tokens[key] = nil
            }
        }
    }

    private static func pruneExpired(_ state: inout State, now: ContinuousClock.Instant) {
        state.tokens = state.tokens.filter { _, entry in
            if case .ready(let token) = entry { return token.usableUntil > now }
            return true
        }
    }
}
