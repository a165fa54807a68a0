import CSystemShims
import Glibc
import KServeGRPC
import KServeMaster
import KServeRemote
import KServeWorker
import Logging

/// Builds a model of a configured kind from its `[[models]]` entry.
public typealias ModelFactory = @Sendable (ModelConfig) throws -> BaseKServeModel

/// The model server (the seed's `ModelServer`): one call starts the whole pool.
///
/// The same executable plays every role: started by hand it is the master (config, socket, workers, nginx,
/// supervision); the master re-executes it with `KSERVE_ROLE=worker` for each model worker. So a user's own
/// executable that registers its models and calls ``start(models:)`` gets the pool, REST and metrics.
///
/// ```swift
/// let server = try ModelServer(commandLine: CommandLine.arguments)
/// try await server.start(models: [MyModel(name: "my-model")])
/// ```
public final class ModelServer: Sendable {
    /// The effective configuration (file plus command-line overrides).
    public let config: ServerConfig
    /// Command-line arguments that were not ours (logged by the master, as KServe ignores unknown flags).
    public let unknownArguments: [String]
    /// What the command line asked for: serve, signal the running master (`-s`), or test the config (`-t`).
    public let action: CommandLineAction
    private let kinds = Locked<[String: ModelFactory]>([:])
    private let registered = Locked<[(BaseKServeModel, String?)]>([])
    private let exceptionHandler = Locked<(@Sendable (any Error) -> Void)?>(nil)

    /// Creates a server from a loaded configuration.
    public init(config: ServerConfig, unknownArguments: [String] = [], action: CommandLineAction = .serve) {
        self.config = config
        self.unknownArguments = unknownArguments
        self.action = action
    }

    /// Creates a server from KServe-style command-line arguments (`-c FILE`, `--http_port`, `--workers`, ...).
    /// Unknown flags are ignored, as KServe does.
    /// - Throws: ``ConfigError`` naming the file and key for a bad configuration.
    ///
    /// A worker or gRPC process started by the master parses the master's snapshot of the file
    /// (``KServeProcessContract/configSnapshotVariable``), so it runs exactly the config its master validated.
    public convenience init(commandLine arguments: [String]) throws {
        let (path, overrides) = try KServeCommandLine.parse(Array(arguments.dropFirst()))
        let env = ProcessEnvironment()
        let isChild = (env[KServeProcessContract.roleVariable] ?? "master") != "master"
        let snapshot = isChild ? env[KServeProcessContract.configSnapshotVariable] : nil
        let config: ServerConfig
        do {
            if let path {
                config = try ServerConfig.load(path: path, overrides: overrides, snapshot: snapshot)
            } else {
                config = try ServerConfig.builtIn(overrides: overrides)
            }
        } catch where overrides.action == .testConfiguration && !isChild {
            // `-t` answers like nginx -t: the verdict and status 1, not a start-up failure.
            printToStandardError("kserve-master: configuration test failed: \(error)")
            exit(1)
        }
        self.init(config: config, unknownArguments: overrides.unknown, action: overrides.action)
    }

    /// Registers a model kind that `[[models]]` entries can name (`kind = "echo"`).
    public func registerKind(_ kind: String, factory: @escaping ModelFactory) {
        kinds.withLock { $0[kind] = factory }
    }

    /// The seed's `register_model`: serves `model` under `name` (default: its own name); call again for aliases.
    public func registerModel(_ model: BaseKServeModel, name: String? = nil) {
        registered.withLock { $0.append((model, name)) }
    }

    /// The seed's `register_exception_handler`: called, in the worker process, with every error that escapes a
    /// request as a server error (5xx; REST and gRPC) or a model's lifecycle (a failed load). The default handler
    /// logs it. 4xx answers (the client's mistakes) are not exceptions and do not reach it.
    public func registerExceptionHandler(_ handler: @escaping @Sendable (any Error) -> Void) {
        exceptionHandler.withLock { $0 = handler }
    }

    /// `--model_name` when it named no configured model: the name KServe's args give the model your own server
    /// registers in code (`MyModel(name: server.modelName ?? "my-model")`, as KServe's `args.model_name`).
    public var modelName: String? { config.pendingModelName ?? config.models.first?.name }

