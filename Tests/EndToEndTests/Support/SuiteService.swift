import Testing

/// A process a whole suite shares (a containerd or Docker daemon), started before the suite's first test and
/// stopped after its last, and reachable from the tests as `current`.
protocol SuiteService: Sendable {
    static func start() async throws -> Self
    func stop() async
    /// Runs `body` with `service` as the current one.
    static func withCurrent(_ service: Self, _ body: () async throws -> Void) async throws
}

/// Runs a whole suite with one ``SuiteService`` of its own.
struct SuiteServiceTrait<Service: SuiteService>: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> SuiteServiceTrait? {
        test.isSuite ? self : nil
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let service = try await Service.start()
        do {
            try await Service.withCurrent(service) { try await function() }
        } catch {
            await service.stop()
            throw error
        }
        await service.stop()
    }
}
