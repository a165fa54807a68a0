import Dispatch
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc
import KServeConfig
import KServeProtobuf
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The gRPC process: serves `inference.GRPCInferenceService` and `grpc.health.v1.Health` on `[grpc] host:port`
/// and forwards every call to the model workers as a FastCGI request on their Unix socket.
///
/// The master starts it with `KSERVE_ROLE=grpc` (the same binary and arguments as itself) and supervises it like
/// any child. It holds no models: the workers decode the protobuf messages and run the models, so REST and gRPC
/// share one accept queue and one pool.
///
/// - SIGTERM / SIGINT: graceful drain. Health turns NOT_SERVING, new calls get UNAVAILABLE, in-flight calls finish,
///   then the process exits 0; a second signal, or `[server] grace_period` passing, stops at once.
/// - SIGQUIT: immediate exit.
/// - The master's death sends SIGTERM (`prctl(PR_SET_PDEATHSIG)`, set by the CSystemShims constructor from
///   `KSERVE_PARENT_DEATH_SIGNAL`), so the process never outlives the pool.
///
/// ```swift
/// let status = await GRPCProcess(config: config, logger: logger).run()
/// exit(status)
/// ```
public struct GRPCProcess: Sendable {
    /// Tuning of the bridge to the workers.
    public struct Options: Sendable, Hashable {
        /// Calls in flight toward the workers at most: `[grpc] max_concurrent_calls`, or when that is 0,
        /// workers x threads x 2, so every accept loop has one call in progress and one waiting in the socket's queue.
        public var maxConcurrentCalls: Int
        /// How long a call waits for one of those slots before it fails with UNAVAILABLE (`[grpc] queue_timeout`).
        public var queueTimeout: Duration
        /// How often `Health.Watch` polls the workers' readiness (default 1 s).
        public var healthPollInterval: Duration

        /// The defaults for a configuration.
        /// - Parameter config: the server configuration (`[grpc]`, `[server] workers` and `threads`).
        public init(config: ServerConfig) {
            maxConcurrentCalls = config.grpc.maxConcurrentCalls > 0
                ? config.grpc.maxConcurrentCalls : max(1, config.server.workers) * max(1, config.server.threads) * 2
            queueTimeout = .milliseconds(Int64((max(0, config.grpc.queueTimeout) * 1000).rounded()))
            healthPollInterval = .seconds(1)
        }
    }

    /// The server configuration (`[grpc]`, the worker socket, `grace_period`).
    public let config: ServerConfig
    /// The process's logger.
    public var logger: Logger
    /// Bridge tuning.
    public var options: Options

    /// Creates the gRPC process for a configuration.
    /// - Parameters:
    ///   - config: the effective server configuration.
    ///   - logger: the logger (its metadata should carry the pid).
    ///   - options: bridge tuning; `nil` for ``Options/init(config:)``.
    public init(config: ServerConfig, logger: Logger, options: Options? = nil) {
        self.config = config
        self.logger = logger
        self.options = options ?? Options(config: config)
    }

