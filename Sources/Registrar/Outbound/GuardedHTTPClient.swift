import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The one HTTP client for everything Registrar fetches on someone else's say-so: client ID
/// metadata documents, a client's `jwks_uri`. A URL named by a client must never become a way
/// into the server's own network (SSRF; Keycloak CVE-2026-1180, MITREid CVE-2021-26715), so:
///
/// - https only, no userinfo, no fragment;
/// - the host is resolved once, every address is checked against the RFC 6890 special-use
///   ranges (`SpecialUseAddress`), and the connection is made to a checked address, never by
///   name again (no second resolution to rebind);
/// - redirects are not followed and only 200 counts (draft-ietf-oauth-client-id-metadata-document-01 §4);
/// - the body is capped (5 KiB by default, §6.6), the whole exchange is timed (5 s), and each
///   origin has a bounded number of fetches in flight.
///
/// The only ways around the address check are the operator's: an explicit allowlist of ranges
/// (`--outbound-allow`, empty by default) and an extra CA file, which tests use to serve real
/// TLS documents on loopback.
public final class GuardedHTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Ranges fetched from even though they are special-use (tests, an operator's own hosts).
        public var allowedRanges: [IPRange] = []
        /// PEM certificates trusted besides the system's roots.
        public var extraCAFile: String?
        public var timeout: Duration = .seconds(5)
        public var maximumBodyBytes = 5 * 1024
        public var maximumFetchesPerOrigin = 8
        public init() {}
    }

    public struct Response: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: [UInt8]
    }

    let configuration: Configuration
    let resolver: any HostResolver
    let tls: NIOSSLContext
    let group: any EventLoopGroup
    let inFlight = Mutex<[String: Int]>([:])

    public init(configuration: Configuration, resolver: any HostResolver = SystemHostResolver.shared,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let file = configuration.extraCAFile { tls.additionalTrustRoots = [.file(file)] }
        self.tls = try NIOSSLContext(configuration: tls)
        self.configuration = configuration
        self.resolver = resolver
        self.group = group
    }

    /// GETs `url`. A 200 answers with its body; with `notModifiedAllowed` (a conditional
    /// revalidation) a 304 does too, with none. Everything else is an `OutboundFailure`.
    /// - Parameter maximumBodyBytes: a larger cap than the configured one, for answers that are
    ///   known to be larger (an identity provider's key set); nil: the configured cap.
    public func get(_ url: String, headers extra: [(String, String)] = [], notModifiedAllowed: Bool = false,
                    maximumBodyBytes: Int? = nil) async throws(OutboundFailure) -> Response {
        try await send(.GET, url, headers: extra, body: nil, notModifiedAllowed: notModifiedAllowed, maximumBodyBytes: maximumBodyBytes)
    }

    /// POSTs a form (`application/x-www-form-urlencoded`, RFC 6749 §3.2) to `url`, as a client
    /// of an identity provider's token endpoint; the same guard and rules as `get`.
    public func post(_ url: String, form: [(String, String)], headers extra: [(String, String)] = [],
                     maximumBodyBytes: Int? = nil) async throws(OutboundFailure) -> Response {
        let body = FormParameters(form).encoded
        return try await send(.POST, url, headers: extra + [("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8),
                       notModifiedAllowed: false, maximumBodyBytes: maximumBodyBytes)
    }

    func send(_ method: HTTPMethod, _ url: String, headers extra: [(String, String)], body: [UInt8]?, notModifiedAllowed: Bool,
              maximumBodyBytes: Int?) async throws(OutboundFailure) -> Response {
        let limit = maximumBodyBytes ?? configuration.maximumBodyBytes
        let deadline = ContinuousClock.now + configuration.timeout
        let target = try Target(url)
        try enter(target.origin)
        defer { leave(target.origin) }
        let response: Response
        do {
            response = try await withDeadline(configuration.timeout, "fetch from \(target.host)") { [self] in
                // Every address passed the check; they are tried in order until one connects
                // (`localhost` may resolve to ::1 first where only 127.0.0.1 listens).
                let addresses = try await checkedAddresses(target)
                var failure: (any Error)?
                for address in addresses {
                    let promise = group.next().makePromise(of: Response.self)
                    let channel: any Channel
                    do {
                        channel = try await connect(target, to: address, answering: promise, limit: limit,
                                                    within: max(.milliseconds(1), deadline - .now))
                    } catch {
                        promise.fail(error)
                        failure = error
                        continue
                    }
                    return try await exchange(on: channel, method, target, body: body, answer: promise, headers: extra)
                }
                throw failure ?? OutboundFailure.unresolvable(target.host)
            }
        } catch let failure as OutboundFailure {
            throw failure
        } catch is DeadlineExceeded {
            throw .timedOut
        } catch {
            throw .connectionFailed(String(describing: error))
        }
        guard response.status == 200 || (notModifiedAllowed && response.status == 304) else { throw .status(response.status) }
        return response
    }

    /// The resolved addresses, once every one has passed the check: a name with one private
    /// address among public ones is refused as a whole.
    func checkedAddresses(_ target: Target) async throws -> [SocketAddress] {
        let addresses: [String]
        if let literal = target.literalAddress {
            addresses = [literal]
        } else {
            addresses = try await resolver.addresses(of: target.host)
        }
        guard !addresses.isEmpty else { throw OutboundFailure.unresolvable(target.host) }
        for address in addresses {
            let bracketed = address.contains(":") ? "[\(address)]" : address
            if let range = SpecialUseAddress.classify(host: bracketed),
               !configuration.allowedRanges.contains(where: { $0.contains(address) }) {
                throw OutboundFailure.refusedAddress(host: target.host, range: range)
            }
        }
        return try addresses.map { try SocketAddress(ipAddress: $0, port: target.port) }
    }

    /// A TLS connection to a checked address, its pipeline ready for one exchange whose answer
    /// completes `promise`.
    /// - Parameter time: what is left of the fetch's time: a connect is not cancelled by the
    ///   deadline, so it is given no more than that.
    func connect(_ target: Target, to address: SocketAddress, answering promise: EventLoopPromise<Response>,
                 limit: Int, within time: Duration) async throws -> any Channel {
        let tls = self.tls
        let serverName = target.literalAddress == nil ? target.host : nil
        return try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(time))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // SNI and certificate checks use the URL's host; the socket uses the checked address.
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: limit))
                }
            }
            .connect(to: address).get()
    }

    func exchange(on channel: any Channel, _ method: HTTPMethod, _ target: Target, body: [UInt8]?,
                  answer promise: EventLoopPromise<Response>, headers extra: [(String, String)]) async throws -> Response {
        defer { channel.close(promise: nil) }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: target.requestTarget)
        head.headers.add(name: "Host", value: target.hostHeader)
        head.headers.add(name: "User-Agent", value: "Registrar")
        head.headers.add(name: "Accept", value: "application/json")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in extra { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            // Through the pipeline, so that the collector completes the answer on its event
            // loop at once: closing alone would wait for the peer's TLS close_notify.
            channel.pipeline.fireErrorCaught(CancellationError())
        }
    }

    func enter(_ origin: String) throws(OutboundFailure) {
        let limit = configuration.maximumFetchesPerOrigin
        let admitted = inFlight.withLock { counts in
            guard counts[origin, default: 0] < limit else { return false }
            counts[origin, default: 0] += 1
            return true
        }
        guard admitted else { throw .busy(origin) }
    }

    func leave(_ origin: String) {
        inFlight.withLock { counts in
            let left = counts[origin, default: 1] - 1
            counts[origin] = left > 0 ? left : nil
        }
    }

    /// A URL this client will fetch: https, a host, no userinfo or fragment (URIParser refuses
    /// both, and anything a browser might read differently).
    struct Target: Sendable {
        let host: String
        let port: Int
        /// Path and query, `/` when the URL has neither.
        let requestTarget: String
        /// The host as an address, when the URL names one (WHATWG forms such as `0x7f.1` included).
        let literalAddress: String?

        var origin: String { "\(host):\(port)" }
        var hostHeader: String { port == 443 ? host : "\(host):\(port)" }

        init(_ url: String) throws(OutboundFailure) {
            let parts: URIParser.Parts
            do { parts = try URIParser.parse(url) } catch { throw .invalidURL("\(error)") }
            guard parts.scheme == "https" else { throw .notHTTPS }
            guard var host = parts.host, !host.isEmpty else { throw .invalidURL("no host") }
            if host.hasSuffix(".") { host.removeLast() }
            self.host = host
            self.port = parts.port ?? 443
            self.requestTarget = parts.rest.isEmpty ? "/" : (parts.rest.hasPrefix("?") ? "/" + parts.rest : parts.rest)
            if host.hasPrefix("[") && host.hasSuffix("]") {
                let inner = String(host.dropFirst().dropLast())
                guard SpecialUseAddress.parseIPv6(inner) != nil else { throw .invalidURL("bad IPv6 address") }
                literalAddress = inner
            } else if let v4 = SpecialUseAddress.parseIPv4(host) {
                literalAddress = "\(v4 >> 24).\(v4 >> 16 & 0xFF).\(v4 >> 8 & 0xFF).\(v4 & 0xFF)"
            } else {
                literalAddress = nil
            }
        }
    }
}

