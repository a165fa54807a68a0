import Dispatch
import Glibc
import KServeConfig
import KServeProtobuf
import Logging
import NIOCore
import NIOPosix

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
        let bridge = WorkerBridge(
            socketPath: config.socketPath, maxConcurrentCalls: options.maxConcurrentCalls,
            queueTimeout: options.queueTimeout, logger: logger)
        let (pollSeconds, pollAtto) = options.healthPollInterval.components
        let services = GRPCServices(
            bridge: bridge, lifecycle: lifecycle,
            health: HealthMonitor(
                bridge: bridge, lifecycle: lifecycle,
                pollInterval: .nanoseconds(pollSeconds * 1_000_000_000 + pollAtto / 1_000_000_000)),
            accessLog: GRPCAccessLog(logger: logger, format: config.server.accessLogFormat),
            maxReceive: config.grpc.receiveLimit, maxSend: config.grpc.sendLimit)
        var settings = HTTP2Listener.Settings()
        // Windows as large as the largest message (at most 16 MiB), so a whole message flows without waiting.
        settings.targetWindowSize = min(max(max(config.grpc.receiveLimit, config.grpc.sendLimit), 1 << 16), 16 << 20)
        settings.maxConcurrentStreams = config.grpc.maxConcurrentStreams
        let host = config.grpc.host == "localhost" ? "127.0.0.1" : config.grpc.host
        // Behind nginx (`[grpc] through_nginx`), the master names a Unix socket: nginx holds the port.
        let address: HTTP2Listener.Address = env(KServeProcessContract.grpcUnixSocketVariable)
            .flatMap { $0.isEmpty ? nil : HTTP2Listener.Address.unix(path: $0) } ?? .tcp(host: host, port: config.grpc.port)
        let listener: HTTP2Listener
        do {
            listener = try await HTTP2Listener.bind(
                address, settings: settings, services: services, group: MultiThreadedEventLoopGroup.singleton)
        } catch {
            logger.critical("the gRPC server cannot listen on \(address): \(error)")
            signals.finish()
            return KServeProcessContract.workerBootFailureExitCode
        }
        let shown: String
        if case .tcp = address, let bound = listener.localAddress {
            shown = "\(bound.ipAddress ?? host):\(bound.port ?? config.grpc.port)"
        } else if case .unix = address {
            shown = "\(address) (behind nginx on \(config.grpc.host):\(config.grpc.port), which passes ModelInfer to the workers)"
        } else {
            shown = "\(address)"
        }
        logger.info("gRPC server listening on \(shown), forwarding to \(config.socketPath) (at most \(options.maxConcurrentCalls) calls in flight)")

        let grace = Duration.milliseconds(Int64(max(0, config.server.gracePeriod) * 1000))
        var draining = false
        for await signal in signals.stream {
            if signal == SignalStream.drained {
                logger.info("drained: every call has finished")
                break
            }
            if signal == SIGQUIT || draining {
                logger.warning("stopping now (signal \(signal)); \(lifecycle.inFlight) calls in flight are dropped")
                break
            }
            draining = true
            logger.info("draining: \(lifecycle.inFlight) calls in flight; new calls get UNAVAILABLE")
            lifecycle.beginDrain()
            listener.beginGracefulShutdown()
            signals.yield(after: grace, signal: SIGQUIT)
            signals.yieldWhen(SignalStream.drained) {
                // Calls done, and every connection closed (health watches end at their next poll with
                // NOT_SERVING; idle connections close after the GOAWAY exchange).
                lifecycle.inFlight == 0 && listener.openConnections == 0
            }
        }
        signals.finish()
        listener.closeAll()
        if case .unix(let path) = address { unlink(path) }  // no socket file left in the run folder
        logger.info("gRPC server stopped")
        return 0
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

    /// Not a signal: the value delivered once a drain has finished.
    static let drained: Int32 = 0

    /// Delivers `value` once `condition` holds (checked every 20 ms), unless the stream has finished.
    func yieldWhen(_ value: Int32, _ condition: @escaping @Sendable () -> Bool) {
        let continuation = self.continuation
        Task {
            while !condition() {
                try? await Task.sleep(for: .milliseconds(20))
            }
            continuation.yield(value)
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

