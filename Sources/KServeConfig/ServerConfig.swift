#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
/// The whole server configuration: the TOML config file with the command-line overrides applied.
///
/// ```swift
/// let (path, overrides) = try KServeCommandLine.parse(Array(CommandLine.arguments.dropFirst()))
/// let config = try ServerConfig.load(path: path, overrides: overrides)
/// ```
///
/// Relative paths in the file resolve against the file's folder (``socketPath``, ``runDirectory``,
/// ``nginxTemplatePath``); sizes are nginx-style strings (`"16m"`, `"512k"`, `"1g"`) or integers in bytes;
/// durations are seconds. Every unknown key and every bad value is a ``ConfigError`` naming the file and the key.
public struct ServerConfig: Sendable, Hashable {
    /// The absolute path of the TOML file this was loaded from; `nil` for a config built in code.
    public var configFile: String?
    /// `[server]`: process pool, socket, run folder, shutdown, logging.
    public var server: ServerSection
    /// `[http]`: the HTTP front end (nginx).
    public var http: HTTPSection
    /// `[grpc]`: the gRPC front end.
    public var grpc: GRPCSection
    /// `[limits]`: request limits enforced by the workers.
    public var limits: LimitsSection
    /// The `[[models]]` entries, in file order.
    public var models: [ModelConfig]
    /// `--model_name` when no configured entry has that name and no `--model_dir` was given: the name to serve
    /// the only model under (a model registered in code, e.g. a transformer started with KServe's usual args).
    public var pendingModelName: String?
    /// `--model_dir`, absolute: where `POST /v2/repository/models/{name}/load` looks for `<dir>/<name>` when the
    /// name was not configured at start (KServe's multi-model serving). `nil` without the flag.
    public var modelRepositoryDirectory: String?
    /// The predictor flags (`predictor_host`, ...) for that model, when no configured entry took them.
    public var pendingModelOptions: [String: ConfigValue] = [:]

    /// Creates a config from its sections (every section defaults to the documented defaults).
    public init(
        configFile: String? = nil, server: ServerSection = .init(), http: HTTPSection = .init(),
        grpc: GRPCSection = .init(), limits: LimitsSection = .init(), models: [ModelConfig] = []
    ) {
        self.configFile = configFile
        self.server = server
        self.http = http
        self.grpc = grpc
        self.limits = limits
        self.models = models
    }

    /// The folder relative paths resolve against: the config file's folder, or the current directory.
    public var baseDirectory: String {
        if let configFile { return PathUtilities.dirname(configFile) }
        return PathUtilities.currentDirectory()
    }

    /// The run folder (`[server] run_dir`) as an absolute path. When the config names none, a private folder
    /// under `$TMPDIR` (or `/tmp`) for this user and config: `kserve-<uid>-<hash>`, created with mode 0700, so
    /// nothing is ever written beside the config or the model (a read-only `/mnt/models` works).
    public var runDirectory: String {
        if server.runDir.isEmpty { return Self.privateRunDirectory(key: configFile ?? "port \(http.port)") }
        return PathUtilities.resolve(server.runDir, against: baseDirectory)
    }

    /// Whether ``runDirectory`` is the private default (created 0700 and checked to be this user's own).
    public var usesPrivateRunDirectory: Bool { server.runDir.isEmpty }

    /// `$TMPDIR/kserve-<uid>-<hash>`: one folder per user and config file (or per HTTP port without a file), the
    /// same in the master, its children and `kserve-master -s`.
    static func privateRunDirectory(key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in key.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let tag = String(hash & 0xffff_ffff, radix: 16)
        var base = "/tmp"
        if let t = getenv("TMPDIR"), t.pointee != 0 {
            let text = String(cString: t)
            if text.hasPrefix("/") { base = text }
        }
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return "\(base)/kserve-\(getuid())-\(tag)"
    }

    /// The FastCGI Unix socket (`[server] socket`, relative to the run folder) as an absolute path.
    public var socketPath: String { PathUtilities.resolve(server.socket, against: runDirectory) }

    /// The gRPC process's Unix socket when nginx fronts the gRPC port (`<run_dir>/grpc.sock`).
    public var grpcBackendSocketPath: String { runDirectory + "/grpc.sock" }

    /// `[server] onnxruntime_library` as an absolute path, or nil to search the usual places.
    public var onnxruntimeLibraryPath: String? {
        server.onnxruntimeLibrary.isEmpty ? nil : PathUtilities.resolve(server.onnxruntimeLibrary, against: baseDirectory)
    }
    /// The log file (`[server] log_file`) as an absolute path, or nil when logging to stderr.
    public var logFilePath: String? {
        server.logFile.isEmpty ? nil : PathUtilities.resolve(server.logFile, against: baseDirectory)
    }

