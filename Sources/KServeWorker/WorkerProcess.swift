import CFastCGI
import CSystemShims
import Glibc
public import KServeConfig
public import KServeModel
import KServeProtocol
import KServeScoreboard
public import Logging

/// One model worker process: loads every model, then answers FastCGI requests until told to stop.
///
/// Started by the master re-executing its own binary with `KSERVE_ROLE=worker` and the listening socket on the
/// descriptor named by `KSERVE_LISTEN_FD` (3).
public struct WorkerProcess {
    public let config: ServerConfig
    public let repository: ModelRepository
    public var logger: Logger

    /// Called with every error that escapes a request (5xx) or a model's lifecycle (load, start, stop), and where.
    public var exceptionHandler: (@Sendable (any Error, String) -> Void)?

    public init(config: ServerConfig, repository: ModelRepository, logger: Logger,
                exceptionHandler: (@Sendable (any Error, String) -> Void)? = nil) {
        self.config = config
        self.repository = repository
        self.logger = logger
        self.exceptionHandler = exceptionHandler
    }

    /// Runs the worker; returns its exit status.
    public func run() async -> Int32 {
        setReopenableLogFile(config.logFilePath)
        installWorkerSignalHandlers()
        let env = ProcessEnvironment()
        let masterPID = env[KServeProcessContract.masterPIDVariable].flatMap { Int32($0) } ?? getppid()
        if masterPID > 1 {
            // The master is gone, and nginx with it: nothing in flight can be answered any more, exit at once.
            _ = kserve_set_parent_death_signal(SIGQUIT)
            if getppid() != masterPID {
                logger.error("the master (pid \(masterPID)) is gone; exiting")
                return 1
            }
        }
        guard let fdText = env[KServeProcessContract.listenFDVariable], let listenFD = Int32(fdText), listenFD >= 0 else {
            logger.error("KSERVE_LISTEN_FD is not set: a worker is started by kserve-master, not by hand")
            return KServeProcessContract.workerBootFailureExitCode
        }
        var st = stat()
        guard fstat(listenFD, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else {
            logger.error("KSERVE_LISTEN_FD=\(listenFD) is not a socket")
            return KServeProcessContract.workerBootFailureExitCode
        }
        _ = fcntl(listenFD, F_SETFD, FD_CLOEXEC)
        guard FCGX_Init() == 0 else {
            logger.error("FCGX_Init failed")
            return KServeProcessContract.workerBootFailureExitCode
        }

        let stateDir = PoolStateDirectory.path(runDirectory: config.runDirectory, masterPID: masterPID)
        let pool = PoolMembership(
            config: config, stateDirectory: stateDir,
            workerID: env[KServeProcessContract.workerIDVariable].flatMap { Int($0) }, listenFD: listenFD,
            logger: logger)
        let storage: any CounterStorage = SharedCounterStorage(directory: stateDir + "/metrics") ?? InMemoryCounterStorage()
        let store = SharedModelStates(directory: stateDir)
        let metrics = ServerMetrics(storage: storage)
        metrics.addExposition { pool.prometheus() }
        let latency = config.server.enableLatencyLogging ? LatencyLogger() : nil

        // Load every model; a failed load leaves it registered and not ready, with the reason.
        for (name, model) in repository.models {
            if let m = model as? Model {
                m.addObserver(metrics)
                if let latency { m.addObserver(latency) }
            }
            do {
                try await repository.load(name)
                logger.info("model \(name) loaded")
            } catch {
                logger.error("model \(name) failed to load: \(model.notReadyReason ?? "\(error)")")
                exceptionHandler?(error, "load of model \(name)")
            }
        }
        if let store { await repository.converge(with: store) }
        // Loading parses whole model files into temporary trees; give the freed heap back to the system so the
        // idle worker's RSS is its models, not their parse garbage.
        _ = kserve_malloc_trim()

        var versions: [String: String] = [:]
        for m in config.models { versions[m.name] = m.version }
        var options = DataPlaneOptions(
            limits: DecodingLimits(maxDepth: config.limits.maxJSONDepth, maxTensorBytes: config.limits.maxTensorBytes),
            modelVersions: versions, maxBodySize: config.http.maxBodySize)
        options.poolLoaded = { pool.poolLoaded() }
        options.exceptionHandler = exceptionHandler
        options.statusPath = config.server.statusPath
        let dataPlane = DataPlane(repository: repository, metrics: metrics, options: options, stateStore: store)
        var documentation = APIDocumentationOptions(statusPath: config.server.statusPath)
        if config.http.enableDocsURL {
            do {
                documentation.docsFiles = try SwaggerUIAssets.load(config: config).mapValues {
                    StaticFile(contentType: $0.contentType, bytes: $0.bytes)
                }
            } catch {
                logger.error("/docs is not served: \(error)")
            }
        }
        let router = RESTRouter(dataPlane: dataPlane, extraRoutes: [{ pool.statusRoute($0) }], documentation: documentation)
        var accessLogger = logger
        accessLogger[metadataKey: "log"] = "access"
        let server = FastCGIServer(
            listenFD: listenFD, router: router, threads: config.server.threads, maxBodySize: config.http.maxBodySize,
            logger: accessLogger, accessLog: logger.logLevel <= .info,
            onRequest: { pool.requestHook(loop: $0, method: $1, path: $2, begin: $3) })
        server.grpcWire = GRPCWireCall(maxReceive: config.grpc.receiveLimit, maxSend: config.grpc.sendLimit)
        server.accessLogFormat = config.server.accessLogFormat
        pool.markReady()
        var readyMetadata: Logger.Metadata = ["threads": "\(config.server.threads)"]
        if pool.requestLimit > 0 { readyMetadata["max_requests"] = "\(pool.requestLimit)" }
        logger.info("worker ready", metadata: readyMetadata)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            var tid = pthread_t()
            let box = Unmanaged.passRetained(ContinuationBox(server: server, continuation: continuation))
            pthread_create(&tid, nil, { arg in
                let b = Unmanaged<ContinuationBox>.fromOpaque(arg!).takeRetainedValue()
                b.server.run()
                b.continuation.resume()
                return nil
            }, box.toOpaque())
            pthread_detach(tid)
        }
        pool.markExiting()
        // The seed's order at a graceful stop: stop(), then stop_engine() for an engine model.
        for (_, model) in repository.models {
            await model.stop()
            if model.engine { await model.stopEngine() }
        }
        logger.info("worker stopped")
        return 0
    }
}

private final class ContinuationBox: @unchecked Sendable {
    let server: FastCGIServer
    let continuation: CheckedContinuation<Void, Never>
    init(server: FastCGIServer, continuation: CheckedContinuation<Void, Never>) {
        self.server = server
        self.continuation = continuation
    }
}

/// Reads environment variables without Foundation.
public struct ProcessEnvironment: Sendable {
    public init() {}
    public subscript(name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

/// Logs KServe's latency line per call (`kserve.trace`), when `enable_latency_logging` is on.
final class LatencyLogger: ModelObserver {
    let logger = Logger(label: "kserve.trace")
    func record(model: String, timings: PhaseTimings, verb: InferenceVerb, requestID: String?) {
        func ms(_ s: Double) -> String { "\((s * 1e12).rounded() / 1e9)" }
        logger.info(
            "requestId: \(requestID ?? "N.A."), preprocess_ms: \(ms(timings.preprocess)), explain_ms: \(ms(timings.explain)), predict_ms: \(ms(timings.predict)), postprocess_ms: \(ms(timings.postprocess))")
    }
}
