import Foundation
import Hummingbird

/// `/admin/v1` on the platform host: the management API for platform admins (tenants) and
/// tenant admins (policy, initial access tokens, clients, audit log, keys). JSON in and out,
/// RFC 9457 problems for errors, unknown input fields refused, keyset pagination.
struct AdminController: Sendable {
    let authenticator: AdminAuthenticator
    let tenants: any TenantRepository
    let clients: any ClientRepository
    let initialAccessTokens: any InitialAccessTokenRepository
    let tokenService: InitialAccessTokenService
    let keys: any AdminKeyRepository
    let audit: any AuditRepository
    let platformAudit: any PlatformAuditRepository
    let hasher: Argon2Hasher
    let verifier: TokenVerifier
    let resolver: TenantResolver
    let intake: RegistrationIntake
    let limiter: any RateLimiter
    let usage: UsageRecorder
    let failures: FailedAuthenticationRecorder
    let platformRateLimits: PlatformRateLimits
    let reaper: any ClientReaperRepository
    /// RFC 7523 client assertions, for `private_key_jwt` clients of the authenticate API.
    let assertions: ClientAssertionVerifier
    let openAPIDocument: String?
    let maximumBodyBytes: Int
    let now: @Sendable () -> Date

    static let prefix = "/admin/v1"
    static let defaultPageSize = 50
    static let maximumPageSize = 200

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group(RouterPath(Self.prefix))
        group.get("/openapi.json", use: openAPI)
        addTenantRoutes(to: group)
        addPolicyRoutes(to: group)
        addTokenRoutes(to: group)
        addClientRoutes(to: group)
        addAuditRoutes(to: group)
        addPlatformAuditRoutes(to: group)
    }

    @Sendable func openAPI(request: Request, context: AppRequestContext) async throws -> Response {
        guard let openAPIDocument else { throw Problem.notFound }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: openAPIDocument)))
    }

    // MARK: - Access

    /// What a route needs of the caller's key.
    enum Access {
        case read
        case write
        case authenticateClients
    }

    /// Only the platform host serves the management API; tenant hosts answer 404 for it.
    func principal(_ request: Request, _ context: AppRequestContext) async throws -> AdminPrincipal {
        guard context.requestHost == resolver.platformHost else { throw Problem.notFound }
        let principal = try await authenticator.authenticate(request, limitAddress: context.limitAddress)
        PlatformActor.current?.authenticated(keyID: principal.key.id)
        return principal
    }

    func requirePlatform(_ request: Request, _ context: AppRequestContext) async throws -> AdminPrincipal {
        let principal = try await principal(request, context)
        guard principal.isPlatform else { throw Problem(.forbidden, "this needs a platform key") }
        return principal
    }

    /// The tenant named in the path, as the caller may see it: a key of another tenant gets 404,
    /// as if the tenant did not exist; a key without the role gets 403.
    func tenant(_ request: Request, _ context: AppRequestContext, _ access: Access) async throws -> (AdminPrincipal, TenantRecord) {
        let principal = try await principal(request, context)
        let slug = try context.parameters.require("tenant")
        guard let record = try await tenants.record(slug: slug) else { throw Problem.notFound }
        if !principal.isPlatform {
            guard principal.key.tenantID == record.tenant.id else { throw Problem.notFound }
            let allowed: Bool = switch (access, principal.key.role) {
            case (.read, .admin), (.read, .viewer), (.write, .admin), (.authenticateClients, .admin), (.authenticateClients, .service): true
            default: false
            }
            guard allowed else { throw Problem(.forbidden, "the key's role '\(principal.key.role.rawValue)' does not allow this") }
        }
        return (principal, record)
    }

    /// The tenant as the OAuth endpoints see it, for building issuer-relative URLs.
    func resolved(_ record: TenantRecord) -> ResolvedTenant {
        ResolvedTenant(tenant: record.tenant, issuer: "\(resolver.publicBaseURL)/t/\(record.tenant.slug)")
    }

    // MARK: - Input

    /// A JSON object body with only the named members (RFC 7591 is lenient; this API is not).
    func body(_ request: Request, allowed: Set<String>) async throws -> [String: JSONValue] {
        let object = try await JSONRequestBody.readObject(request, limit: maximumBodyBytes)
        let unknown = object.keys.filter { !allowed.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw Problem(.validation, "unknown field(s): \(unknown.joined(separator: ", "))",
                          invalidParams: unknown.map { .init(name: $0, reason: "unknown field") })
        }
        return object
    }

    func page(_ request: Request) throws -> (limit: Int, cursor: String?) {
        let parameters = request.uri.queryParameters
        var limit = Self.defaultPageSize
        if let text = parameters["limit"] {
            guard let value = Int(String(text)), (1...Self.maximumPageSize).contains(value) else {
                throw Problem.invalid("limit", "must be a whole number from 1 to \(Self.maximumPageSize)")
            }
            limit = value
        }
        return (limit, parameters["cursor"].map(String.init))
    }

    /// A page of an audit log: its size, and the event id the page starts below (both audit logs
    /// page by event id, newest first).
    func auditPage(_ request: Request) throws -> (limit: Int, before: Int64?) {
        let (limit, cursorText) = try page(request)
        guard let cursorText else { return (limit, nil) }
        guard let id = PostgresAuditRepository.decodeCursor(cursorText) else { throw Problem.invalid("cursor", "is not a cursor this API returned") }
        return (limit, id)
    }

    func dateParameter(_ request: Request, _ name: String) throws -> Date? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
        guard let date = try? Date.ISO8601FormatStyle().parse(String(text)) else {
            throw Problem.invalid(name, "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z")
        }
        return date
    }

    static func string(_ object: [String: JSONValue], _ key: String, required: Bool = false, maxLength: Int = 200) throws -> String? {
        guard let value = object[key], value != .null else {
            if required { throw Problem.invalid(key, "is required") }
            return nil
        }
        guard let string = value.stringValue else { throw Problem.invalid(key, "must be a string") }
        // Code points, as PostgreSQL's length() counts them in the columns' CHECKs.
        guard string.unicodeScalars.count <= maxLength else { throw Problem.invalid(key, "must be at most \(maxLength) characters") }
        guard !string.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Problem.invalid(key, "must not contain control characters")
        }
        return string
    }

    static func listResponse(_ items: [JSONValue], nextCursor: String?) -> Response {
        var object: [String: JSONValue] = ["items": .array(items)]
        if let nextCursor { object["next_cursor"] = .string(nextCursor) }
        return .json(.object(object), headers: [.cacheControl: "no-store"])
    }

    /// `If-Match` as the version it names: `"123"` or `W/"123"`; nil when absent.
    static func ifMatch(_ request: Request) throws -> Int64? {
        guard let header = request.headers[.ifMatch] else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "")
        guard trimmed.hasPrefix("\""), trimmed.hasSuffix("\""), trimmed.count > 2, let version = Int64(trimmed.dropFirst().dropLast()) else {
            throw Problem(.preconditionFailed, "If-Match must be an ETag this API returned")
        }
        return version
    }

    static func etag(_ version: Int64) -> String { "\"\(version)\"" }

    static func timestamp(_ date: Date?) -> JSONValue? {
        date.map { .string($0.formatted(.iso8601)) }
    }
}
