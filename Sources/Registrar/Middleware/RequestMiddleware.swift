import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!
    static let forwardedFor = Self("X-Forwarded-For")!
    static let forwardedHost = Self("X-Forwarded-Host")!
    static let pragma = Self("Pragma")!
}

/// The outermost middleware: gives the request its id (the caller's `X-Request-Id` when it is
/// sane, a fresh one otherwise), works out the source address and host (believing forwarding
/// headers only from trusted proxies), and writes one JSON access-log line per request.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trustedProxies: [IPRange]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID]
        let requestID = incoming.flatMap { Self.isSaneRequestID($0) ? $0 : nil } ?? SecretGenerator.requestID()
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)

        var host = request.head.authority
        if let peer = context.peerAddress, trustedProxies.contains(where: { $0.contains(peer) }) {
            if let forwarded = request.headers[.forwardedFor] {
                // The nearest untrusted hop is the client: walk the chain from the right.
                let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                context.sourceAddress = hops.reversed().first { hop in !trustedProxies.contains { $0.contains(hop) } } ?? hops.first ?? peer
            }
            if let forwardedHost = request.headers[.forwardedHost]?.split(separator: ",").first {
                host = forwardedHost.trimmingCharacters(in: .whitespaces)
            }
        }
        context.requestHost = host.map(Self.hostWithoutPort)

        let start = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[.requestID] = requestID
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info("request", metadata: [
            "method": .string(request.method.rawValue),
            "path": .string(request.uri.path),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.2f", milliseconds)),
            "source": .string(context.sourceAddress ?? "-"),
        ])
        return response
    }

    static func isSaneRequestID(_ value: String) -> Bool {
        (1...128).contains(value.utf8.count)
            && value.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    /// `Host` without its port, lower-cased; `[::1]:8080` keeps its brackets.
    static func hostWithoutPort(_ authority: String) -> String {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("["), let close = lowered.firstIndex(of: "]") {
            return String(lowered[...close])
        }
        if let colon = lowered.lastIndex(of: ":") {
            return String(lowered[..<colon])
        }
        return lowered
    }
}

