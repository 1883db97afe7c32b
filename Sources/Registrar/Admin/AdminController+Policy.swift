import Foundation
import Hummingbird

/// The tenant's registration policy: read, replace (optimistic concurrency with ETag/If-Match)
/// and a dry run that says whether a registration would be accepted, and why not.
extension AdminController {
    func addPolicyRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("/tenants/:tenant/policy", use: getPolicy)
        group.put("/tenants/:tenant/policy", use: replacePolicy)
        group.post("/tenants/:tenant/policy/evaluate", use: evaluatePolicy)
    }

    func policyResponse(_ policy: RegistrationPolicy, version: Int) -> Response {
        .json(policy.json, headers: [.eTag: Self.etag(Int64(version)), .cacheControl: "no-store"])
    }

    /// A policy from the API, with its rate limits held to the platform's ceiling.
    static func parsePolicy(_ value: JSONValue, pointer: String = "", ceiling: RateLimit) throws -> RegistrationPolicy {
        do {
            let policy = try RegistrationPolicy(json: value)
            try policy.rateLimits.check(ceiling: ceiling, field: "rate_limits")
            return policy
        } catch {
            let name = pointer.isEmpty ? error.field : (error.field.isEmpty ? pointer : "\(pointer).\(error.field)")
            throw Problem.invalid(name, error.reason)
        }
    }

    @Sendable func getPolicy(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        return policyResponse(record.tenant.policy, version: record.tenant.policyVersion)
    }

    @Sendable func replacePolicy(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let expected = try Self.ifMatch(request)
        let object = try await JSONRequestBody.readObject(request, limit: maximumBodyBytes)
        let policy = try Self.parsePolicy(.object(object), ceiling: platformRateLimits.tenantCeiling)
        let version = try await mapping {
            try await tenants.setPolicy(policy, for: record.tenant.id, audit: principal.actor("policy.changed", context),
                                        expectedVersion: expected.map { Int($0) })
        }
        return policyResponse(policy, version: version)
    }

    /// `{"registration": {…}, "policy": {…}?}` → whether that registration would be accepted under
    /// the current (or the proposed) policy, with the RFC 7591 error it would get. Nothing is stored.
    @Sendable func evaluatePolicy(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let body = try await body(request, allowed: ["registration", "policy"])
        guard let registration = body["registration"]?.objectValue else {
            throw Problem.invalid("registration", "must be the JSON object a client would send to the registration endpoint")
        }
        var tenant = record.tenant
        if let proposed = body["policy"], proposed != .null {
            tenant.policy = try Self.parsePolicy(proposed, pointer: "policy", ceiling: platformRateLimits.tenantCeiling)
        }
        let resolved = ResolvedTenant(tenant: tenant, issuer: resolved(record).issuer)
        var result: [String: JSONValue]
        do {
            let accepted = try await intake.process(registration, tenant: resolved, initialAccessToken: nil)
            let needsToken = tenant.policy.requiresInitialAccessToken(for: accepted.redirectURIs)
            result = [
                "accepted": .bool(true),
                "requires_initial_access_token": .bool(needsToken),
                "metadata": .object(accepted.metadata.json),
            ]
        } catch let error as OAuthError {
            result = ["accepted": .bool(false), "error": .string(error.code.rawValue)]
            if let description = error.errorDescription { result["error_description"] = .string(description) }
        }
        return .json(.object(result), headers: [.cacheControl: "no-store"])
    }
}
