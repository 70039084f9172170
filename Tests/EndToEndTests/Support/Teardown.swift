/// The processes a test started, stopped in reverse order when the test ends, whether it passed or threw.
///
/// For tests that start their own servers (each with a configuration of its own) instead of sharing a
/// suite's: `try await Teardown.with { teardown in … teardown.add { await server.stop() } … }`.
actor Teardown {
    private var steps: [@Sendable () async -> Void] = []

    /// Registers a step to run when the test ends (after the steps registered later).
    func add(_ step: @escaping @Sendable () async -> Void) {
        steps.append(step)
    }

    private func run() async {
        while let step = steps.popLast() { await step() }
    }

    /// Runs `body`, then every step it registered, in reverse order.
    static func with<T: Sendable>(_ body: (Teardown) async throws -> T) async throws -> T {
        let teardown = Teardown()
        do {
            let result = try await body(teardown)
            await teardown.run()
            return result
        } catch {
            await teardown.run()
            throw error
        }
    }
}