    /// The nginx config template (`[http] nginx_template`) as an absolute path, or `nil` for the template built
    /// into the binary (the default).
    public var nginxTemplatePath: String? {
        http.nginxTemplate.isEmpty ? nil : PathUtilities.resolve(http.nginxTemplate, against: baseDirectory)
    }
}

/// `[server]`: the worker pool, its socket and run folder, shutdown and logging.
public struct ServerSection: Sendable, Hashable {
    /// `workers`: number of FastCGI worker processes (default 2); `"auto"` (or `--workers auto`) is one per CPU
    /// this process may use (the cgroup limit `cpu.max`, then the affinity mask), resolved at load.
    public var workers: Int = 2
    /// Whether `workers` was `"auto"`.
    public var workersAuto: Bool = false
    /// `threads`: accept loops per worker, one FastCGI request each (default 1).
    public var threads: Int = 1
    /// `socket`: the FastCGI Unix socket, relative to the run folder (default `"kserve.sock"`).
    public var socket: String = "kserve.sock"
    /// `run_dir`: the run folder (socket, pid files, rendered nginx config and its temp folders), relative to the
    /// config file's folder; `""` (default) is a private folder under `$TMPDIR` (see `runDirectory`).
    public var runDir: String = ""
    /// `grace_period`: seconds a graceful stop waits for workers and nginx before SIGKILL (default 30).
    public var gracePeriod: Double = 30
    /// `enable_latency_logging`: log KServe's per-request latency line (default true).
    public var enableLatencyLogging: Bool = true
    /// `log_level`: `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical` (default `"info"`).
    public var logLevel: String = "info"
    /// `listen_backlog`: `listen()` backlog of the FastCGI socket (default 511; capped by `net.core.somaxconn`).
    public var listenBacklog: Int = 511
    /// `max_requests`: a worker stops taking requests after this many and is replaced (recycling against leaks);
    /// 0 = never (default 0).
    public var maxRequests: Int = 0
    /// `max_requests_jitter`: each worker's limit is `max_requests + random(0...max_requests_jitter)`, so that
    /// workers do not all recycle at once (default 0).
    public var maxRequestsJitter: Int = 0
    /// `request_timeout`: seconds one request may take; the client then gets nginx's JSON 504 and the master
    /// kills the worker (SIGTERM, SIGKILL shortly after) and replaces it; 0 = no limit (default 0). Also nginx's
    /// `fastcgi_read_timeout` (300 s when 0).
    public var requestTimeout: Double = 0
    /// `slow_request_threshold`: requests taking longer are logged (warning: model, path, duration) and counted
    /// as slow requests in the status page; 0 = off (default 0).
    public var slowRequestThreshold: Double = 0
    /// `status_path`: the pool status page (JSON; `?full` lists every worker), answered by any worker;
    /// `""` turns it off (default `"/status"`).
    public var statusPath: String = "/status"
    /// `respawn_backoff_max`: the longest wait before restarting a child that keeps dying soon after its start;
    /// the wait starts at 0.1 s and doubles (default 10).
    public var respawnBackoffMax: Double = 10
    /// `log_file`: a file every process (master, workers, nginx) logs to instead of the inherited stderr,
    /// relative to the config file's folder; reopened on SIGUSR1 (log rotation); `""` = stderr (default).
    public var logFile: String = ""
    /// `onnxruntime_library`: the ONNX Runtime shared library to load first, relative to the config file's folder;
    /// `""` (default) searches the usual places (see `ONNXRuntimeLibrary`).
    public var onnxruntimeLibrary: String = ""
    /// `access_log_format` (KServe's `--access_log_format`, gunicorn / asgi-logger atoms): the access line of
    /// every REST request (written by the worker) and gRPC call (written by the gRPC process); `nil` (default,
    /// `""` in the file) is this server's own line: address, method, path, status, bytes, duration.
    public var accessLogFormat: AccessLogFormat?
    /// `configure_logging` (KServe's `--configure_logging`): whether the server installs its own log handler
    /// (default true); false leaves swift-log as your executable bootstrapped it.
    public var configureLogging: Bool = true

    /// The defaults.
    public init() {}
}

