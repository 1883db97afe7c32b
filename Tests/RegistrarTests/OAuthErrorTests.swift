import Testing
@testable import Registrar

/// OAuth error responses: RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2.
@Suite("OAuth errors")
struct OAuthErrorTests {
    /// Every code and the HTTP status the RFC defining it gives it.
    static let expectedStatus: [String: Int] = [
        // RFC 7591 §3.2.2: "HTTP 400 status code unless otherwise specified".
        "invalid_redirect_uri": 400,
        "invalid_client_metadata": 400,
        "invalid_software_statement": 400,
        "unapproved_software_statement": 400,
        // RFC 6749 §5.2.
        "invalid_request": 400,
        "invalid_client": 401,
        "invalid_grant": 400,
        "unauthorized_client": 400,
        "unsupported_grant_type": 400,
        "invalid_scope": 400,
        "access_denied": 403,
        "server_error": 500,
        "temporarily_unavailable": 503,
        // RFC 6749 §4.1.2.1 (sent in a redirect; 400 when answered directly).
        "unsupported_response_type": 400,
        // RFC 6750 §3.1.
        "invalid_token": 401,
        "insufficient_scope": 403,
        // RFC 7009 §2.2.1.
        "unsupported_token_type": 400,
        // RFC 8707 §2.
        "invalid_target": 400,
        // OpenID Connect Core §3.1.2.6 (sent in a redirect).
        "login_required": 400,
        "consent_required": 400,
        "interaction_required": 400,
        "not_found": 404,
        "too_many_requests": 429,
    ]

    @Test("Each error code is answered with the status its RFC gives it", arguments: OAuthError.Code.allCases)
    func statusPerCode(_ code: OAuthError.Code) throws {
        let expected = try #require(Self.expectedStatus[code.rawValue], "no expected status for \(code.rawValue)")
        #expect(code.status.code == expected)
        #expect(OAuthError(code, "x").status.code == expected)
    }

    @Test("RFC 7591 §3.2.2: the registration error codes are spelled as the RFC spells them")
    func registrationCodeSpelling() {
        #expect(OAuthError.Code.invalidRedirectURI.rawValue == "invalid_redirect_uri")
        #expect(OAuthError.Code.invalidClientMetadata.rawValue == "invalid_client_metadata")
        #expect(OAuthError.Code.invalidSoftwareStatement.rawValue == "invalid_software_statement")
        #expect(OAuthError.Code.unapprovedSoftwareStatement.rawValue == "unapproved_software_statement")
        #expect(OAuthError.invalidMetadata("x").code == .invalidClientMetadata)
        #expect(OAuthError.invalidRedirect("x").code == .invalidRedirectURI)
    }

    @Test("A status override wins over the code's status, and Retry-After is kept")
    func statusOverride() {
        let error = OAuthError(.invalidRequest, "body too large", status: .init(code: 413), retryAfter: nil)
        #expect(error.status.code == 413)
        #expect(error.code.status.code == 400)
        #expect(OAuthError(.temporarilyUnavailable, "busy", retryAfter: 2).retryAfter == 2)
    }

    @Test("RFC 6749 §5.2: the JSON body carries error and error_description")
    func jsonBodyWithDescription() {
        let body = OAuthError(.invalidClientMetadata, "client_name must be a string").jsonBody
        #expect(body == .object([
            "error": .string("invalid_client_metadata"),
            "error_description": .string("client_name must be a string"),
        ]))
    }

    @Test("RFC 6749 §5.2: error_description is omitted when there is none, never null or empty", arguments: [nil, ""] as [String?])
    func jsonBodyWithoutDescription(_ description: String?) {
        let body = OAuthError(.invalidRequest, description).jsonBody
        #expect(body == .object(["error": .string("invalid_request")]))
        #expect(!containsNull(body))
    }

    @Test("RFC 6750 §3.1: every registration access token failure is the same invalid_token")
    func invalidTokenIsUniform() {
        #expect(OAuthError.invalidToken.code == .invalidToken)
        #expect(OAuthError.invalidToken.status.code == 401)
        #expect(OAuthError.invalidToken.jsonBody["error"] == .string("invalid_token"))
    }
}
