import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

// The layers under the public methods: one exchange, redirects, retries, and mapping answers to errors.
extension UpstreamClient {
    /// Statuses retried with backoff: rate limiting and the gateway errors that a retry often cures.
    static let retriedStatuses: Set<UInt> = [429, 502, 503, 504]
    /// Redirect statuses followed (with the same method).
    static let redirectStatuses: Set<UInt> = [301, 302, 303, 307, 308]
    /// The first backoff; it doubles with every retry up to the configured maximum.
    static let initialBackoff = Duration.milliseconds(100)

    /// Sends a request, following redirects and retrying 429/502/503/504 and connection failures.
    ///
    /// Returns the final answer whatever its status (after the retries); throws only when no answer came.
    func send(
        _ method: HTTPMethod, url: String, headers: HTTPHeaders, authorization: String?
    ) async throws(UpstreamError) -> HTTPClientResponse {
        var attempt = 0
        while true {
            let response: HTTPClientResponse
            do throws(UpstreamError) {
                response = try await followingRedirects(method, url: url, headers: headers, authorization: authorization)
            } catch {
                guard error.code == .unreachable, attempt < configuration.retries, !Task.isCancelled else { throw error }
                let delay = backoff(attempt: attempt)
                logger.warning(
                    "upstream unreachable, retrying",
                    metadata: ["request": "\(method) \(UpstreamURL.redacted(url))", "attempt": "\(attempt + 1)", "error": "\(error)"])
                try await sleep(delay)
                attempt += 1
                continue
            }
            let status = response.status.code
            guard Self.retriedStatuses.contains(status), attempt < configuration.retries else { return response }
            let retryAfter = Self.retryAfter(response.headers)
            let delay = retryAfter.map { Duration.seconds($0) } ?? backoff(attempt: attempt)
            // A Retry-After longer than we may wait ends the retries: the caller passes it on to its client.
            guard delay <= configuration.maximumBackoff else { return response }
            await discard(response)
            logger.warning(
                "upstream busy, retrying",
                metadata: [
                    "request": "\(method) \(UpstreamURL.redacted(url))", "status": "\(status)", "attempt": "\(attempt + 1)",
                    "delay_ms": "\(delay.milliseconds)",
                ])
            try await sleep(delay)
            attempt += 1
        }
    }

    /// Sends a request and follows up to ``maximumRedirects`` redirects, keeping the method.
    private func followingRedirects(
        _ method: HTTPMethod, url: String, headers: HTTPHeaders, authorization: String?
    ) async throws(UpstreamError) -> HTTPClientResponse {
        var url = url
        var authorization = authorization
        for hop in 0...Self.maximumRedirects {
            let response = try await exchange(method, url: url, headers: headers, authorization: authorization)
            guard Self.redirectStatuses.contains(response.status.code) else { return response }
            await discard(response)
            guard hop < Self.maximumRedirects else { break }
            guard let location = response.headers.first(name: HeaderName.location),
                let next = UpstreamURL.resolve(location, against: url)
            else {
                throw UpstreamError(
                    .invalidResponse, upstream: configuration.url, status: Int(response.status.code),
                    message: "upstream \(configuration.url) answered \(response.status.code) for \(method) \(UpstreamURL.redacted(url)) without a usable Location")
            }
            // Why: blob GETs are redirected to S3 or a CDN with a pre-signed URL. S3 refuses a request that carries
            // a second authentication mechanism, and the upstream's credentials must never reach another host.
            if authorization != nil, !UpstreamURL.sameOrigin(url, next) { authorization = nil }
            logger.debug("upstream redirect", metadata: ["from": "\(UpstreamURL.redacted(url))", "to": "\(UpstreamURL.redacted(next))"])
            url = next
        }
        throw UpstreamError(
            .invalidResponse, upstream: configuration.url,
            message: "upstream \(configuration.url) redirected \(method) more than \(Self.maximumRedirects) times (last \(UpstreamURL.redacted(url)))")
    }

    /// One request and its response head; connection failures become `.unreachable`.
    private func exchange(
        _ method: HTTPMethod, url: String, headers: HTTPHeaders, authorization: String?
    ) async throws(UpstreamError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        if let authorization { request.headers.replaceOrAdd(name: HeaderName.authorization, value: authorization) }
        let start = ContinuousClock.now
        // The deadline bounds the wait for the response head whatever the HTTP client's own read timeout.
        let deadline = NIODeadline.now() + configuration.connectTimeout.timeAmount + configuration.readTimeout.timeAmount
        do {
            let response = try await httpClient.execute(request, deadline: deadline, logger: logger)
            logger.debug(
                "upstream request",
                metadata: [
                    "method": "\(method)", "url": "\(UpstreamURL.redacted(url))", "status": "\(response.status.code)",
                    "duration_ms": "\((ContinuousClock.now - start).milliseconds)",
                ])
            return response
        } catch {
            let cancelled = Task.isCancelled || (error as? HTTPClientError) == .cancelled
            logger.debug(
                "upstream request failed",
                metadata: ["method": "\(method)", "url": "\(UpstreamURL.redacted(url))", "error": "\(error)"])
            throw UpstreamError(
                .unreachable, upstream: configuration.url,
                message: cancelled
                    ? "request \(method) \(UpstreamURL.redacted(url)) to upstream \(configuration.url) was cancelled"
                    : "upstream \(configuration.url) is unreachable for \(method) \(UpstreamURL.redacted(url))",
                cause: error)
        }
    }

