import Hummingbird
import NIOCore

/// Reads a JSON object body the strict way design §8 asks for: the right Content-Type, a size
/// cap checked before and while reading, bounded nesting, no duplicate member names, and OAuth
/// errors for each failure.
enum JSONRequestBody {
    static func readObject(_ request: Request, limit: Int) async throws -> [String: JSONValue] {
        guard let contentType = request.headers[.contentType],
              contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
        else {
            throw OAuthError(.invalidRequest, "Content-Type must be application/json", status: .unsupportedMediaType)
        }
        let tooLarge = OAuthError(.invalidRequest, "the request body is larger than \(limit) bytes", status: .contentTooLarge)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        do {
            return try JSONValue.parseObject(buffer.readableBytesView)
        } catch .tooDeep {
            throw OAuthError.invalidMetadata("the request body is nested too deeply")
        } catch .notAnObject {
            throw OAuthError.invalidMetadata("the request body must be a JSON object")
        } catch .duplicateMember(let name) {
            // RFC 7493 §2.3: another parser on the way may have kept the other value.
            throw OAuthError.invalidMetadata("the request body has more than one member named '\(ClientMetadataValidator.printable(name))' (RFC 7493 §2.3)")
        } catch {
            throw OAuthError.invalidMetadata("the request body is not valid JSON")
        }
    }
}
