import Glibc
import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import Synchronization

/// The gRPC listener: HTTP/2 over plain TCP (swift-nio-http2), one ``GRPCCallHandler`` per stream.
///
/// Each connection's pipeline is NIO's HTTP/2 handler with its stream multiplexer, then NIO's server connection
/// manager (graceful GOAWAY on drain). Frames are at most 1 MiB and windows as large as the largest message
/// (up to 16 MiB), as grpcio configures itself, so a 4 MB message is not held up by window updates.
final class HTTP2Listener: Sendable {
    /// Per-connection HTTP/2 settings.
    struct Settings: Sendable {
        /// Our SETTINGS_MAX_FRAME_SIZE.
        var maxFrameSize = 1 << 20
        /// The inbound stream and connection window we keep open.
        var targetWindowSize = 1 << 16
        /// SETTINGS_MAX_CONCURRENT_STREAMS: calls at once on one connection (`[grpc] max_concurrent_streams`).
        var maxConcurrentStreams = 1000
    }

    /// NIO's default read buffer stops growing at 64 KiB: a 4 MB message took 64+ reads (and as many trips
    /// through the HTTP/2 handler). Reads of up to 1 MiB once a connection carries large messages; small calls
    /// keep small buffers (the allocator grows only after reads that filled the buffer, and shrinks back).
    static let largeReads = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20)

    private let serverChannel: any Channel
    private let registry: ConnectionRegistry

    /// Connections still open.
    var openConnections: Int { registry.all.count }

    /// The address the listener is bound to.
    var localAddress: SocketAddress? { serverChannel.localAddress }

    private init(serverChannel: any Channel, registry: ConnectionRegistry) {
        self.serverChannel = serverChannel
        self.registry = registry
    }

    /// Where the listener accepts connections.
    enum Address: Sendable, CustomStringConvertible {
        /// `[grpc] host:port`, when the gRPC process serves the port itself.
        case tcp(host: String, port: Int)
        /// A Unix socket (created afresh), when nginx fronts the port and passes calls here.
        case unix(path: String)

        var description: String {
            switch self {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unix(let path): return "unix:\(path)"
            }
        }
    }

    /// Binds `address` and starts accepting connections.
    static func bind(
        _ address: Address, settings: Settings, services: GRPCServices, group: any EventLoopGroup
    ) async throws -> HTTP2Listener {
        let registry = ConnectionRegistry()
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.recvAllocator, value: largeReads)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel, settings: settings, services: services)
                    registry.add(channel)
                }
            }
        let channel: any Channel
        switch address {
        case .tcp(let host, let port):
            bootstrap = bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            channel = try await bootstrap.bind(host: host, port: port).get()
        case .unix(let path):
            channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        }
        return HTTP2Listener(serverChannel: channel, registry: registry)
    }

    private static func configure(_ channel: any Channel, settings: Settings, services: GRPCServices) throws {
        let sync = channel.pipeline.syncOperations
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: nil, maxAge: nil, maxGraceTime: nil, keepalive: nil))
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        let window = min(max(settings.targetWindowSize, 1 << 16), (1 << 31) - 1)
        connection.targetWindowSize = window
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: settings.maxConcurrentStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: window),
            HTTP2Setting(parameter: .maxFrameSize, value: min(max(settings.maxFrameSize, 1 << 14), (1 << 24) - 1)),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 14),
        ]
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = window
        _ = try sync.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream,
            streamDelegate: manager.http2StreamDelegate
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                try streamChannel.pipeline.syncOperations.addHandler(GRPCCallHandler(services: services))
            }
        }
        try sync.addHandler(manager)
        try sync.addHandler(ConnectionErrorHandler(logger: services.bridge.logger))
    }

    /// Stops accepting connections and asks every open one to finish gracefully (GOAWAY: calls in flight go on,
    /// new streams are refused; a connection closes once its last stream has ended).
    func beginGracefulShutdown() {
        serverChannel.close(promise: nil)
        for channel in registry.all {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// Closes the listener and every connection now.
    func closeAll() {
        serverChannel.close(promise: nil)
        for channel in registry.all { channel.close(promise: nil) }
    }

    /// Logs an error that ends a connection (a protocol violation by the client, a reset socket), then closes it.
    private final class ConnectionErrorHandler: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame
        let logger: Logger
        init(logger: Logger) { self.logger = logger }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
                logger.debug("gRPC connection from \(context.remoteAddress.map { "\($0)" } ?? "?") reset: \(error)")
            } else {
                logger.warning("gRPC connection from \(context.remoteAddress.map { "\($0)" } ?? "?") closed on an error: \(error)")
            }
            context.close(promise: nil)
        }
    }

    /// The open connections.
    private final class ConnectionRegistry: Sendable {
        private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

        func add(_ channel: any Channel) {
            let id = ObjectIdentifier(channel)
            connections.withLock { $0[id] = channel }
            channel.closeFuture.whenComplete { [self] _ in
                _ = connections.withLock { $0.removeValue(forKey: id) }
            }
        }

        var all: [any Channel] { connections.withLock { Array($0.values) } }
    }
}
