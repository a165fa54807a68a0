#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

/// The KServe model-server flags given on the command line; each one set wins over the config file.
public struct CommandLineOverrides: Sendable, Hashable {
    /// `--http_port N` -> `[http] port`.
    public var httpPort: Int?
    /// `--grpc_port N` -> `[grpc] port`.
    public var grpcPort: Int?
    /// `--workers N` -> `[server] workers`.
    public var workers: Int?
    /// `--enable_grpc BOOL` -> `[grpc] enable`.
    public var enableGRPC: Bool?
    /// `--enable_latency_logging BOOL` -> `[server] enable_latency_logging`.
    public var enableLatencyLogging: Bool?
    /// `--model_name X`: the model the other model flags describe. With `--model_dir`, the model served from that
    /// folder (added to the configured ones, or replacing the entry of that name); without, the configured entry of
    /// that name, or the only model there is (configured or registered in code), served under this name.
    public var modelName: String?
    /// `--model_dir DIR`: serve the model in DIR (its format found from the files, or `--model_format`).
    public var modelDir: String?
    /// `--model_format NAME`: the ServingRuntime's format name for `--model_dir` (onnx, xgboost, lightgbm).
    public var modelFormat: String?
    /// `--run_dir DIR` -> `[server] run_dir`.
    public var runDir: String?
    /// `--workers auto`: as many workers as CPUs this process may use (cgroup limit, then affinity).
    public var workersAuto: Bool = false
    /// `--max_threads N` (KServe's gRPC thread pool) -> `[grpc] max_concurrent_calls`: gRPC calls in flight.
    public var maxThreads: Int?
    /// `--max_asyncio_workers N` (KServe's pool for model code) -> `[server] threads`: accept loops per worker.
    public var maxAsyncioWorkers: Int?
    /// `--grpc_max_receive_message_length N` -> `[grpc] max_receive_message_length`.
    public var grpcMaxReceiveMessageLength: Int?
    /// `--grpc_max_send_message_length N` -> `[grpc] max_send_message_length`.
    public var grpcMaxSendMessageLength: Int?
    /// `KSERVE_LOGLEVEL` (environment, as KServe's images) -> `[server] log_level`.
    public var logLevel: String?
    /// `--access_log_format FORMAT` (gunicorn / asgi-logger atoms) -> `[server] access_log_format`.
    public var accessLogFormat: AccessLogFormat?
    /// `--configure_logging BOOL` -> `[server] configure_logging`.
    public var configureLogging: Bool?
    /// `--enable_docs_url BOOL` -> `[http] enable_docs_url`.
    public var enableDocsURL: Bool?
    /// `--log_config_file FILE`: a JSON object of logging keys (see `ServerConfig.applyLogConfigFile`).
    public var logConfigFile: String?
    /// KServe's transformer flags (`--predictor_host`, `--predictor_protocol`, `--predictor_use_ssl`,
    /// `--predictor_request_timeout_seconds`, `--predictor_request_retries`, `--enable_predictor_health_check`),
    /// as the `[[models]]` keys of the same names they set on the first entry (the `--model_name` model).
    public var modelOptions: [String: ConfigValue] = [:]
    /// Arguments that are not ours (unknown flags and their values, stray words), in order; log them.
    public var unknown: [String]
    /// What to do: serve (default), signal the running master (`-s`), or test the config (`-t`).
    public var action: CommandLineAction = .serve

    /// Creates overrides; every flag defaults to "not given".
    public init(
        httpPort: Int? = nil, grpcPort: Int? = nil, workers: Int? = nil, enableGRPC: Bool? = nil,
        enableLatencyLogging: Bool? = nil, modelName: String? = nil, modelDir: String? = nil, unknown: [String] = []
    ) {
        self.httpPort = httpPort
        self.grpcPort = grpcPort
        self.workers = workers
        self.enableGRPC = enableGRPC
        self.enableLatencyLogging = enableLatencyLogging
        self.modelName = modelName
        self.modelDir = modelDir
        self.unknown = unknown
    }
}