    /// Makes NIO's event-loop threads Swift concurrency's global executor in this process, so a call's handler,
    /// its transport and the resumption after the worker's answer share the event-loop threads instead of hopping
    /// to the cooperative pool and back. Opt-in with `KSERVE_GRPC_EVENT_LOOP_EXECUTOR=1`: measured on the debug
    /// build it cut the gRPC process's thread sleeps per small RPC from ~17 to ~6 but cost 10-40% more CPU per RPC
    /// (README, "Performance"), so it stays off until a release build shows it pays.
    ///
    /// Call it on the main thread before any task starts (the gRPC role's entry point does); later it does nothing.
    /// - Returns: whether the event loops now run this process's tasks.
    @discardableResult
    public static func installEventLoopExecutor() -> Bool {
        guard let value = getenv("KSERVE_GRPC_EVENT_LOOP_EXECUTOR"), String(cString: value) == "1" else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// Runs the gRPC server until it is stopped.
    /// - Returns: the process exit status: 0 after a stop, 1 when the master is already gone, 3 (the contract's
    ///   boot failure) when the server cannot listen.
    public func run() async -> Int32 {
        let logger = self.logger
        let env = { (name: String) in getenv(name).map { String(cString: $0) } }
        // PR_SET_PDEATHSIG is set before Swift starts, on the main thread, by the CSystemShims constructor from
        // KSERVE_PARENT_DEATH_SIGNAL (it must be the main thread's: this code runs on a pool thread). Here we only
        // check that the master did not die before that.
        if let masterPID = env(KServeProcessContract.masterPIDVariable).flatMap({ Int32($0) }), masterPID > 1 {
            if getppid() != masterPID {
                logger.error("the master (pid \(masterPID)) is gone; exiting")
                return 1
            }
        }

        let signals = SignalStream(signals: [SIGTERM, SIGINT, SIGQUIT])
        let lifecycle = ProcessLifecycle()
        let group = MultiThreadedEventLoopGroup.singleton
        let bridge = WorkerBridge(
            socketPath: config.socketPath, maxConcurrentCalls: options.maxConcurrentCalls,
            queueTimeout: options.queueTimeout, logger: logger)
        let maxMessageSize = config.grpc.receiveLimit
        let maxSendSize = config.grpc.sendLimit
        let host = config.grpc.host == "localhost" ? "127.0.0.1" : config.grpc.host
        let port = config.grpc.port
        let server = GRPCServer(
            transport: .http2NIOPosix(
                address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
                transportSecurity: .plaintext,
                config: .defaults {
                    $0.rpc.maxRequestPayloadSize = Self.transportPayloadLimit(maxMessageSize)
                    // HTTP/2 defaults (16 KB frames, a 64 KB window) make a 4 MB request wait for 64 window
                    // updates; let a whole message of the configured size flow in large frames (as grpcio does).
                    $0.http2.maxFrameSize = 1 << 20
                    $0.http2.targetWindowSize = min(max(maxMessageSize, 1 << 16), 16 << 20)
                },
                eventLoopGroup: group),
            services: [
                InferenceProxyService(
                    bridge: bridge, lifecycle: lifecycle, maxMessageSize: maxMessageSize, maxResponseSize: maxSendSize),
                HealthService(bridge: bridge, lifecycle: lifecycle, pollInterval: options.healthPollInterval),
            ],
            interceptors: [AccessLogInterceptor(logger: logger, format: config.server.accessLogFormat)])
        let grace = Duration.milliseconds(Int64(max(0, config.server.gracePeriod) * 1000))
        let limit = options.maxConcurrentCalls

        return await withTaskGroup(of: Int32?.self) { tasks in
            tasks.addTask {
                do {
                    try await server.serve()
                    return 0
                } catch {
                    logger.critical("the gRPC server stopped: \(error)")
                    return lifecycle.isDraining ? 0 : KServeProcessContract.workerBootFailureExitCode
                }
            }
            tasks.addTask {
                do {
                    if let listening = try await server.listeningAddress {
                        logger.info("gRPC server listening on \(listening), forwarding to \(config.socketPath) (at most \(limit) calls in flight)")
                    }
                } catch {
                    logger.critical("the gRPC server cannot listen on \(host):\(config.grpc.port): \(error)")
                }
                return nil
            }
            tasks.addTask {
                var draining = false
                for await signal in signals.stream {
                    if signal == SIGQUIT || draining {
                        logger.warning("stopping now (signal \(signal)); \(lifecycle.inFlight) calls in flight are dropped")
                        return 0
                    }
                    draining = true
                    logger.info("draining: \(lifecycle.inFlight) calls in flight; new calls get UNAVAILABLE")
                    lifecycle.beginDrain()
                    server.beginGracefulShutdown()
                    signals.yield(after: grace, signal: SIGQUIT)
                }
                return nil
            }
            var status: Int32 = 0
            while let result = await tasks.next() {
                guard let result else { continue }
                status = result
                break
            }
            signals.finish()
            tasks.cancelAll()
            logger.info("gRPC server stopped")
            return status
        }
    }
}

extension GRPCProcess {
    /// The transport's request size limit for a configured `max_message_size`: twice it plus 1 MiB (at most
    /// 4 GiB - 1, gRPC's own maximum).
    ///
    /// grpc-swift-nio-transport resets the stream of a message over its limit, so the client sees only CANCELLED.
    /// With the transport's limit above the configured one, the service sees a message that is too large and
    /// answers RESOURCE_EXHAUSTED naming the limit; only a message over twice the limit is still reset, which
    /// bounds what one call can make the process buffer.
    static func transportPayloadLimit(_ maxMessageSize: Int) -> Int {
        let (doubled, overflow) = maxMessageSize.multipliedReportingOverflow(by: 2)
        return overflow ? Int(UInt32.max) : min(Int(UInt32.max), doubled + (1 << 20))
    }
}

/// Delivers SIGTERM, SIGINT and SIGQUIT as an async stream (Dispatch signal sources; the signals are ignored by
/// the default handlers from then on).
private final class SignalStream: Sendable {
    let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let sources: [UnsafeSendableBox<any DispatchSourceSignal>]

