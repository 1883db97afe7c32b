import Hummingbird
import Logging
import NIOCore

/// The request context of every route: the request id and the socket peer, from which the
/// source address is derived (trusted proxies only).
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The socket peer's address, before any forwarding header is considered.
    public let peerAddress: String?
    /// The id logged on every line of this request and echoed in `X-Request-Id`.
    public var requestID: String = ""
    /// The client's address: the peer, or the forwarded one when the peer is a trusted proxy.
    public var sourceAddress: String?
    /// The source address as per-address limits count it (IPv6 per prefix; see `SourceAddress`).
    public var limitAddress: String
    /// The host the client asked for, without port, lower-cased.
    public var requestHost: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
        self.sourceAddress = peerAddress
        self.limitAddress = SourceAddress.limitKey(peerAddress)
    }

    /// Bodies are read with an explicit limit per endpoint; this is the server-wide ceiling.
    public var maxUploadSize: Int { 1024 * 1024 }
}
