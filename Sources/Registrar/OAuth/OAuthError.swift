import Hummingbird
import HTTPTypes
import NIOCore

/// An error on an OAuth endpoint, rendered as OAuth's own error JSON
/// (`{"error": …, "error_description": …}`), never HTML and never a stack trace.
///
/// Every code is declared once, with the status the RFC that defines it gives it.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        // RFC 6749 §5.2 / §4.1.2.1
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case accessDenied = "access_denied"
        case serverError = "server_error"
        case temporarilyUnavailable = "temporarily_unavailable"
        case unsupportedResponseType = "unsupported_response_type"
        // RFC 6750 §3.1
        case invalidToken = "invalid_token"
        case insufficientScope = "insufficient_scope"
        // RFC 7009 §2.2.1
        case unsupportedTokenType = "unsupported_token_type"
        // RFC 8707 §2
        case invalidTarget = "invalid_target"
        // OpenID Connect Core §3.1.2.6, answered to `prompt=none`
        case loginRequired = "login_required"
        case consentRequired = "consent_required"
        case interactionRequired = "interaction_required"
        // RFC 7591 §3.2.2
        case invalidRedirectURI = "invalid_redirect_uri"
        case invalidClientMetadata = "invalid_client_metadata"
        case invalidSoftwareStatement = "invalid_software_statement"
        case unapprovedSoftwareStatement = "unapproved_software_statement"
        // Not an RFC code: the answer for an unknown tenant or path, so that it stays JSON.
        case notFound = "not_found"
        // RFC 6585 §4: the status is what matters; the code keeps the body OAuth-shaped.
        case tooManyRequests = "too_many_requests"

        /// The HTTP status each code is answered with.
        public var status: HTTPResponse.Status {
            switch self {
            case .invalidRequest, .invalidGrant, .unauthorizedClient, .unsupportedGrantType,
                 .invalidScope, .invalidRedirectURI, .invalidClientMetadata, .unsupportedResponseType,
                 .unsupportedTokenType, .invalidTarget, .loginRequired, .consentRequired, .interactionRequired,
                 .invalidSoftwareStatement, .unapprovedSoftwareStatement:
                return .badRequest
            case .invalidClient, .invalidToken:
                return .unauthorized
            case .accessDenied, .insufficientScope:
                return .forbidden
            case .notFound:
                return .notFound
            case .tooManyRequests:
                return .tooManyRequests
            case .serverError:
                return .internalServerError
            case .temporarilyUnavailable:
                return .serviceUnavailable
            }
        }
    }

    public let code: Code
    public let errorDescription: String?
    /// Overrides the code's status where an RFC asks for another one (413 for an oversized body).
    public let statusOverride: HTTPResponse.Status?
    /// Seconds for `Retry-After` on 429 and 503.
    public let retryAfter: Int?

    public init(_ code: Code, _ description: String? = nil, status: HTTPResponse.Status? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.errorDescription = description
        self.statusOverride = status
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code.rawValue): \(errorDescription ?? "")" }

    public static func invalidMetadata(_ description: String) -> OAuthError {
        OAuthError(.invalidClientMetadata, description)
    }

    public static func invalidRedirect(_ description: String) -> OAuthError {
        OAuthError(.invalidRedirectURI, description)
    }

    /// RFC 7592 §2 / RFC 6750 §3.1: the one answer for every registration access token failure.
    public static let invalidToken = OAuthError(.invalidToken, "the access token is missing, malformed, expired or not valid for this resource")

    public static let tenantNotFound = OAuthError(.notFound, "not found")

    /// The JSON body: `error` and, when known, `error_description` (RFC 6749 §5.2).
    public var jsonBody: JSONValue {
        var object: [String: JSONValue] = ["error": .string(code.rawValue)]
        if let errorDescription, !errorDescription.isEmpty {
            object["error_description"] = .string(errorDescription)
        }
        return .object(object)
    }
}

extension OAuthError: HTTPResponseError {
    public var status: HTTPResponse.Status { statusOverride ?? code.status }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        headers[.pragma] = "no-cache"
        if let retryAfter {
            headers[.retryAfter] = String(retryAfter)
        }
        if code == .invalidToken {
            headers[.wwwAuthenticate] = Self.bearerChallenge(for: request)
        }
        return Response.json(jsonBody, status: status, headers: headers)
    }
}

extension OAuthError {
    /// RFC 6750 §3: a refused bearer token is announced in `WWW-Authenticate`. RFC 6750 §3.1:
    /// when the request carried no bearer credential at all (no `Authorization`, or another
    /// scheme), the challenge SHOULD NOT include an error code, since nothing failed yet.
    static func bearerChallenge(for request: Request) -> String {
        presentsBearerCredential(request) ? "Bearer error=\"invalid_token\"" : "Bearer"
    }

    static func presentsBearerCredential(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization] else { return false }
        let scheme = header.prefix { $0 != " " }
        return scheme.lowercased() == "bearer"
    }
}