/// Turns every failure into a response in the endpoint's own format, so that nothing reaches the
/// client as an empty 500 or an HTML page: OAuth errors render themselves; router errors (unknown
/// path, wrong method) become OAuth-shaped JSON; an overloaded hash pool or an unreachable
/// database become 503 with `Retry-After`; anything else is logged and answered `server_error`.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix(AdminController.prefix + "/") || request.uri.path == AdminController.prefix {
            return try await handleAdmin(request, context: context, next: next)
        }
        do {
            return try await next(request, context)
        } catch let error as OAuthError {
            return try error.response(from: request, context: context)
        } catch let error as RateLimitExceeded {
            RegistrarMetrics.rateLimitRefused(error.name)
            var response = try OAuthError(.tooManyRequests, "too many requests; retry after \(error.retryAfterSeconds) s")
                .response(from: request, context: context)
            response.headers.append(contentsOf: error.headers.filter { $0.name != .retryAfter })
            response.headers[.retryAfter] = String(error.retryAfterSeconds)
            return response
        } catch let error as HTTPError {
            let code: OAuthError.Code = error.status == .notFound ? .notFound : .invalidRequest
            return try OAuthError(code, error.body ?? error.status.reasonPhrase.lowercased(), status: error.status)
                .response(from: request, context: context)
        } catch is Argon2Hasher.Overloaded {
            context.logger.warning("argon2 pool full; request shed")
            return try OAuthError(.temporarilyUnavailable, "the server is busy; retry shortly", retryAfter: 1)
                .response(from: request, context: context)
        } catch let error as DatabaseError where error.kind == .unavailable {
            context.logger.error("database unavailable", metadata: ["error": .string(error.description)])
            return try OAuthError(.temporarilyUnavailable, "the server is temporarily unavailable", retryAfter: 1)
                .response(from: request, context: context)
        } catch let error as DatabaseError where error.kind == .invalidInput {
            return try OAuthError(.invalidRequest, "a value in the request cannot be stored").response(from: request, context: context)
        } catch let error as HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": .string(String(describing: error))])
            return try OAuthError(.serverError, "internal error").response(from: request, context: context)
        }
    }

    /// The management API answers RFC 9457 problem documents for every failure.
    func handleAdmin(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let problem: Problem
        do {
            return try await next(request, context)
        } catch let error as Problem {
            problem = error
        } catch let error as OAuthError {
            problem = error.problem
        } catch let error as RateLimitExceeded {
            RegistrarMetrics.rateLimitRefused(error.name)
            var response = try Problem(.rateLimited, "too many requests; retry after \(error.retryAfterSeconds) s", retryAfter: error.retryAfterSeconds)
                .response(from: request, context: context)
            response.headers.append(contentsOf: error.headers.filter { $0.name != .retryAfter })
            return response
        } catch let error as HTTPError {
            problem = switch error.status {
            case .notFound: .notFound
            case .methodNotAllowed: Problem(.methodNotAllowed, "this method is not allowed here")
            default: Problem(.validation, error.body ?? error.status.reasonPhrase)
            }
        } catch is Argon2Hasher.Overloaded {
            problem = Problem(.unavailable, "the server is busy; retry shortly", retryAfter: 1)
        } catch let error as DatabaseError where error.kind == .unavailable {
            context.logger.error("database unavailable", metadata: ["error": .string(error.description)])
            problem = Problem(.unavailable, "the server is temporarily unavailable", retryAfter: 1)
        } catch let error as DatabaseError where error.kind == .invalidInput {
            problem = Problem(.validation, "a value in the request cannot be stored")
        } catch {
            context.logger.error("unhandled error", metadata: ["error": .string(String(describing: error))])
            problem = Problem(.internalError, "internal error")
        }
        return try problem.response(from: request, context: context)
    }
}

/// Every request has a deadline: work that has not finished by then is cancelled (its database
/// lease and queued hashing with it) and answered 503, so an overloaded dependency cannot pile up
/// waiting requests.
struct DeadlineMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The handler runs in a child task that is awaited (or cancelled) before this returns,
        // so it never outlives this call although the compiler cannot see that.
        do {
            return try await withoutActuallyEscaping(next) { escapable in
                nonisolated(unsafe) let handler = escapable
                return try await withDeadline(limit, "request") { [request, context] in
                    try await handler(request, context)
                }
            }
        } catch is DeadlineExceeded {
            // Thrown, not rendered here: the error middleware answers in the endpoint's own format.
            context.logger.warning("request deadline passed")
            throw OAuthError(.temporarilyUnavailable, "the request took too long; retry shortly", retryAfter: 1)
        }
    }
}

/// Open CORS (any origin, no credentials) on the documents and endpoints browser-based MCP
/// clients call; `/authorize` and the admin API get none.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static func isOpen(_ path: String) -> Bool {
        if path.hasPrefix("/.well-known/") { return true }
        let local: Substring
        if path.hasPrefix("/t/") {
            let afterSlug = path.dropFirst(3).drop { $0 != "/" }
            local = afterSlug
        } else {
            local = Substring(path)
        }
        return local.hasPrefix("/.well-known/") || local == "/register" || local.hasPrefix("/register/")
            || local == "/token" || local == "/revoke" || local == "/jwks.json"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isOpen(request.uri.path) else { return try await next(request, context) }
        if request.method == .options {
            var headers = HTTPFields()
            headers[.accessControlAllowOrigin] = "*"
            headers[.accessControlAllowMethods] = "GET, POST, PUT, DELETE, OPTIONS"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, MCP-Protocol-Version, X-Request-Id"
            headers[.accessControlMaxAge] = "86400"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlExposeHeaders] = "WWW-Authenticate, Retry-After, X-Request-Id"
        return response
    }
}