    /// Builds the repository: models passed to `start` and registered in code, then every configured model.
    /// - Throws: ``ConfigError`` for an unknown kind or bad kind options.
    func makeRepository(models: [BaseKServeModel], config: ServerConfig? = nil) throws -> ModelRepository {
        let config = config ?? self.config
        let repository = ModelRepository()
        for model in models { repository.update(model) }
        for (model, name) in registered.withLock({ $0 }) { repository.update(model, name: name) }
        let factories = kinds.withLock { $0 }
        for entry in config.models {
            guard let factory = factories[entry.kind] else {
                let known = factories.keys.sorted().joined(separator: ", ")
                throw ConfigError(file: entry.sourceFile, key: "[[models]] \(entry.name) kind", reason: "unknown kind \"\(entry.kind)\" (known kinds: \(known))")
            }
            var entry = entry
            let predictorKeys = entry.options.keys.filter { PredictorOptions.keys.contains($0) }.sorted()
            let predictor = try PredictorOptions.extract(from: &entry)
            let model = try factory(entry)
            if let m = model as? InferenceModel, entry.inputs != nil || entry.outputs != nil {
                m.declareMetadata(inputs: entry.inputs, outputs: entry.outputs)
            }
            if let predictor {
                guard let m = model as? Model else {
                    throw entry.optionError(
                        predictorKeys.first ?? "predictor_host",
                        "kind \"\(entry.kind)\" does not forward to a predictor (its model is not a Model)")
                }
                m.predictorConfig = predictor
            }
            repository.update(model, name: entry.name)
        }
        try applyPendingModelFlags(config: config, to: repository)
        if let root = config.modelRepositoryDirectory {
            repository.setResolver { name in try Self.resolveModel(name, root: root, factories: factories) }
        }
        return repository
    }

    /// Multi-model serving: the model `<root>/<name>` that `POST /v2/repository/models/{name}/load` names, its
    /// kind found from its files as for `--model_dir`.
    static func resolveModel(_ name: String, root: String, factories: [String: ModelFactory]) throws -> BaseKServeModel {
        guard ModelFormat.isSafeModelName(name) else {
            throw KServeError.invalidInput("invalid model name \"\(name)\": use letters, digits, '.', '_' and '-'")
        }
        let path = root.hasSuffix("/") ? root + name : root + "/" + name
        guard access(path, F_OK) == 0 else {
            throw KServeError(.modelNotFound, "Model with name \(name) does not exist (no \(path) in the model folder).")
        }
        let format: ModelFormat
        do {
            format = try ModelFormat.detect(at: path, explicit: nil)
        } catch let error as ConfigError {
            throw KServeError.invalidInput("cannot load model \(name): \(error.reason)")
        }
        guard let factory = factories[format.kind] else {
            throw KServeError.invalidInput("cannot load model \(name): this server has no \(format.kind) kind")
        }
        do {
            return try factory(ModelConfig(name: name, kind: format.kind, options: ["path": .string(path)], sourceFile: path))
        } catch let error as ConfigError {
            throw KServeError.invalidInput("cannot load model \(name): \(error)")
        }
    }