/// What `kserve-master` was asked to do, nginx-style.
public enum CommandLineAction: Sendable, Hashable {
    /// Run the server (no `-s`, no `-t`).
    case serve
    /// `-s reload|stop|quit|reopen`: signal the master running with this config (through its pid file), exit.
    case signal(ControlCommand)
    /// `-t`: validate the config and construct every model, print the verdict, exit 0 or 1.
    case testConfiguration
}

/// The commands of `kserve-master -s`, each one signal to the running master.
public enum ControlCommand: String, Sendable, Hashable, CaseIterable {
    /// SIGHUP: re-read the config and replace the workers one by one.
    case reload
    /// SIGTERM: graceful stop.
    case stop
    /// SIGQUIT: fast stop.
    case quit
    /// SIGUSR1: reopen the log files.
    case reopen
}

/// Thrown by ``KServeCommandLine/parse(_:)`` for `-h` / `--help`: print ``text`` and exit 0.
public struct CommandLineHelpRequested: Error, Sendable, CustomStringConvertible {
    /// The usage text.
    public var text: String
    /// The usage text.
    public var description: String { text }
}

/// The `kserve-master` command line, with KServe's `parse_known_args` semantics.
///
/// `-c/--config FILE` (optional: without it the built-in defaults apply), `--http_port N`, `--grpc_port N`, `--workers N`, `--enable_grpc BOOL`,
/// `--enable_latency_logging BOOL` (BOOL as Python's `strtobool`: true/false, 1/0, yes/no, on/off, y/n, t/f),
/// `--model_name X`, `--model_dir DIR`, `--model_format F`, `--run_dir DIR`. Both `--flag value` and `--flag=value` work (`-c FILE`, `-c=FILE`,
/// `-cFILE`); a repeated flag takes its last value (KServe concatenates a ServingRuntime's and an
/// InferenceService's args); unknown flags and their values are returned in ``CommandLineOverrides/unknown``
/// instead of failing. Unlike argparse, abbreviated flags (`--http` for `--http_port`) are not recognised.
public enum KServeCommandLine {
    /// Parses the arguments (without `argv[0]`).
    /// - Parameter args: `CommandLine.arguments.dropFirst()`.
    /// - Returns: The config file path as given and the overrides.
    /// - Throws: ``ConfigError`` (file `"command line"`, key = the flag) for a missing `-c`, a flag without its
    ///   value or a bad value; ``CommandLineHelpRequested`` for `-h` / `--help`.
    public static func parse(_ args: [String]) throws -> (configPath: String?, overrides: CommandLineOverrides) {
        var forwarded: [String] = []
        var setAside: [String] = []
        for arg in args {
            if arg.hasPrefix("-c") || arg.hasPrefix("-s"), arg.count > 2, !arg.hasPrefix("-c="), !arg.hasPrefix("-s=") {
                // argparse's attached short value: -cFILE, -sreload
                forwarded.append(String(arg.prefix(2)))
                forwarded.append(String(arg.dropFirst(2)))
            } else if arg.hasPrefix("-s="), arg.count > 3 {
                forwarded.append("-s")
                forwarded.append(String(arg.dropFirst(3)))
            } else if arg.hasPrefix("-"), !arg.hasPrefix("--"), arg.count > 2, !arg.hasPrefix("-c=") {
                // an unknown single-dash word (-abc): argparse leaves it alone, argument-parser would split it
                setAside.append(arg)
            } else {
                forwarded.append(arg)
            }
        }
        let parsed: KServeArguments
        do {
            parsed = try KServeArguments.parse(forwarded)
        } catch {
            if KServeArguments.exitCode(for: error) == .success {
                throw CommandLineHelpRequested(text: KServeArguments.helpMessage(columns: 100))
            }
            let message = KServeArguments.message(for: error)
            let flags = [
                "--config", "--http_port", "--grpc_port", "--workers", "--enable_grpc", "--enable_latency_logging",
                "--model_name", "--model_dir", "--model_format", "--run_dir", "--max_threads", "--max_asyncio_workers",
                "--grpc_max_receive_message_length", "--grpc_max_send_message_length", "--predictor_host", "--predictor_protocol", "--predictor_use_ssl",
                "--predictor_request_timeout_seconds", "--predictor_request_retries",
                "--access_log_format", "--configure_logging", "--enable_docs_url", "--log_config_file",
            ]
            var flag = flags.first { message.contains("'\($0)") }
            if flag == nil, message.contains("'-c") || message.contains("--config") { flag = "-c/--config" }
            if flag == nil, message.contains("'-s") { flag = "-s" }
            if flag == "--config" { flag = "-c/--config" }
            throw ConfigError(file: "command line", key: flag, reason: message)
        }
        let config = parsed.config
        if let config, config.isEmpty {
            throw ConfigError(
                file: "command line", key: "-c/--config",
                reason: "empty: give the TOML config file, e.g. kserve-master -c conf/kserve.conf")
        }
        try refuseUnsupported(parsed.unknown + setAside)
        var o = CommandLineOverrides(unknown: parsed.unknown + setAside)
        if let level = getenv("KSERVE_LOGLEVEL").map({ String(cString: $0) }), !level.isEmpty {
            let normalized = level.lowercased() == "warn" ? "warning" : level.lowercased()
            guard ValueParsing.logLevels.contains(normalized) else {
                throw ConfigError(file: "environment", key: "KSERVE_LOGLEVEL",
                                  reason: "expected one of \(ValueParsing.logLevels.joined(separator: ", ")), got \(quoted(level))")
            }
            o.logLevel = normalized
        }
        o.maxThreads = try count(parsed.maxThreads, "--max_threads", 1...65536)
        o.maxAsyncioWorkers = try count(parsed.maxAsyncioWorkers, "--max_asyncio_workers", 1...1024)
        o.grpcMaxReceiveMessageLength = try count(parsed.grpcMaxReceiveMessageLength, "--grpc_max_receive_message_length", 1...(1 << 31))
        o.grpcMaxSendMessageLength = try count(parsed.grpcMaxSendMessageLength, "--grpc_max_send_message_length", 1...(1 << 31))
        if let text = parsed.accessLogFormat, !text.isEmpty {
            do {
                o.accessLogFormat = try AccessLogFormat(parsing: text)
            } catch {
                throw ConfigError(file: "command line", key: "--access_log_format", reason: error.description)
            }
        }
        o.configureLogging = try bool(parsed.configureLogging, "--configure_logging")
        o.enableDocsURL = try bool(parsed.enableDocsURL, "--enable_docs_url")
        if let file = parsed.logConfigFile {
            guard !file.isEmpty else { throw bad("--log_config_file", "a file", file) }
            o.logConfigFile = file
        }
        if let name = parsed.signal {
            guard let command = ControlCommand(rawValue: name) else {
                throw bad("-s", "one of " + ControlCommand.allCases.map(\.rawValue).joined(separator: ", "), name)
            }
            guard !parsed.test else {
                throw ConfigError(file: "command line", key: "-t", reason: "-t and -s cannot be combined")
            }
            o.action = .signal(command)
        } else if parsed.test {
            o.action = .testConfiguration
        }
        o.httpPort = try port(parsed.httpPort, "--http_port")
        o.grpcPort = try port(parsed.grpcPort, "--grpc_port")
        if let text = parsed.workers {
            if text.lowercased() == "auto" {
                o.workersAuto = true
            } else {
                guard let n = ValueParsing.integer(text), (1...1024).contains(n) else {
                    throw bad("--workers", "a positive integer or auto", text)
                }
                o.workers = n
            }
        }
        o.enableGRPC = try bool(parsed.enableGRPC, "--enable_grpc")
        o.enableLatencyLogging = try bool(parsed.enableLatencyLogging, "--enable_latency_logging")
        if let name = parsed.modelName {
            guard !name.isEmpty, !name.contains("/"), !name.contains(where: { $0.isWhitespace }) else {
                throw bad("--model_name", "a model name without \"/\" or spaces", name)
            }
            o.modelName = name
        }
        if let host = parsed.predictorHost { o.modelOptions["predictor_host"] = .string(host) }
        if let text = parsed.predictorProtocol {
            guard ["v1", "v2", "grpc-v2"].contains(text) else { throw bad("--predictor_protocol", "v1, v2 or grpc-v2", text) }
            o.modelOptions["predictor_protocol"] = .string(text)
        }
        if let b = try bool(parsed.predictorUseSSL, "--predictor_use_ssl") { o.modelOptions["predictor_use_ssl"] = .bool(b) }
        if let text = parsed.predictorRequestTimeoutSeconds {
            guard let v = Double(text), v.isFinite, v > 0 else {
                throw bad("--predictor_request_timeout_seconds", "a positive number of seconds", text)
            }
            o.modelOptions["predictor_request_timeout_seconds"] = .double(v)
        }
        if let text = parsed.predictorRequestRetries {
            guard let n = ValueParsing.integer(text), n >= 0 else {
                throw bad("--predictor_request_retries", "a non-negative integer", text)
            }
            o.modelOptions["predictor_request_retries"] = .int(n)
        }
        if parsed.enablePredictorHealthCheck { o.modelOptions["enable_predictor_health_check"] = .bool(true) }
        if let dir = parsed.modelDir {
            guard !dir.isEmpty else { throw bad("--model_dir", "a folder", dir) }
            o.modelDir = dir
        }
        if let format = parsed.modelFormat {
            guard ModelFormat(rawValue: format.lowercased()) != nil else {
                throw bad("--model_format", "one of " + ModelFormat.allCases.map(\.rawValue).joined(separator: ", "), format)
            }
            o.modelFormat = format.lowercased()
        }
        if let dir = parsed.runDir {
            guard !dir.isEmpty, !dir.contains("\0") else { throw bad("--run_dir", "a folder", dir) }
            o.runDir = dir
        }
        return (config, o)
    }

