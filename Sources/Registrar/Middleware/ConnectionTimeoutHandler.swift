import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// How long a client may take on an HTTP/1 connection before it is closed, so that slow or
/// stalled clients (slowloris) cannot hold connections open when the server is exposed without
/// a proxy in front.
public struct ConnectionTimeouts: Sendable, Equatable {
    /// From the first byte of a request until its complete head (request line and headers).
    public var header: Duration
    /// The longest pause allowed between two pieces of a request body.
    public var read: Duration
    /// A connection with no request in flight (before the first one, between keep-alive ones).
    public var idle: Duration

    public init(header: Duration = .seconds(10), read: Duration = .seconds(20), idle: Duration = .seconds(60)) {
        self.header = header
        self.read = read
        self.idle = idle
    }
}

/// Enforces the header and read timeouts of `ConnectionTimeouts` (the idle timeout is the HTTP/1
/// channel's own). It sits after the HTTP decoder, so it sees request heads and body parts; to
/// know when a request's first byte arrives it puts a small watcher at the front of the
/// pipeline, which sees the raw bytes. A timeout closes the connection: the client was too slow
/// to deserve an answer, and no handler has started for its request yet.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State {
        /// No request is being read; the next byte starts one.
        case awaitingRequest
        /// Bytes of a request arrived, its head is not complete yet.
        case readingHead
        /// The head arrived; its body is being read.
        case readingBody
        /// The request is read; the server is answering it.
        case answering
    }

    let timeouts: ConnectionTimeouts
    private(set) var state = State.awaitingRequest
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeouts: ConnectionTimeouts) {
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        try? context.pipeline.syncOperations.addHandler(RawBytesWatcher(owner: self), position: .first)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    /// Called by the watcher, on the event loop, for every read of raw bytes.
    func bytesArrived() {
        guard state == .awaitingRequest else { return }
        state = .readingHead
        startTimer(timeouts.header)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            state = .readingBody
            startTimer(timeouts.read)
        case .body:
            startTimer(timeouts.read)
        case .end:
            state = .answering
            cancelTimer()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), state == .answering {
            // Bytes of a pipelined request that came while answering are the idle timeout's.
            state = .awaitingRequest
        }
        context.write(data, promise: promise)
    }

    private func startTimer(_ delay: Duration) {
        cancelTimer()
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
            timer = nil
            guard state == .readingHead || state == .readingBody else { return }
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

/// Sees the raw bytes before the HTTP decoder does and tells its owner that some arrived.
private final class RawBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private weak var owner: ConnectionTimeoutHandler?

    init(owner: ConnectionTimeoutHandler) {
        self.owner = owner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner?.bytesArrived()
        context.fireChannelRead(data)
    }
}