    /// `--model_name` (and the predictor flags) that named no configured entry: they describe the only model
    /// there is, typically the one a user's own server registers in code (a transformer started by KServe with
    /// `--model_name X --predictor_host Y`). That model is served under the flag's name.
    /// - Throws: ``ConfigError`` when there are several models and none has that name.
    func applyPendingModelFlags(config: ServerConfig, to repository: ModelRepository) throws {
        guard config.pendingModelName != nil || !config.pendingModelOptions.isEmpty else { return }
        let models = repository.models
        let target: (name: String, model: BaseKServeModel)
        if let name = config.pendingModelName, let found = models.first(where: { $0.name == name }) {
            target = (found.name, found.model)
        } else if models.count == 1, let only = models.first {
            target = (only.name, only.model)
        } else {
            let flag = config.pendingModelName != nil ? "--model_name" : "--" + (config.pendingModelOptions.keys.sorted().first ?? "")
            throw ConfigError(
                file: "command line", key: flag,
                reason: models.isEmpty
                    ? "there is no model to apply it to: give --model_dir, a config with [[models]], or register a model in code"
                    : "no model is named \(config.pendingModelName.map { "\"\($0)\"" } ?? "by --model_name") and there are several (\(models.map(\.name).joined(separator: ", "))): name one of them")
        }
        if !config.pendingModelOptions.isEmpty {
            var entry = ModelConfig(name: target.name, kind: "code", options: config.pendingModelOptions, sourceFile: "command line")
            if let predictor = try PredictorOptions.extract(from: &entry) {
                guard let m = target.model as? Model else {
                    throw ConfigError(file: "command line", key: "--predictor_host", reason: "model \(target.name) does not forward to a predictor")
                }
                m.predictorConfig = predictor
            }
        }
        if let name = config.pendingModelName, name != target.name {
            repository.rename(target.name, to: name)
        }
    }

    /// Gives every forwarding model (a transformer) the process's pooled predictor client, unless it has its own.
    func installRemoteClient(in repository: ModelRepository) {
        var client: RemotePredictorClient?
        for (_, model) in repository.models {
            guard let m = model as? Model, m.remoteClient == nil, m.predictorConfig.forwards else { continue }
            if client == nil {
                client = RemotePredictorClient(options: RemotePredictorClient.Options(
                    maxResponseBytes: config.http.maxBodySize,
                    limits: DecodingLimits(maxDepth: config.limits.maxJSONDepth, maxTensorBytes: config.limits.maxTensorBytes)))
            }
            m.remoteClient = client
        }
    }

    /// The seed's `start(models)`: runs this process's role until the server stops, then exits the process.
    ///
    /// As the master it validates every model (constructing, not loading), then starts the pool; as a worker
    /// it loads the models and serves. With `-s SIGNAL` it signals the running master and exits; with `-t` it
    /// validates the config and the models and exits 0 or 1. Never returns.
    public func start(models: [BaseKServeModel] = []) async -> Never {
        let env = ProcessEnvironment()
        let role = env[KServeProcessContract.roleVariable] ?? "master"
        var logger = Logger(label: "kserve.\(role)")
        logger[metadataKey: "pid"] = "\(getpid())"
        if let id = env[KServeProcessContract.workerIDVariable] { logger[metadataKey: "worker"] = "\(id)" }
        if role == "master", case .signal(let command) = action {
            exit(signalRunningMaster(command))
        }
        let repository: ModelRepository
        do {
            repository = try makeRepository(models: models)
            if repository.models.isEmpty && config.modelRepositoryDirectory == nil {
                throw ConfigError(file: config.configFile, reason: "no models configured or registered")
            }
        } catch {
            if role == "master", action == .testConfiguration {
                printToStandardError("kserve-master: configuration test failed: \(error)")
                exit(1)
            }
            logger.critical("\(error)")
            exit(2)
        }
        Self.nameProcess(role: role, workerID: env[KServeProcessContract.workerIDVariable])
        if role != "master" {
            // Tensors of several MB are allocated and freed on every request: keep them in the heap (32 MB
            // threshold) instead of mmap + page faults + munmap each time; trim only beyond 64 MB free.
            kserve_tune_malloc(32 << 20, 64 << 20)
        }
        switch role {
        case KServeProcessContract.grpcRole:
            exit(await GRPCProcess(config: config, logger: logger).run())
        case "worker":
            installRemoteClient(in: repository)
            let registered = exceptionHandler.withLock { $0 }
            let errorLogger = logger
            let handler: @Sendable (any Error, String) -> Void = { error, context in
                if let registered {
                    registered(error)
                } else {
                    errorLogger.error("exception in \(context): \(type(of: error)): \(error)")
                }
            }
            let status = await WorkerProcess(
                config: config, repository: repository, logger: logger, exceptionHandler: handler).run()
            exit(status)
        case "master":
            var docsFolder: String?
            do {
                if config.http.enableDocsURL { docsFolder = try SwaggerUIAssets.locate(config: config) }
            } catch {
                if action == .testConfiguration {
                    printToStandardError("kserve-master: configuration test failed: \(error)")
                    exit(1)
                }
                logger.critical("\(error)")
                exit(1)
            }
            if action == .testConfiguration {
                do {
                    try MasterProcess(config: config, arguments: CommandLine.arguments, logger: logger).testConfiguration()
                } catch {
                    printToStandardError("kserve-master: configuration test failed: \(error)")
                    exit(1)
                }
                let calls = config.grpcCallsInFlight
                print("kserve-master: the configuration \(config.configFile ?? "(built in: no config file)") is valid: "
                    + "\(config.server.workers) workers\(config.server.workersAuto ? " (auto)" : ""), "
                    + "\(config.server.threads) accept loops per worker (max_asyncio_workers), "
                    + "gRPC \(config.grpc.enable ? "on, \(calls) calls in flight (max_threads)" : "off"), "
                    + "\(repository.models.count) models (\(repository.models.map(\.name).joined(separator: ", ")))")
                for line in Self.settingsReport(config: config, docsFolder: docsFolder) { print("  " + line) }
                exit(0)
            }
            do {
                let master = MasterProcess(
                    config: config, arguments: CommandLine.arguments, logger: logger, unknownArguments: unknownArguments,
                    validate: { [self] candidate in
                        let models = try self.makeRepository(models: models, config: candidate)
                        if models.models.isEmpty && candidate.modelRepositoryDirectory == nil {
                            throw ConfigError(file: candidate.configFile, reason: "no models configured or registered")
                        }
                    })
                let status = try master.run()
                exit(status)
            } catch {
                logger.critical("\(error)")
                exit(1)
            }
        default:
            logger.critical("unknown \(KServeProcessContract.roleVariable)=\(role): this build has no such role")
            exit(2)
        }
    }

    /// What `-t` prints after its verdict: the settings KServe's flags change, one per line (`key: value`).
    static func settingsReport(config: ServerConfig, docsFolder: String?) -> [String] {
        let g = config.grpc
        return [
            "max_asyncio_workers ([server] threads): \(config.server.threads)",
            "max_threads ([grpc] max_concurrent_calls): \(g.enable ? String(config.grpcCallsInFlight) : "- (gRPC off)")",
            "grpc_max_receive_message_length: \(g.receiveLimit)",
            "grpc_max_send_message_length: \(g.sendLimit)",
            "log_level: \(config.server.logLevel)",
            "log_file: \(config.logFilePath ?? "- (stderr)")",
            "configure_logging: \(config.server.configureLogging)",
            "enable_latency_logging: \(config.server.enableLatencyLogging)",
            "access_log_format: \(config.server.accessLogFormat?.text ?? "- (built in: address method path status bytes duration)")",
            "enable_docs_url: \(config.http.enableDocsURL)\(docsFolder.map { " (Swagger UI from \($0))" } ?? "")",
        ]
    }

    /// Names this process's role in `ps`, `top` and `kubectl exec ... ps`, as nginx and php-fpm do: the `comm`
    /// name (`kserve-master`, `kserve-worker`, `kserve-grpc`; children are re-executed through /proc/self/exe, so
    /// it would read `exe`) and, for the children, the command line (`kserve: worker 3`, `kserve: grpc`) written
    /// over their argv. The master keeps its command line.
    static func nameProcess(role: String, workerID: String?) {
        let comm: String
        var title: String?
        switch role {
        case "worker":
            comm = "kserve-worker"
            title = "kserve: worker \(workerID ?? "?")"
        case KServeProcessContract.grpcRole:
            comm = "kserve-grpc"
            title = "kserve: grpc"
        default:
            comm = "kserve-master"
        }
        if let title {
            kserve_set_process_title(CommandLine.argc, CommandLine.unsafeArgv, comm, title)
        } else {
            kserve_set_process_title(CommandLine.argc, CommandLine.unsafeArgv, comm, nil)
        }
    }

    /// `-s reload|stop|quit|reopen`: sends the signal to the pid in `<run>/kserve-master.pid`. Returns the exit
    /// status (0 sent, 1 no master running).
    private func signalRunningMaster(_ command: ControlCommand) -> Int32 {
        let signal: Int32
        switch command {
        case .reload: signal = SIGHUP
        case .stop: signal = SIGTERM
        case .quit: signal = SIGQUIT
        case .reopen: signal = SIGUSR1
        }
        let path = config.runDirectory + "/kserve-master.pid"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            printToStandardError("kserve-master: no master is running with this config (cannot open \(path))")
            return 1
        }
        // A live master holds an exclusive flock on its pid file; a leftover file is not locked.
        let locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        guard locked, let pid = pid_t(text.filter { $0.isNumber }), pid > 1 else {
            printToStandardError("kserve-master: no master is running with this config (\(path) is stale)")
            return 1
        }
        guard kill(pid, signal) == 0 else {
            printToStandardError("kserve-master: cannot signal the master (pid \(pid)): \(String(cString: strerror(errno)))")
            return 1
        }
        print("kserve-master: sent \(command.rawValue) to the master (pid \(pid))")
        return 0
    }

    /// The seed's `stop(sig)`: asks this process to stop as if it had received `signal`.
    public func stop(signal: Int32 = SIGTERM) {
        kill(getpid(), signal)
    }
}