    /// The usage text printed for `--help`.
    public static var helpText: String { KServeArguments.helpMessage(columns: 100) }

    private static func bad(_ flag: String, _ expected: String, _ got: String) -> ConfigError {
        ConfigError(file: "command line", key: flag, reason: "expected \(expected), got \(quoted(got))")
    }

    private static func count(_ text: String?, _ flag: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let n = ValueParsing.integer(text), range.contains(n) else {
            throw bad(flag, "an integer from \(range.lowerBound) to \(range.upperBound)", text)
        }
        return n
    }

    /// KServe 0.21 flags this server does not take, each with why: refused, never silently ignored.
    public static let refusedFlags: [String: String] = [
        "--ssl_certfile": "TLS ends at nginx or the service mesh here: terminate it there (KServe's own TLS is not used)",
        "--ssl_keyfile": "TLS ends at nginx or the service mesh here: terminate it there (KServe's own TLS is not used)",
        "--event_loop": "there is no Python event loop here: each worker runs [server] threads accept loops (--max_asyncio_workers)",
        "--event-loop": "there is no Python event loop here: each worker runs [server] threads accept loops (--max_asyncio_workers)",
        "--timeout_keep_alive": "client keep-alive is nginx's keepalive_timeout (65 s, as KServe's default) in the nginx template",
        "--timeout-keep-alive": "client keep-alive is nginx's keepalive_timeout (65 s, as KServe's default) in the nginx template",
    ]

