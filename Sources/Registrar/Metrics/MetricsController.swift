import Crypto
import Foundation
import Hummingbird

/// `GET /metrics`: the Prometheus text exposition of `RegistrarMetrics`.
///
/// It describes the whole platform, so it answers on the platform host only (a tenant's domain
/// gets the same 404 as any unknown path), or on its own listener (`--metrics-port`) when the
/// operator keeps it off the public port; with `--metrics-token` a scraper must present that
/// token as a Bearer credential (RFC 6750 §2.1).
struct MetricsController: Sendable {
    /// Nil on the metrics listener, which serves nothing else and is not reached by tenants.
    let platformHost: String?
    let tokenDigest: SHA256.Digest?

    init(platformHost: String?, token: String?) {
        self.platformHost = platformHost
        self.tokenDigest = token.map { SHA256.hash(data: Array($0.utf8)) }
    }

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/metrics", use: scrape)
    }

    @Sendable func scrape(request: Request, context: AppRequestContext) async throws -> Response {
        if let platformHost, context.requestHost != platformHost {
            throw OAuthError.tenantNotFound
        }
        if let tokenDigest {
            guard let presented = try BearerToken.from(request),
                  Self.constantTimeEqual(SHA256.hash(data: Array(presented.utf8)), tokenDigest)
            else { throw OAuthError.invalidToken }
        }
        var headers = HTTPFields()
        headers[.contentType] = Self.contentType
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: RegistrarMetrics.exposition())))
    }

    /// Compares digests of equal length without an early exit, so the time taken says nothing
    /// about how much of the token was right (hashing first also hides its length).
    static func constantTimeEqual(_ left: SHA256.Digest, _ right: SHA256.Digest) -> Bool {
        var difference: UInt8 = 0
        for (a, b) in zip(left, right) { difference |= a ^ b }
        return difference == 0
    }
}
