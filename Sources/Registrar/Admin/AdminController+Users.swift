import Foundation
import Hummingbird

/// A tenant's local users: create (with a chosen or generated password, shown once), list, get,
/// disable and enable, reset the password, revoke every session, delete. Each change is audited.
extension AdminController {
    func addUserRoutes(to router: Router<AppRequestContext>, service: UserService) {
        let group = router.group(RouterPath(Self.prefix))
        group.post("/tenants/:tenant/users") { request, context in try await createUser(request, context, service) }
        group.get("/tenants/:tenant/users") { request, context in try await listUsers(request, context, service) }
        group.get("/tenants/:tenant/users/:user_id") { request, context in try await getUser(request, context, service) }
        group.delete("/tenants/:tenant/users/:user_id") { request, context in try await deleteUser(request, context, service) }
        group.post("/tenants/:tenant/users/:user_id/disable") { request, context in
            try await setUserStatus(.disabled, request, context, service)
        }
        group.post("/tenants/:tenant/users/:user_id/enable") { request, context in
            try await setUserStatus(.active, request, context, service)
        }
        group.post("/tenants/:tenant/users/:user_id/password") { request, context in try await resetPassword(request, context, service) }
        group.post("/tenants/:tenant/users/:user_id/sessions/revoke") { request, context in
            try await revokeUserSessions(request, context, service)
        }
    }

    /// The user id of the path; anything that is not a UUID names no user.
    func userID(_ context: AppRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("user_id")) else { throw Problem.notFound }
        return id
    }

    func refusingInvalid<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as UserService.Invalid {
            throw Problem.invalid(error.field, error.reason)
        } catch UserRepositoryError.emailTaken {
            throw Problem(.conflict, "a user with this email already exists in the tenant",
                          invalidParams: [.init(name: "email", reason: "is already in use")])
        }
    }

    static func userResponse(_ user: User, password: String?, status: HTTPResponse.Status = .ok) -> Response {
        guard case .object(var object) = user.json else { return Response(status: .internalServerError) }
        // Shown once, in this response only; stored as an argon2id hash.
        if let password { object["password"] = .string(password) }
        return .json(.object(object), status: status, headers: [.cacheControl: "no-store"])
    }

    func createUser(_ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let body = try await body(request, allowed: ["email", "display_name", "email_verified", "password"])
        guard let email = try Self.string(body, "email", required: true, maxLength: 320) else { throw Problem.invalid("email", "is required") }
        var new = UserService.NewUser(email: email)
        new.displayName = try Self.string(body, "display_name", maxLength: 400) ?? ""
        if let value = body["email_verified"], value != .null {
            guard let flag = value.boolValue else { throw Problem.invalid("email_verified", "must be true or false") }
            new.emailVerified = flag
        }
        if let value = body["password"], value != .null {
            guard let password = value.stringValue else { throw Problem.invalid("password", "must be a string") }
            new.password = password
        }
        let request = new
        let (user, generated) = try await refusingInvalid {
            try await service.create(request, tenantID: record.tenant.id, actor: principal.actor("", context))
        }
        return Self.userResponse(user, password: generated, status: .created)
    }

    func listUsers(_ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let (limit, cursorText) = try page(request)
        var cursor: Cursor?
        if let cursorText {
            guard let decoded = Cursor(encoded: cursorText), UUID(uuidString: decoded.id) != nil else {
                throw Problem.invalid("cursor", "is not a cursor this API returned")
            }
            cursor = decoded
        }
        let parameters = request.uri.queryParameters
        var filter = UserFilter()
        if let text = parameters["email_contains"] {
            guard text.count <= 320 else { throw Problem.invalid("email_contains", "must be at most 320 characters") }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw Problem.invalid("email_contains", "must not contain control characters")
            }
            filter.emailContains = String(text)
        }
        if let status = parameters["status"] {
            guard let value = User.Status(rawValue: String(status)) else { throw Problem.invalid("status", "must be active or disabled") }
            filter.status = value
        }
        let page = try await service.users.list(tenant: record.tenant.id, filter: filter, after: cursor, limit: limit)
        return Self.listResponse(page.items.map(\.json), nextCursor: page.nextCursor)
    }

    func getUser(_ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        guard let user = try await service.users.find(id: try userID(context), tenant: record.tenant.id) else { throw Problem.notFound }
        return Self.userResponse(user, password: nil)
    }

    func deleteUser(_ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        guard try await service.delete(userID: try userID(context), tenantID: record.tenant.id, actor: principal.actor("", context)) else {
            throw Problem.notFound
        }
        return Response(status: .noContent)
    }

    func setUserStatus(_ status: User.Status, _ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        guard let user = try await service.setStatus(status, userID: try userID(context), tenantID: record.tenant.id,
                                                     actor: principal.actor("", context)) else { throw Problem.notFound }
        return Self.userResponse(user, password: nil)
    }

    /// Sets the password in the body, or generates one when the body has none (or there is no
    /// body); the user's sessions end either way.
    func resetPassword(_ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let id = try userID(context)
        var password: String?
        if request.headers[.contentType] != nil {
            let body = try await body(request, allowed: ["password"])
            if let value = body["password"], value != .null {
                guard let text = value.stringValue else { throw Problem.invalid("password", "must be a string") }
                password = text
            }
        }
        let chosen = password
        guard let (user, generated) = try await refusingInvalid({
            try await service.resetPassword(userID: id, tenantID: record.tenant.id, password: chosen, actor: principal.actor("", context))
        }) else { throw Problem.notFound }
        return Self.userResponse(user, password: generated)
    }

    func revokeUserSessions(_ request: Request, _ context: AppRequestContext, _ service: UserService) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        guard let count = try await service.revokeSessions(userID: try userID(context), tenantID: record.tenant.id,
                                                           actor: principal.actor("", context)) else { throw Problem.notFound }
        return .json(.object(["revoked_sessions": .number(Double(count))]), headers: [.cacheControl: "no-store"])
    }
}
