import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RegistryCore
import RegistryStorage

/// Renders any error as the spec's JSON envelope with the right status — the one place where errors become HTTP.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
enum ErrorResponse {
    static func make(for error: any Error, logger: Logger) -> Response {
        let registryError: RegistryError
        switch error {
        case let error as RegistryError:
            registryError = error
        case let error as HTTPError:
            // Hummingbird's own refusals, e.g. a body over `collect(upTo:)`.
            let status = Int(error.status.code)
            registryError = RegistryError(
                status == 413 ? .sizeInvalid : .unsupported, status: status, message: error.body ?? error.status.reasonPhrase
            )
        case _ where isOutOfSpace(error):
            registryError = RegistryError(.unknown, status: 507, message: "the registry is out of storage space; try again later")
        case let error as MetadataStoreError where error.code == .busy:
            registryError = RegistryError(.unknown, status: 503, message: "the registry is busy; retry", hints: [.retryAfter(seconds: 1)])
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            registryError = .internal("internal server error")
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        for hint in registryError.hints {
            switch hint {
            case .uploadState(let location, let range, let id):
                headers[.location] = location
                headers[.range] = range
                headers[.dockerUploadUUID] = id
            case .retryAfter(let seconds):
                headers[.retryAfter] = String(seconds)
            case .closeConnection:
                headers[.connection] = "close"
            case .challenge(let value):
                headers[.wwwAuthenticate] = value
            }
        }
        // Encoding strings cannot fail; were it to, the status and headers still say what happened.
        let json = (try? registryError.jsonBody()) ?? []
        let status = HTTPResponse.Status(code: registryError.status)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}

/// True for a full disk, in the blob store or the metadata store.
private func isOutOfSpace(_ error: any Error) -> Bool {
    (error as? BlobStoreError)?.code == .insufficientStorage || (error as? MetadataStoreError)?.code == .insufficientStorage
}