    /// The delay before retry number `attempt + 1`: 100 ms, 200 ms, 400 ms … at most the configured maximum.
    func backoff(attempt: Int) -> Duration {
        let factor = 1 << min(attempt, 20)
        return min(Self.initialBackoff * factor, configuration.maximumBackoff)
    }

    private func sleep(_ delay: Duration) async throws(UpstreamError) {
        do {
            try await Task.sleep(for: delay)
        } catch {
            throw UpstreamError(
                .unreachable, upstream: configuration.url,
                message: "request to upstream \(configuration.url) was cancelled while waiting to retry", cause: error)
        }
    }

    /// Retry-After in seconds (the HTTP-date form is ignored), when present.
    static func retryAfter(_ headers: HTTPHeaders) -> Int? {
        headers.first(name: HeaderName.retryAfter).flatMap { Int($0.trimmingSpaces()) }.map { max($0, 0) }
    }

    /// Reads and drops a small body so that the connection can be reused; a large or stalled one is dropped,
    /// which closes the connection.
    func discard(_ response: HTTPClientResponse) async {
        _ = try? await response.body.collect(upTo: Self.smallBodyLimit)
    }

    /// Reads a whole body of at most `limit` bytes: never more than `limit + 1` bytes are read.
    func readBody(of response: HTTPClientResponse, limit: Int, request: String) async throws(UpstreamError) -> [UInt8] {
        let tooLarge = UpstreamError(
            .tooLarge, upstream: configuration.url, status: Int(response.status.code),
            message: "upstream \(configuration.url) answered \(request) with more than \(limit) bytes")
        let declared = Self.contentLength(response.headers).map { Int(clamping: $0) }
        if let declared, declared > limit { throw tooLarge }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(declared ?? 16384, limit))
        do {
            for try await chunk in response.body {
                guard bytes.count + chunk.readableBytes <= limit else { throw tooLarge }
                bytes.append(contentsOf: chunk.readableBytesView)
            }
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw UpstreamError(
                .unreachable, upstream: configuration.url, status: Int(response.status.code),
                message: "upstream \(configuration.url) stopped sending the body of \(request) after \(bytes.count) bytes", cause: error)
        }
        if let declared, declared != bytes.count {
            throw UpstreamError(
                .unreachable, upstream: configuration.url, status: Int(response.status.code),
                message: "upstream \(configuration.url) sent \(bytes.count) of \(declared) bytes for \(request)")
        }
        return bytes
    }

    /// The error for an answer that is not the expected success, naming the upstream, the request and the
    /// upstream's own error code and message when its body carries them.
    func failure(for response: HTTPClientResponse, request: String) async -> UpstreamError {
        let status = Int(response.status.code)
        let retryAfter = Self.retryAfter(response.headers)
        var detail = ""
        if let body = try? await response.body.collect(upTo: 64 * 1024),
            let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(body.readableBytesView)),
            let first = envelope.errors?.first
        {
            // The upstream's words go into Pier's messages and logs: printable characters only.
            detail = ": " + Self.printable([first.code, first.message].compactMap { $0 }.joined(separator: " "), limit: 300)
        }
        let answered = "upstream \(configuration.url) answered \(status) for \(request)\(detail)"
        switch status {
        case 404:
            return UpstreamError(.notFound, upstream: configuration.url, status: status, message: answered)
        case 401, 403:
            return UpstreamError(
                .unauthorized, upstream: configuration.url, status: status,
                message: "\(answered); its credentials were refused (check the username and password configured for it)")
        default:
            return UpstreamError(status: status, upstream: configuration.url, retryAfter: retryAfter, message: answered)
        }
    }

    /// The path (with query, relative to the upstream's URL) of the `rel="next"` target of a `Link` header.
    ///
    /// A relative target resolves against `requestURL`, the page that carried the header. It is followed only when it
    /// names the same list (`listPath`) on this upstream: a hostile upstream cannot send Pier to another host, or to
    /// another path of its own API, with the mirror's credentials.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags (Link: <url>; rel="next")
    func nextPagePath(fromLink link: String, requestURL: String, listPath: String) -> String? {
        var rest = Substring(link)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            let target = String(rest[rest.index(after: open)..<close])
            let parameters = rest[rest.index(after: close)...].prefix { $0 != "<" }.lowercased()
            rest = rest[rest.index(after: close)...]
            guard parameters.contains("rel=\"next\"") || parameters.contains("rel=next") else { continue }
            guard let absolute = UpstreamURL.resolve(target, against: requestURL), UpstreamURL.sameOrigin(absolute, configuration.url),
                let next = URLComponents(string: absolute), let base = URLComponents(string: configuration.url),
                next.percentEncodedPath == base.percentEncodedPath + listPath
            else {
                logger.warning("upstream's next page is not this list on this upstream; not followed", metadata: [
                    "link": "\(Self.printable(link, limit: 300))", "list": "\(listPath)",
                ])
                return nil
            }
            return listPath + (next.percentEncodedQuery.map { "?" + $0 } ?? "")
        }
        return nil
    }
}

/// The spec's error body, `{"errors":[{"code","message"}]}`.
private struct ErrorEnvelope: Decodable {
    struct Entry: Decodable {
        var code: String?
        var message: String?
    }
    var errors: [Entry]?
}
