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
    /// IPv6 sources count per prefix of this length in every per-address limit.
    var ipv6PrefixLength = 64

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
        context.sourceAddress = context.sourceAddress.map(SourceAddress.normalized)
        context.limitAddress = SourceAddress.limitKey(context.sourceAddress, ipv6PrefixLength: ipv6PrefixLength)

        let start = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[.requestID] = requestID
        // Every answer, errors included: browsers must not guess another type than the one sent.
        response.headers[.xContentTypeOptions] = "nosniff"
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
    /// The router's own routes, for `405` and its `Allow` header.
    let routes: RouteMethodTable

    /// The methods to name in `Allow` when `request` reached a known path with a method none of
    /// its routes answers; nil when the path itself is unknown (a plain 404).
    func allowedMethods(for request: Request) -> String? {
        var methods = routes.methods(for: request.uri.path).map(\.rawValue)
        guard !methods.isEmpty, !methods.contains(request.method.rawValue) else { return nil }
        // The CORS middleware answers preflights on the open endpoints.
        if CORSMiddleware.isOpen(request.uri.path) { methods.append(HTTPRequest.Method.options.rawValue) }
        return methods.sorted().joined(separator: ", ")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix(AdminController.prefix + "/") || request.uri.path == AdminController.prefix {
            return try await handleAdmin(request, context: context, next: next)
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && allowedMethods(for: request) != nil {
            // RFC 9110 §15.5.6: a known resource, another method: 405 with the methods it has.
            var response = try OAuthError(.invalidRequest, "this method is not allowed here", status: .methodNotAllowed)
                .response(from: request, context: context)
            response.headers[.allow] = allowedMethods(for: request)
            return response
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
        } catch let error as DatabaseError where error.kind == .invalidInput || error.kind == .checkViolation {
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
        } catch let error as HTTPError where error.status == .notFound && allowedMethods(for: request) != nil {
            // RFC 9110 §15.5.6: a known resource, another method: 405 with the methods it has.
            var response = try Problem(.methodNotAllowed, "this method is not allowed here").response(from: request, context: context)
            response.headers[.allow] = allowedMethods(for: request)
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
        } catch let error as DatabaseError where error.kind == .invalidInput || error.kind == .checkViolation {
            problem = Problem(.validation, "a value in the request cannot be stored")
        } catch {
            context.logger.error("unhandled error", metadata: ["error": .string(String(describing: error))])
            problem = Problem(.internalError, "internal error")
        }
        return try problem.response(from: request, context: context)
    }
}

/// Every request has a deadline: work still waiting by then (a database lease or query) gives
/// up and the request is answered 503, so an overloaded dependency cannot pile up waiting
/// requests. The deadline is a task-local (`RequestExpiry`) that every database operation bounds
/// its own timeout by; the handler runs in the request's own task, with no extra task or timer.
struct DeadlineMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let deadline = ContinuousClock.now + limit
        do {
            return try await RequestExpiry.$deadline.withValue(deadline) {
                try await next(request, context)
            }
        } catch let error where Self.isTimeout(error) && ContinuousClock.now >= deadline {
            // Thrown, not rendered here: the error middleware answers in the endpoint's own format.
            context.logger.warning("request deadline passed")
            throw OAuthError(.temporarilyUnavailable, "the request took too long; retry shortly", retryAfter: 1)
        }
    }

    /// A wait that gave up: the forms in which the deadline reaches this middleware.
    static func isTimeout(_ error: any Error) -> Bool {
        switch error {
        case is DeadlineExceeded, is CancellationError: true
        case let error as DatabaseError: error.kind == .unavailable
        default: false
        }
    }
}

/// Open CORS (any origin, no credentials) on the documents and endpoints browser-based MCP
/// clients call; `/authorize` and the admin API get none.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// What a browser client may read of a response: the challenge, the back-off and the limits.
    static let exposedHeaders = "WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, X-Request-Id"

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
        // Outside the error middleware, so error answers (400, 401, 404, 429, 503) carry CORS too:
        // without it a browser hides them behind a network error.
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        return response
    }
}

/// Binds `PlatformActor.current` for management API requests, so that a platform change made
/// while answering one is audited with its request id, source address and (once authenticated)
/// admin key.
struct PlatformActorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix(AdminController.prefix + "/") else { return try await next(request, context) }
        let actor = PlatformActor(requestID: context.requestID, sourceAddress: context.sourceAddress)
        return try await PlatformActor.$current.withValue(actor) {
            try await next(request, context)
        }
    }
}
