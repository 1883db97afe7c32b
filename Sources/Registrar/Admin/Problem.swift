import Hummingbird
import HTTPTypes

/// An RFC 9457 problem document, the error format of the management API. Every kind is declared
/// once with its status and a stable `type` URI; `detail` says what happened this time, and
/// validation problems point at the offending field (`invalid_params`).
public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case unauthorized
        case forbidden
        case notFound = "not-found"
        case methodNotAllowed = "method-not-allowed"
        case validation
        case conflict
        case preconditionFailed = "precondition-failed"
        case payloadTooLarge = "payload-too-large"
        case unsupportedMediaType = "unsupported-media-type"
        case rateLimited = "rate-limited"
        case unavailable
        case internalError = "internal-error"

        public var status: HTTPResponse.Status {
            switch self {
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .methodNotAllowed: .methodNotAllowed
            case .validation: .badRequest
            case .conflict: .conflict
            case .preconditionFailed: .preconditionFailed
            case .payloadTooLarge: .contentTooLarge
            case .unsupportedMediaType: .unsupportedMediaType
            case .rateLimited: .tooManyRequests
            case .unavailable: .serviceUnavailable
            case .internalError: .internalServerError
            }
        }

        public var title: String {
            switch self {
            case .unauthorized: "Authentication required"
            case .forbidden: "Not allowed for this key"
            case .notFound: "Not found"
            case .methodNotAllowed: "Method not allowed"
            case .validation: "Invalid request"
            case .conflict: "Conflict"
            case .preconditionFailed: "Precondition failed"
            case .payloadTooLarge: "Request body too large"
            case .unsupportedMediaType: "Unsupported media type"
            case .rateLimited: "Too many requests"
            case .unavailable: "Temporarily unavailable"
            case .internalError: "Internal error"
            }
        }

        /// Stable, documented in the OpenAPI description.
        public var typeURI: String { "urn:registrar:problem:\(rawValue)" }
    }

    /// One invalid member of the request, as a JSON-pointer-like name and a reason.
    public struct InvalidParam: Sendable, Equatable {
        public let name: String
        public let reason: String
    }

    public let kind: Kind
    public let detail: String?
    public var invalidParams: [InvalidParam]
    public var retryAfter: Int?

    public init(_ kind: Kind, _ detail: String? = nil, invalidParams: [InvalidParam] = [], retryAfter: Int? = nil) {
        self.kind = kind
        self.detail = detail
        self.invalidParams = invalidParams
        self.retryAfter = retryAfter
    }

    public static func invalid(_ field: String, _ reason: String) -> Problem {
        Problem(.validation, "\(field): \(reason)", invalidParams: [InvalidParam(name: field, reason: reason)])
    }

    /// The one answer for every failed admin-key authentication.
    public static let unauthorized = Problem(.unauthorized, "a valid admin API key is required")
    public static let notFound = Problem(.notFound, "no such resource")

    public var description: String { "\(kind.rawValue): \(detail ?? "")" }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "type": .string(kind.typeURI),
            "title": .string(kind.title),
            "status": .number(Double(kind.status.code)),
        ]
        if let detail, !detail.isEmpty { object["detail"] = .string(detail) }
        if !invalidParams.isEmpty {
            object["invalid_params"] = .array(invalidParams.map { .object(["name": .string($0.name), "reason": .string($0.reason)]) })
        }
        return .object(object)
    }
}

extension Problem: HTTPResponseError {
    public var status: HTTPResponse.Status { kind.status }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if kind == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"registrar-admin\"" }
        return Response.json(json, status: status, headers: headers, contentType: "application/problem+json")
    }
}

extension OAuthError {
    /// The same failure in the management API's format.
    var problem: Problem {
        switch code {
        case .notFound: return .notFound
        case .temporarilyUnavailable: return Problem(.unavailable, errorDescription, retryAfter: retryAfter)
        case .tooManyRequests: return Problem(.rateLimited, errorDescription, retryAfter: retryAfter)
        case .invalidToken, .invalidClient: return .unauthorized
        case .serverError: return Problem(.internalError, errorDescription)
        case .invalidRequest where statusOverride == .contentTooLarge: return Problem(.payloadTooLarge, errorDescription)
        case .invalidRequest where statusOverride == .unsupportedMediaType: return Problem(.unsupportedMediaType, errorDescription)
        default:
            let field = errorDescription?.split(separator: ":").first.map(String.init) ?? code.rawValue
            return Problem(.validation, errorDescription, invalidParams: [.init(name: field, reason: errorDescription ?? code.rawValue)])
        }
    }
}