/// `[http]`: the HTTP front end.
public struct HTTPSection: Sendable, Hashable {
    /// `host`: the address nginx listens on (default `"0.0.0.0"`).
    public var host: String = "0.0.0.0"
    /// `port`: the HTTP port (default 8080; `--http_port` overrides it).
    public var port: Int = 8080
    /// `nginx`: whether the master starts nginx (default true). When false, run your own nginx with the rendered
    /// `kserve-locations.conf` from the run folder.
    public var nginx: Bool = true
    /// `max_body_size`: nginx `client_max_body_size` in bytes (default `"64m"`; 0 means no limit).
    public var maxBodySize: Int = 64 << 20
    /// `nginx_binary`: the nginx executable; a bare name is searched in `PATH` and the sbin folders, a path with
    /// a `/` resolves against the config file's folder (default `"nginx"`).
    public var nginxBinary: String = "nginx"
    /// `nginx_template`: an nginx config template to use instead of the one built into the binary, relative to
    /// the config file's folder; `kserve-locations.conf` beside it is rendered too. `""` (default): built in.
    public var nginxTemplate: String = ""
    /// `nginx_workers`: nginx `worker_processes` (default 1; with `workers = "auto"` and no `nginx_workers`, the
    /// same count as the workers; `"auto"` always follows the CPU budget).
    public var nginxWorkers: Int = 1
    /// Whether the config file set `nginx_workers` (otherwise it follows `workers = "auto"`).
    public var nginxWorkersExplicit: Bool = false
    /// `enable_docs_url` (KServe's `--enable_docs_url`): serve the Swagger UI page `GET /docs` over
    /// `/openapi.json` (always served) (default false).
    public var enableDocsURL: Bool = false
    /// `docs_assets`: the folder holding the Swagger UI files (`swagger-ui-bundle.js`, `swagger-ui.css`, ...),
    /// relative to the config file's folder; `""` (default) searches the usual places (see `SwaggerUIAssets`).
    public var docsAssets: String = ""

    /// The defaults.
    public init() {}
}

/// `[grpc]`: the gRPC front end.
public struct GRPCSection: Sendable, Hashable {
    /// `enable`: start the gRPC server (default false; `--enable_grpc` overrides it).
    public var enable: Bool = false
    /// `host`: the gRPC listen address (default `"0.0.0.0"`).
    public var host: String = "0.0.0.0"
    /// `port`: the gRPC port (default 8081; `--grpc_port` overrides it).
    public var port: Int = 8081
    /// `max_message_size`: largest gRPC message in bytes, both ways (default `"64m"`).
    public var maxMessageSize: Int = 64 << 20
    /// `max_receive_message_length` (KServe's `--grpc_max_receive_message_length`): largest request message;
    /// `nil` = `max_message_size`.
    public var maxReceiveMessageLength: Int?
    /// `max_send_message_length` (KServe's `--grpc_max_send_message_length`): largest response message;
    /// `nil` = `max_message_size`.
    public var maxSendMessageLength: Int?
    /// The request limit in force.
    public var receiveLimit: Int { maxReceiveMessageLength ?? maxMessageSize }
    /// The response limit in force.
    public var sendLimit: Int { maxSendMessageLength ?? maxMessageSize }
    /// `max_concurrent_calls`: gRPC calls in flight toward the workers at most; 0 means workers x threads x 2
    /// (default 0).
    public var maxConcurrentCalls: Int = 0
    /// `max_concurrent_streams`: calls at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS; a client
    /// opening more waits or is refused by its own library) (default 1000).
    public var maxConcurrentStreams: Int = 1000
    /// `queue_timeout`: seconds a gRPC call waits for one of those slots before it fails with UNAVAILABLE
    /// (default 30).
    public var queueTimeout: Double = 30
    /// `through_nginx`: when the master runs nginx, nginx listens on the gRPC port (HTTP/2 without TLS) and
    /// passes `ModelInfer` calls straight to the workers over FastCGI, like REST requests; the gRPC process serves
    /// the other methods behind it, on a Unix socket in the run folder. `false`: the gRPC process listens on the
    /// port and forwards every call itself (always the case with `[http] nginx = false`) (default true).
    public var throughNginx: Bool = true

    /// The defaults.
    public init() {}
}

/// `[limits]`: request limits the workers enforce.
public struct LimitsSection: Sendable, Hashable {
    /// `max_json_depth`: deepest JSON nesting accepted in a request body (default 100).
    public var maxJSONDepth: Int = 100
    /// `max_tensor_bytes`: largest single tensor in bytes (default `"1g"`).
    public var maxTensorBytes: Int = 1 << 30
    /// `max_header_length`: largest request header line in bytes, also nginx's `large_client_header_buffers`
    /// size (default `"8k"`).
    public var maxHeaderLength: Int = 8 << 10

    /// The defaults.
    public init() {}
}
