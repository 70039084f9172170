import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A stand-in S3 on 127.0.0.1 that answers from a script, for what a real server will not do on demand (SlowDown,
/// 500s, errors inside a 200). It checks nothing; the real-server suites prove the protocol.
final class ScriptedS3: Sendable {
    struct Answer: Sendable {
        var status: HTTPResponse.Status
        var body: String = ""
        var headers: [String: String] = [:]
    }

    struct State {
        var script: [Answer] = []
        var requests: [String] = []
    }

    let state = Mutex(State())
    let url: String
    private let server: Task<Void, any Error>

    private init(url: String, server: Task<Void, any Error>) {
        self.url = url
        self.server = server
    }

    /// The next answers, in order; once used up, every request gets 200 with an ETag.
    func script(_ answers: [Answer]) {
        state.withLock { $0.script = answers }
    }

    /// `METHOD path?query` of every request so far.
    var requests: [String] { state.withLock { $0.requests } }

    static func error(_ status: HTTPResponse.Status, _ code: String) -> Answer {
        Answer(status: status, body: "<?xml version=\"1.0\"?><Error><Code>\(code)</Code><Message>scripted</Message><RequestId>r-1</RequestId></Error>")
    }

    static func start() async throws -> ScriptedS3 {
        let holder = Holder()
        let router = Router()
        router.on("**", method: .get) { request, _ in try await Self.answer(holder, request) }
        router.on("**", method: .put) { request, _ in try await Self.answer(holder, request) }
        router.on("**", method: .post) { request, _ in try await Self.answer(holder, request) }
        router.on("**", method: .head) { request, _ in try await Self.answer(holder, request) }
        router.on("**", method: .delete) { request, _ in try await Self.answer(holder, request) }
        let ports = AsyncStream<Int?>.makeStream()
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port) },
            logger: Logger(label: "scripted-s3", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task {
            defer { ports.continuation.finish() }
            try await application.run()
        }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next() ?? nil else {
            task.cancel()
            throw CancellationError()
        }
        let server = ScriptedS3(url: "http://127.0.0.1:\(port)", server: task)
        holder.server.withLock { $0 = server }
        return server
    }

    func stop() async {
        server.cancel()
        _ = try? await server.value
    }

    /// Lets the routes reach the server made after them (its URL needs the bound port).
    private final class Holder: Sendable {
        let server = Mutex<ScriptedS3?>(nil)
    }

    private static func answer(_ holder: Holder, _ request: Request) async throws -> Response {
        guard let server = holder.server.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
        _ = try await request.body.collect(upTo: 64 << 20)
        let answer = server.state.withLock { state in
            state.requests.append("\(request.method.rawValue) \(request.uri.path)\(request.uri.query.map { "?" + $0 } ?? "")")
            return state.script.isEmpty ? Answer(status: .ok, headers: ["ETag": "\"etag\""]) : state.script.removeFirst()
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers { headers[HTTPField.Name(name)!] = value }
        return Response(status: answer.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }
}
