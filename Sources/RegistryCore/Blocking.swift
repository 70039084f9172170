import Dispatch

/// Runs `work`, which may block (a file read, a bcrypt, a database lock), on a thread of its own and returns its
/// result: never on the caller's thread, which in `pier` is one of NIO's event loops (the process's Swift
/// concurrency executor), where a wait would stall every connection that loop serves.
public func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// Runs `work`, which may block but cannot fail, on a thread of its own (see the throwing variant).
@discardableResult
public func runBlocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