/// Writes a line to stderr (without the non-Sendable `stderr` global).
func printToStandardError(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// Sets up swift-log for a server process at the configured level.
///
/// Also pins the time zone for log timestamps: with `TZ` unset, glibc re-checks `/etc/localtime` (a `stat`) on every
/// timestamp, two per request; `TZ=:/etc/localtime` reads it once (same zone, inherited by every child).
public func bootstrapLogging(level: String) {
    bootstrapServerLogging(level: level)
}

/// Sets up swift-log for a server process from its configuration: `[server] log_level`, unless
/// `configure_logging` is false (KServe's `--configure_logging=false`): then the log handler your executable
/// bootstrapped (or swift-log's default) stays. `log_file` applies either way (the processes' stderr is the file).
public func bootstrapLogging(config: ServerConfig) {
    guard config.server.configureLogging else { return }
    bootstrapServerLogging(level: config.server.logLevel)
}

private func bootstrapServerLogging(level: String) {
    if getenv("TZ") == nil, access("/etc/localtime", R_OK) == 0 {
        setenv("TZ", ":/etc/localtime", 0)
    }
    let parsed = Logger.Level(rawValue: level.lowercased()) ?? (level.lowercased() == "warn" ? .warning : .info)
    LoggingSystem.bootstrap { label in ServerLogHandler(label: label, level: parsed) }
}
