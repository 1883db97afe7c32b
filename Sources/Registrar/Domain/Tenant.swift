import Foundation

/// A tenant: its own issuer, registration endpoint, policy and admins (design §3).
public struct Tenant: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case active
        case suspended
    }

    public let id: UUID
    public let slug: String
    public var displayName: String
    public var status: Status
    public var policy: RegistrationPolicy
    public var policyVersion: Int

    public init(id: UUID, slug: String, displayName: String, status: Status = .active, policy: RegistrationPolicy = .default, policyVersion: Int = 0) {
        self.id = id
        self.slug = slug
        self.displayName = displayName
        self.status = status
        self.policy = policy
        self.policyVersion = policyVersion
    }

    /// Slugs are DNS labels of 3–63 characters, so `{slug}.{base domain}` is always a valid host.
    public static func isValidSlug(_ slug: String) -> Bool {
        let bytes = Array(slug.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return isAlphanumeric(bytes.first!) && isAlphanumeric(bytes.last!)
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }
}

/// A tenant as one request sees it: who it is and the issuer its request arrived under.
public struct ResolvedTenant: Sendable {
    public let tenant: Tenant
    /// `https://host`, or `{public base URL}/t/{slug}`; never with a trailing slash.
    public let issuer: String

    public var registrationEndpoint: String { issuer + "/register" }

    public func clientConfigurationURI(_ clientID: String) -> String {
        registrationEndpoint + "/" + (clientID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? clientID)
    }
}