    init(signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let continuation = self.continuation
        var sources: [UnsafeSendableBox<any DispatchSourceSignal>] = []
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            sources.append(UnsafeSendableBox(source))
        }
        self.sources = sources
    }

    /// Delivers `signal` after `delay` (the grace period's end), unless the stream has finished.
    func yield(after delay: Duration, signal: Int32) {
        let continuation = self.continuation
        Task {
            try? await Task.sleep(for: delay)
            continuation.yield(signal)
        }
    }

    /// Ends the stream and stops listening.
    func finish() {
        continuation.finish()
        for s in sources { s.value.cancel() }
    }
}

/// A value whose thread-safety the owner guarantees (Dispatch sources are thread-safe but not marked Sendable).
private struct UnsafeSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Logs one access line per call: with `[server] access_log_format` that format (the same atoms as REST; `%(s)s`
/// is the gRPC status code's number, `%(b)s` the response message's bytes, `%(h)s` the peer's address, `%(r)s`
/// `POST /inference.GRPCInferenceService/ModelInfer HTTP/2.0`, `%({x}i)s` the call's metadata); without it KServe's
/// LoggingInterceptor line (`grpc method: /inference.GRPCInferenceService/X`) with the address, status, bytes and
/// duration.
struct AccessLogInterceptor: ServerInterceptor {
    let logger: Logger
    let format: AccessLogFormat?

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let start = ContinuousClock.now
        let wallStart = wallClockSeconds()
        let method = "/\(context.descriptor.fullyQualifiedMethod)"
        let record = CallRecord()
        let metadata = request.metadata
        let peer = Self.address(context.remotePeer)
        do {
            let response = try await CallRecord.$current.withValue(record) { try await next(request, context) }
            if case .failure(let error) = response.accepted {
                log(method, error.code, peer, record, metadata, start, wallStart)
            } else {
                log(method, nil, peer, record, metadata, start, wallStart)
            }
            return response
        } catch let error as RPCError {
            log(method, error.code, peer, record, metadata, start, wallStart)
            throw error
        }
    }

    private func log(
        _ method: String, _ code: RPCError.Code?, _ peer: String, _ record: CallRecord, _ metadata: Metadata,
        _ start: ContinuousClock.Instant, _ wallStart: Int
    ) {
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let bytes = record.bytes.load(ordering: .relaxed)
        if let format {
            let entry = AccessLogEntry(
                remoteAddress: peer, method: "POST", path: method, query: "", protocolName: "HTTP/2.0",
                status: String(code.map { Status.Code($0).rawValue } ?? 0), bodyBytes: bytes, duration: seconds,
                startTime: wallStart)
            let line = format.render(
                entry, requestHeader: { metadata[stringValues: $0].first(where: { _ in true }) },
                responseHeader: { name in name == "grpc-status" ? String(code.map { Status.Code($0).rawValue } ?? 0) : nil })
            logger.info("\(line)")
        } else {
            let status = code.map { "\($0)" } ?? "ok"
            logger.info("\(peer) grpc method: \(method) \(status) \(bytes)B \((seconds * 1_000_000).rounded() / 1000)ms")
        }
    }

    /// `127.0.0.1` from grpc-swift's `ipv4:127.0.0.1:5000` (`::1` from `ipv6:[::1]:5000`), else the text as it is.
    static func address(_ peer: String) -> String {
        if peer.hasPrefix("ipv4:") {
            let rest = peer.dropFirst(5)
            return String(rest[..<(rest.lastIndex(of: ":") ?? rest.endIndex)])
        }
        if peer.hasPrefix("ipv6:["), let close = peer.firstIndex(of: "]") {
            return String(peer[peer.index(peer.startIndex, offsetBy: 6)..<close])
        }
        return peer.isEmpty ? "-" : peer
    }
}

/// What the access line learns from inside a call: the response message's size.
final class CallRecord: Sendable {
    let bytes = Atomic<Int>(0)
    /// The record of the call this task serves, set by ``AccessLogInterceptor``.
    @TaskLocal static var current: CallRecord?
}

/// Unix time in whole seconds.
func wallClockSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    return Int(ts.tv_sec)
}