/// Why a fetch gave nothing usable. The descriptions are for error pages and logs: they name the
/// host and the rule, never a body.
public enum OutboundFailure: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidURL(String)
    case notHTTPS
    case unresolvable(String)
    case refusedAddress(host: String, range: SpecialUseAddress)
    case connectionFailed(String)
    /// Any answer but 200, redirects included: they are not followed.
    case status(Int)
    case tooLarge(limit: Int)
    case timedOut
    /// Too many fetches from this origin are in flight.
    case busy(String)

    public var description: String {
        switch self {
        case .invalidURL(let why): "the URL is not usable (\(why))"
        case .notHTTPS: "only https URLs are fetched"
        case .unresolvable(let host): "\(host) does not resolve"
        case .refusedAddress(let host, let range): "\(host) resolves to a \(range.rawValue) address, which is never fetched"
        case .connectionFailed: "the connection failed"
        case .status(let status) where (300..<400).contains(status): "the server answered a redirect (\(status)), which is not followed"
        case .status(let status): "the server answered \(status), not 200"
        case .tooLarge(let limit): "the response is larger than \(limit) bytes"
        case .timedOut: "the server did not answer in time"
        case .busy(let origin): "too many fetches from \(origin) are under way"
        }
    }
}

/// Collects one response: the head, then the body up to the cap. Answers other than 200 and 304
/// complete at the head, so that a large error page is never read.
final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<GuardedHTTPClient.Response>
    let limit: Int
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    var completed = false

    init(promise: EventLoopPromise<GuardedHTTPClient.Response>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !completed else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            let status = Int(head.status.code)
            if status != 200 && status != 304 {
                succeed()
            } else if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                fail(.tooLarge(limit: limit), context: context)
            }
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= limit else { return fail(.tooLarge(limit: limit), context: context) }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            succeed()
        }
    }

    func succeed() {
        guard let head, !completed else { return }
        completed = true
        promise.succeed(GuardedHTTPClient.Response(status: Int(head.status.code), headers: head.headers, body: body))
    }

    func fail(_ failure: OutboundFailure, context: ChannelHandlerContext) {
        guard !completed else { return }
        completed = true
        promise.fail(failure)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connectionFailed("closed before the response ended"), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.connectionFailed(String(describing: error)), context: context)
    }
}
