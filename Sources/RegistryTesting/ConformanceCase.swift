/// One named check of a shared conformance suite, run against every implementation of a protocol.
public struct ConformanceCase<Subject: Sendable>: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (Subject) async throws -> Void

    public init(_ name: String, _ body: @escaping @Sendable (Subject) async throws -> Void) {
        self.name = name
        self.body = body
    }

    /// Runs the check against `subject`.
    public func run(_ subject: Subject) async throws {
        try await body(subject)
    }

    public var description: String { name }
}

/// A failed expectation inside a conformance check (the suites do not depend on a test framework).
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Fails the current conformance check unless `condition` holds.
public func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) throws {
    if !condition { throw ConformanceFailure("\(file):\(line): \(message())") }
}