    /// KServe flags that KServe's own ModelServer accepts and ignores: logged with why, at start-up.
    public static let ignoredFlags: [String: String] = [
        "--protocol": "deprecated: KServe's ModelServer ignores it too; the protocol follows each request (v1, v2, gRPC)",
    ]

    /// Flags refused only when turned on (their default, off, is what this server does).
    static let refusedWhenTrue: Set<String> = []
    /// Flags refused only when turned off.
    static let refusedWhenFalse: Set<String> = []

    private static func refuseUnsupported(_ words: [String]) throws {
        for (i, word) in words.enumerated() where word.hasPrefix("--") {
            let parts = word.split(separator: "=", maxSplits: 1)
            let name = String(parts.first ?? Substring(word))
            guard let why = refusedFlags[name] else { continue }
            if refusedWhenTrue.contains(name) || refusedWhenFalse.contains(name) {
                let text = parts.count == 2 ? String(parts[1]) : (i + 1 < words.count ? words[i + 1] : "")
                guard let value = ValueParsing.strtobool(text) else {
                    throw bad(name, "a boolean (true/false, 1/0, yes/no, on/off, y/n, t/f)", text)
                }
                if refusedWhenTrue.contains(name) && !value { continue }
                if refusedWhenFalse.contains(name) && value { continue }
            }
            throw ConfigError(file: "command line", key: name, reason: "not supported: \(why)")
        }
    }

