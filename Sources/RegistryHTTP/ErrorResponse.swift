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
        var json = #"{"errors":[{"code":""# + registryError.code.description + #"","message":"#
        json += jsonString(registryError.message)
        if let detail = registryError.detail {
            json += #","detail":"# + jsonString(detail)
        }
        json += "}]}\n"
        let status = HTTPResponse.Status(code: registryError.status)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}

/// True for a full disk, in the blob store or the metadata store.
private func isOutOfSpace(_ error: any Error) -> Bool {
    (error as? BlobStoreError)?.code == .insufficientStorage || (error as? MetadataStoreError)?.code == .insufficientStorage
}

/// A JSON string literal for `value`, escaped per RFC 8259.
func jsonString(_ value: String) -> String {
    var result = "\""
    result.reserveCapacity(value.utf8.count + 2)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
