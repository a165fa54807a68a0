import Glibc
import KServeMaster
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
    private let kinds = Locked<[String: ModelFactory]>([:])
    private let registered = Locked<[(BaseKServeModel, String?)]>([])
    private let exceptionHandler = Locked<(@Sendable (any Error) -> Void)?>(nil)

    /// Creates a server from a loaded configuration.
    public init(config: ServerConfig, unknownArguments: [String] = []) {
        self.config = config
        self.unknownArguments = unknownArguments
    }

    /// Creates a server from KServe-style command-line arguments (`-c FILE`, `--http_port`, `--workers`, ...).
    /// Unknown flags are ignored, as KServe does.
    /// - Throws: ``ConfigError`` naming the file and key for a bad configuration.
    public convenience init(commandLine arguments: [String]) throws {
        let (path, overrides) = try KServeCommandLine.parse(Array(arguments.dropFirst()))
        self.init(config: try ServerConfig.load(path: path, overrides: overrides), unknownArguments: overrides.unknown)
    }

    /// Registers a model kind that `[[models]]` entries can name (`kind = "echo"`).
    public func registerKind(_ kind: String, factory: @escaping ModelFactory) {
        kinds.withLock { $0[kind] = factory }
    }

    /// The seed's `register_model`: serves `model` under `name` (default: its own name); call again for aliases.
    public func registerModel(_ model: BaseKServeModel, name: String? = nil) {
        registered.withLock { $0.append((model, name)) }
    }

    /// The seed's `register_exception_handler`: called with errors that escape a request (logged by default).
    public func registerExceptionHandler(_ handler: @escaping @Sendable (any Error) -> Void) {
        exceptionHandler.withLock { $0 = handler }
    }

    /// Builds the repository: models passed to `start` and registered in code, then every configured model.
    /// - Throws: ``ConfigError`` for an unknown kind or bad kind options.
    func makeRepository(models: [BaseKServeModel]) throws -> ModelRepository {
        let repository = ModelRepository()
        for model in models { repository.update(model) }
        for (model, name) in registered.withLock({ $0 }) { repository.update(model, name: name) }
        let factories = kinds.withLock { $0 }
        for entry in config.models {
            guard let factory = factories[entry.kind] else {
                let known = factories.keys.sorted().joined(separator: ", ")
                throw ConfigError(file: entry.sourceFile, key: "[[models]] \(entry.name) kind", reason: "unknown kind \"\(entry.kind)\" (known kinds: \(known))")
            }
            let model = try factory(entry)
            if let m = model as? InferenceModel, entry.inputs != nil || entry.outputs != nil {
                m.declareMetadata(inputs: entry.inputs, outputs: entry.outputs)
            }
            repository.update(model, name: entry.name)
        }
        return repository
    }

    /// The seed's `start(models)`: runs this process's role until the server stops, then exits the process.
    ///
    /// As the master it validates every model (constructing, not loading), then starts the pool; as a worker
    /// it loads the models and serves. Never returns.
    public func start(models: [BaseKServeModel] = []) async -> Never {
        let env = ProcessEnvironment()
        let role = env[KServeProcessContract.roleVariable] ?? "master"
        var logger = Logger(label: "kserve.\(role)")
        logger[metadataKey: "pid"] = "\(getpid())"
        if let id = env[KServeProcessContract.workerIDVariable] { logger[metadataKey: "worker"] = "\(id)" }
        let repository: ModelRepository
        do {
            repository = try makeRepository(models: models)
            if repository.models.isEmpty { throw ConfigError(file: config.configFile, reason: "no models configured or registered") }
        } catch {
            logger.critical("\(error)")
            exit(2)
        }
        switch role {
        case "worker":
            let status = await WorkerProcess(config: config, repository: repository, logger: logger).run()
            exit(status)
        default:
            do {
                let master = MasterProcess(
                    config: config, arguments: CommandLine.arguments, logger: logger, unknownArguments: unknownArguments)
                PoolStateDirectory.prepare(runDirectory: config.runDirectory, masterPID: getpid())
                let status = try master.run()
                PoolStateDirectory.remove(runDirectory: config.runDirectory, masterPID: getpid())
                exit(status)
            } catch {
                logger.critical("\(error)")
                exit(1)
            }
        }
    }

    /// The seed's `stop(sig)`: asks this process to stop as if it had received `signal`.
    public func stop(signal: Int32 = SIGTERM) {
        kill(getpid(), signal)
    }
}

/// Sets up swift-log for a server process at the configured level.
public func bootstrapLogging(level: String) {
    let parsed = Logger.Level(rawValue: level.lowercased()) ?? (level.lowercased() == "warn" ? .warning : .info)
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = parsed
        return handler
    }
}