    /// One warning per unknown flag (KServe ignores unknown flags so that custom servers can add their own).
    public static func unknownFlagWarnings(_ words: [String]) -> [String] {
        var seen = Set<String>()
        var lines: [String] = []
        for word in words where word.hasPrefix("-") {
            let name = String(word.split(separator: "=", maxSplits: 1).first ?? Substring(word))
            guard seen.insert(name).inserted else { continue }
            if let why = ignoredFlags[name] {
                lines.append("ignoring \(name): \(why)")
            } else {
                lines.append("ignoring unknown flag \(name) (as KServe's model server does; a custom server may read it)")
            }
        }
        return lines
    }

    private static func port(_ text: String?, _ flag: String) throws -> Int? {
        guard let text else { return nil }
        guard let n = ValueParsing.integer(text), (1...65535).contains(n) else {
            throw bad(flag, "a port number from 1 to 65535", text)
        }
        return n
    }

    private static func bool(_ text: String?, _ flag: String) throws -> Bool? {
        guard let text else { return nil }
        guard let b = ValueParsing.strtobool(text) else {
            throw bad(flag, "a boolean (true/false, 1/0, yes/no, on/off, y/n, t/f)", text)
        }
        return b
    }
}

/// The argument-parser description of the flags. Values stay strings so that ``KServeCommandLine`` reports bad
/// values in the project's own wording.
struct KServeArguments: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kserve-master",
        abstract: "KServe-compatible model server: nginx in front of a pool of FastCGI worker processes.",
        discussion: """
            Flags not listed here are accepted and ignored (logged), as KServe's model server does, so \
            ServingRuntime args keep working. A repeated flag takes its last value.
            """)

    @Option(
        name: [.customShort("c"), .customLong("config")],
        help: "The TOML config file (conf/kserve.conf); without it, the built-in defaults and the flags.")
    var config: String?

    @Option(name: .customLong("http_port"), help: ArgumentHelp("Overrides [http] port.", valueName: "port"))
    var httpPort: String?

    @Option(name: .customLong("grpc_port"), help: ArgumentHelp("Overrides [grpc] port.", valueName: "port"))
    var grpcPort: String?

    @Option(
        name: .customLong("workers"),
        help: ArgumentHelp("Overrides [server] workers (a number, or auto: one per CPU of the cgroup limit).", valueName: "n|auto"))
    var workers: String?

    @Option(name: .customLong("enable_grpc"), help: ArgumentHelp("Overrides [grpc] enable.", valueName: "bool"))
    var enableGRPC: String?

    @Option(
        name: .customLong("enable_latency_logging"),
        help: ArgumentHelp("Overrides [server] enable_latency_logging.", valueName: "bool"))
    var enableLatencyLogging: String?

    @Option(
        name: .customLong("model_name"),
        help: ArgumentHelp(
            "The model the model flags describe: served from --model_dir, or the configured / only model.",
            valueName: "name"))
    var modelName: String?

    @Option(
        name: .customLong("model_dir"),
        help: ArgumentHelp("Serves the model in this folder (format found from the files).", valueName: "dir"))
    var modelDir: String?

    @Option(
        name: .customLong("model_format"),
        help: ArgumentHelp("The format of --model_dir when its files are ambiguous: onnx, xgboost, lightgbm.", valueName: "format"))
    var modelFormat: String?

    @Option(
        name: .customLong("run_dir"),
        help: ArgumentHelp("Overrides [server] run_dir: every writable path (socket, pid files, nginx).", valueName: "dir"))
    var runDir: String?

    @Option(
        name: .customLong("predictor_host"),
        help: ArgumentHelp("Sets the first [[models]] entry's predictor_host (a transformer).", valueName: "host[:port]"))
    var predictorHost: String?

    @Option(
        name: .customLong("predictor_protocol"),
        help: ArgumentHelp("Sets predictor_protocol of the first entry: v1, v2 or grpc-v2.", valueName: "protocol"))
    var predictorProtocol: String?

    @Option(
        name: .customLong("predictor_use_ssl"),
        help: ArgumentHelp("Sets predictor_use_ssl of the first entry.", valueName: "bool"))
    var predictorUseSSL: String?

    @Option(
        name: .customLong("predictor_request_timeout_seconds"),
        help: ArgumentHelp("Sets predictor_request_timeout_seconds of the first entry.", valueName: "seconds"))
    var predictorRequestTimeoutSeconds: String?

    @Option(
        name: .customLong("predictor_request_retries"),
        help: ArgumentHelp("Sets predictor_request_retries of the first entry.", valueName: "n"))
    var predictorRequestRetries: String?

    @Flag(
        name: .customLong("enable_predictor_health_check"),
        help: "Sets enable_predictor_health_check = true on the first entry.")
    var enablePredictorHealthCheck = false

    @Option(
        name: .customLong("max_threads"),
        help: ArgumentHelp("Overrides [grpc] max_concurrent_calls: gRPC calls in flight (KServe's gRPC threads).", valueName: "n"))
    var maxThreads: String?

    @Option(
        name: .customLong("max_asyncio_workers"),
        help: ArgumentHelp("Overrides [server] threads: accept loops per worker (KServe's pool for model code).", valueName: "n"))
    var maxAsyncioWorkers: String?

    @Option(
        name: .customLong("grpc_max_receive_message_length"),
        help: ArgumentHelp("Overrides [grpc] max_receive_message_length: the largest request message, in bytes.", valueName: "bytes"))
    var grpcMaxReceiveMessageLength: String?

    @Option(
        name: .customLong("grpc_max_send_message_length"),
        help: ArgumentHelp("Overrides [grpc] max_send_message_length: the largest response message, in bytes.", valueName: "bytes"))
    var grpcMaxSendMessageLength: String?

    @Option(
        name: .customLong("access_log_format"),
        help: ArgumentHelp("Overrides [server] access_log_format: gunicorn atoms such as '%(h)s \"%(r)s\" %(s)s %(b)s %(M)s'.", valueName: "format"))
    var accessLogFormat: String?

    @Option(
        name: .customLong("configure_logging"),
        help: ArgumentHelp("Overrides [server] configure_logging: false keeps the log handler your executable installed.", valueName: "bool"))
    var configureLogging: String?

    @Option(
        name: .customLong("enable_docs_url"),
        help: ArgumentHelp("Overrides [http] enable_docs_url: serve the Swagger UI page /docs.", valueName: "bool"))
    var enableDocsURL: String?

    @Option(
        name: .customLong("log_config_file"),
        help: ArgumentHelp("A JSON file of logging keys: level, file, access_log_format, enable_latency_logging.", valueName: "file"))
    var logConfigFile: String?

    @Option(
        name: .customShort("s"),
        help: ArgumentHelp(
            "Send a signal to the master running with this config: reload (HUP), stop (TERM), quit (QUIT), reopen (USR1).",
            valueName: "signal"))
    var signal: String?

    @Flag(name: .customShort("t"), help: "Test the config: validate it, construct every model, exit 0 or 1.")
    var test = false

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unknown: [String] = []
}
