#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KServeProtocol
import TOMLKit

extension ServerConfig {
    /// Reads and validates a TOML config file, then applies the command-line overrides.
    ///
    /// - Parameters:
    ///   - path: The config file, as the user named it (relative to the current directory or absolute). Error
    ///     messages name it this way; ``configFile`` holds it made absolute (lexically; symlinks are kept, so
    ///     relative paths resolve against the folder the user named).
    ///   - overrides: The KServe flags from ``KServeCommandLine/parse(_:)``.
    /// - Returns: The validated config.
    /// - Throws: ``ConfigError`` naming the file and the key for an unreadable file, a TOML syntax error, an
    ///   unknown key or section, a bad value, or an override that cannot apply.
    public static func load(path: String, overrides: CommandLineOverrides) throws -> ServerConfig {
        try load(path: path, overrides: overrides, snapshot: nil)
    }

    /// Like ``load(path:overrides:)``, but reads the text from `snapshot` when given: a copy of the config file
    /// the master validated (``KServeProcessContract/configSnapshotVariable``). Relative paths still resolve
    /// against `path`'s folder and messages still name `path`, so a worker gets exactly the config its master
    /// checked, even if the file was edited since (and not yet reloaded).
    public static func load(path: String, overrides: CommandLineOverrides, snapshot: String?) throws -> ServerConfig {
        // Lexically absolute, not realpath: relative paths resolve against the folder the user named, even when
        // the file is a symlink (Kubernetes ConfigMap mounts are symlinks into a hidden ..data folder).
        let absolute = PathUtilities.absolute(path)
        let bytes: [UInt8]
        do {
            bytes = try PathUtilities.readFile(snapshot ?? absolute)
        } catch {
            throw ConfigError(file: snapshot ?? path, reason: "cannot read the config file: \(error.text)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, reason: "the config file is not valid UTF-8")
        }
        return try parse(toml: text, path: path, absolutePath: absolute, overrides: overrides)
    }

    /// Parses and validates TOML text as if it had been read from `path`, then applies the overrides.
    ///
    /// Relative paths in the text resolve against `path`'s folder (made absolute against the current
    /// directory); nothing is read from disk.
    /// - Parameters:
    ///   - toml: The config text.
    ///   - path: The file name used in messages and for resolving relative paths.
    ///   - overrides: The KServe flags.
    /// - Throws: ``ConfigError``.
    public static func parse(
        toml: String, path: String, overrides: CommandLineOverrides = CommandLineOverrides()
    ) throws -> ServerConfig {
        try parse(toml: toml, path: path, absolutePath: PathUtilities.absolute(path), overrides: overrides)
    }

    static func parse(
        toml: String, path: String, absolutePath: String, overrides: CommandLineOverrides
    ) throws -> ServerConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: toml)
        } catch let error as TOMLParseError {
            let at = error.source.begin
            throw ConfigError(file: path, key: "line \(at.line), column \(at.column)", reason: error.description)
        } catch {
            throw ConfigError(file: path, reason: "cannot parse the config file: \(error)")
        }
        var config = ServerConfig(configFile: absolutePath)
        try ConfigFileParser(file: path).parse(root, into: &config)
        try config.apply(overrides)
        try config.validatePaths(file: path)
        return config
    }

    /// The config with no file: the built-in defaults (all interfaces, HTTP 8080, gRPC 8081 on, `workers =
    /// "auto"`, the built-in nginx template, a private run folder) and the command-line flags, so that a
    /// ServingRuntime's `--model_name=NAME --model_dir=/mnt/models` alone starts the server.
    /// - Throws: ``ConfigError`` for a bad flag, or a model folder whose format cannot be told.
    public static func builtIn(overrides: CommandLineOverrides) throws -> ServerConfig {
        var config = ServerConfig()
        config.grpc.enable = true
        config.server.workersAuto = true
        config.server.workers = CPUBudget.available()
        config.http.nginxWorkers = config.server.workers
        try config.apply(overrides)
        try config.validatePaths(file: "command line")
        return config
    }

    /// Applies the KServe command-line flags (they win over the file).
    ///
    /// `--model_dir` (with `--model_name`, default `model`) adds the model in that folder, its kind found from its
    /// files (or `--model_format`), replacing a configured entry of the same name; the other entries stay as they
    /// are. `--model_name` alone, and the predictor flags, apply to the configured entry of that name, or to the only
    /// configured entry (served under that name); otherwise they are kept in ``pendingModelName`` /
    /// ``pendingModelOptions`` for the model registered in code.
    mutating func apply(_ overrides: CommandLineOverrides) throws {
        let cli = "command line"
        if let v = overrides.httpPort { http.port = v }
        if let v = overrides.grpcPort { grpc.port = v }
        if let v = overrides.workers {
            server.workers = v
            server.workersAuto = false
        }
        if overrides.workersAuto {
            server.workersAuto = true
            server.workers = CPUBudget.available()
            if !http.nginxWorkersExplicit { http.nginxWorkers = server.workers }
        }
        if let v = overrides.enableGRPC { grpc.enable = v }
        if let v = overrides.maxThreads { grpc.maxConcurrentCalls = v }
        if let v = overrides.maxAsyncioWorkers { server.threads = v }
        if let v = overrides.grpcMaxReceiveMessageLength { grpc.maxReceiveMessageLength = v }
        if let v = overrides.grpcMaxSendMessageLength { grpc.maxSendMessageLength = v }
        if let path = overrides.logConfigFile { try applyLogConfigFile(path) }
        if let v = overrides.logLevel { server.logLevel = v }
        if let v = overrides.accessLogFormat { server.accessLogFormat = v }
        if let v = overrides.configureLogging { server.configureLogging = v }
        if let v = overrides.enableDocsURL { http.enableDocsURL = v }
        if let v = overrides.enableLatencyLogging { server.enableLatencyLogging = v }
        if let v = overrides.runDir { server.runDir = PathUtilities.absolute(v) }
        if overrides.modelFormat != nil && overrides.modelDir == nil {
            throw ConfigError(file: cli, key: "--model_format", reason: "needs --model_dir: the folder of the model it describes")
        }
        if let dir = overrides.modelDir, overrides.modelFormat == nil, ModelFormat.isEmptyFolder(PathUtilities.absolute(dir)) {
            // An empty model folder: multi-model serving (KServe's model agent adds <dir>/<name> and calls load).
            modelRepositoryDirectory = PathUtilities.absolute(dir)
            if let name = overrides.modelName, let i = models.firstIndex(where: { $0.name == name }) {
                for (key, value) in overrides.modelOptions { models[i].options[key] = value }
            }
        } else if let dir = overrides.modelDir {
            let name = overrides.modelName ?? "model"
            let path = PathUtilities.absolute(dir)
            modelRepositoryDirectory = path
            let format = try ModelFormat.detect(at: path, explicit: overrides.modelFormat)
            var entry = ModelConfig(name: name, kind: format.kind, options: ["path": .string(path)], sourceFile: cli)
            for (key, value) in overrides.modelOptions { entry.options[key] = value }
            if let i = models.firstIndex(where: { $0.name == name }) {
                models[i] = entry
            } else {
                models.append(entry)
            }
        } else if let name = overrides.modelName, let i = models.firstIndex(where: { $0.name == name }) {
            for (key, value) in overrides.modelOptions { models[i].options[key] = value }
        } else if models.count == 1, overrides.modelName != nil || !overrides.modelOptions.isEmpty {
            // The only configured model is the one the flags describe (a config with one model started by a
            // ServingRuntime's `--model_name={{.Name}}`): it is served under that name.
            if let name = overrides.modelName { models[0].name = name }
            for (key, value) in overrides.modelOptions { models[0].options[key] = value }
        } else if overrides.modelName != nil || !overrides.modelOptions.isEmpty {
            pendingModelName = overrides.modelName
            pendingModelOptions = overrides.modelOptions
        }
    }

    /// Checks the resolved socket and run paths (length, characters nginx cannot carry).
    func validatePaths(file: String) throws {
        let socket = socketPath
        if socket.utf8.count > maxUnixSocketPathLength {
            throw ConfigError(
                file: file, key: "[server] socket",
                reason: "the socket path \(quoted(socket)) is \(socket.utf8.count) bytes; a Unix socket path can "
                    + "hold at most \(maxUnixSocketPathLength): use a shorter run_dir or an absolute socket path")
        }
        for (key, value) in [("[server] socket", socket), ("[server] run_dir", runDirectory)] {
            if let bad = value.first(where: { $0 == "$" || $0 == "\n" || $0 == "\r" || $0 == "\0" }) {
                throw ConfigError(
                    file: file, key: key,
                    reason: "the path \(quoted(value)) contains \(quoted(String(bad))), which cannot appear in the "
                        + "generated nginx config")
            }
        }
    }
}

/// The longest path `sockaddr_un.sun_path` holds on Linux, without the terminating NUL.
public let maxUnixSocketPathLength = 107

/// Walks the TOML tree and fills a ``ServerConfig``, failing on the first unknown key or bad value.
struct ConfigFileParser {
    let file: String

    static let sections = ["server", "http", "grpc", "limits", "models"]

    func parse(_ root: TOMLTable, into config: inout ServerConfig) throws {
        var nginxWorkersGiven = false
        defer {
            config.http.nginxWorkersExplicit = nginxWorkersGiven
            if config.server.workersAuto && !nginxWorkersGiven { config.http.nginxWorkers = config.server.workers }
        }
        for key in root.keys where !Self.sections.contains(key) {
            let isTable = root[key]?.type == .table
            throw ConfigError(
                file: file, key: isTable ? "[\(key)]" : key,
                reason: (isTable ? "unknown section" : "unknown top-level key")
                    + "; expected one of [server], [http], [grpc], [limits], [[models]]")
        }
        if let t = try section(root, "server") {
            var r = TableReader(table: t, file: file, prefix: "[server]")
            let s = config.server
            if let v = r.value("workers"), v.string?.lowercased() == "auto" {
                config.server.workersAuto = true
                config.server.workers = CPUBudget.available()
            } else {
                config.server.workers = try r.int("workers", default: s.workers, in: 1...1024, expect: "a positive integer or \"auto\"")
            }
            config.server.threads = try r.int("threads", default: s.threads, in: 1...1024, expect: "a positive integer")
            config.server.socket = try r.path("socket", default: s.socket)
            config.server.runDir = try r.path("run_dir", default: s.runDir)
            config.server.gracePeriod = try r.duration("grace_period", default: s.gracePeriod)
            config.server.enableLatencyLogging = try r.bool("enable_latency_logging", default: s.enableLatencyLogging)
            config.server.logLevel = try r.choice("log_level", default: s.logLevel, ValueParsing.logLevels)
            config.server.listenBacklog = try r.int(
                "listen_backlog", default: s.listenBacklog, in: 1...65535, expect: "an integer from 1 to 65535")
            config.server.maxRequests = try r.int(
                "max_requests", default: s.maxRequests, in: 0...1_000_000_000, expect: "an integer of 0 or more (0 = off)")
            config.server.maxRequestsJitter = try r.int(
                "max_requests_jitter", default: s.maxRequestsJitter, in: 0...1_000_000_000,
                expect: "an integer of 0 or more")
            config.server.requestTimeout = try r.duration("request_timeout", default: s.requestTimeout)
            if config.server.requestTimeout > 0, config.server.requestTimeout < 0.1 {
                throw r.error("request_timeout", "expected 0 (off) or at least 0.1 seconds, got \(config.server.requestTimeout)")
            }
            config.server.slowRequestThreshold = try r.duration(
                "slow_request_threshold", default: s.slowRequestThreshold)
            config.server.statusPath = try r.statusPath("status_path", default: s.statusPath)
            config.server.respawnBackoffMax = try r.duration("respawn_backoff_max", default: s.respawnBackoffMax)
            if !(0.1...3600).contains(config.server.respawnBackoffMax) {
                throw r.error(
                    "respawn_backoff_max",
                    "expected a number of seconds from 0.1 to 3600, got \(config.server.respawnBackoffMax)")
            }
            config.server.logFile = try r.string("log_file", default: s.logFile)
            if config.server.logFile.contains("\0") || config.server.logFile.contains("\n") {
                throw r.error("log_file", "expected a file path (or \"\" for stderr)")
            }
            config.server.onnxruntimeLibrary = try r.string("onnxruntime_library", default: s.onnxruntimeLibrary)
            if config.server.onnxruntimeLibrary.contains("\0") {
                throw r.error("onnxruntime_library", "expected a file path (or \"\" to search the usual places)")
            }
            let format = try r.string("access_log_format", default: s.accessLogFormat?.text ?? "")
            do {
                config.server.accessLogFormat = format.isEmpty ? nil : try AccessLogFormat(parsing: format)
            } catch {
                throw r.error("access_log_format", error.description)
            }
            config.server.configureLogging = try r.bool("configure_logging", default: s.configureLogging)
            try r.rejectUnknownKeys()
        }
        if let t = try section(root, "http") {
            var r = TableReader(table: t, file: file, prefix: "[http]")
            let h = config.http
            config.http.host = try r.host("host", default: h.host)
            config.http.port = try r.port("port", default: h.port)
            config.http.nginx = try r.bool("nginx", default: h.nginx)
            config.http.maxBodySize = try r.size("max_body_size", default: h.maxBodySize, minimum: 0)
            config.http.nginxBinary = try r.path("nginx_binary", default: h.nginxBinary)
            config.http.nginxTemplate = try r.path("nginx_template", default: h.nginxTemplate)
            if let v = r.value("nginx_workers"), v.string?.lowercased() == "auto" {
                config.http.nginxWorkers = CPUBudget.available()
                nginxWorkersGiven = true
            } else {
                nginxWorkersGiven = r.has("nginx_workers")
                config.http.nginxWorkers = try r.int(
                    "nginx_workers", default: h.nginxWorkers, in: 1...1024, expect: "a positive integer or \"auto\"")
            }
            config.http.enableDocsURL = try r.bool("enable_docs_url", default: h.enableDocsURL)
            config.http.docsAssets = try r.path("docs_assets", default: h.docsAssets)
            try r.rejectUnknownKeys()
        }
        if let t = try section(root, "grpc") {
            var r = TableReader(table: t, file: file, prefix: "[grpc]")
            let g = config.grpc
            config.grpc.enable = try r.bool("enable", default: g.enable)
            config.grpc.host = try r.host("host", default: g.host)
            config.grpc.port = try r.port("port", default: g.port)
            config.grpc.maxMessageSize = try r.size("max_message_size", default: g.maxMessageSize, minimum: 1)
            if r.has("max_receive_message_length") {
                config.grpc.maxReceiveMessageLength = try r.size("max_receive_message_length", default: 0, minimum: 1)
            }
            if r.has("max_send_message_length") {
                config.grpc.maxSendMessageLength = try r.size("max_send_message_length", default: 0, minimum: 1)
            }
            config.grpc.maxConcurrentCalls = try r.int(
                "max_concurrent_calls", default: g.maxConcurrentCalls, in: 0...65536, expect: "0 (automatic) or a positive integer")
            config.grpc.queueTimeout = try r.duration("queue_timeout", default: g.queueTimeout)
            config.grpc.maxConcurrentStreams = try r.int(
                "max_concurrent_streams", default: g.maxConcurrentStreams, in: 1...1_000_000, expect: "a positive integer")
            config.grpc.throughNginx = try r.bool("through_nginx", default: g.throughNginx)
            try r.rejectUnknownKeys()
        }
        if let t = try section(root, "limits") {
            var r = TableReader(table: t, file: file, prefix: "[limits]")
            let l = config.limits
            config.limits.maxJSONDepth = try r.int(
                "max_json_depth", default: l.maxJSONDepth, in: 1...100_000, expect: "a positive integer")
            config.limits.maxTensorBytes = try r.size("max_tensor_bytes", default: l.maxTensorBytes, minimum: 1)
            config.limits.maxHeaderLength = try r.size("max_header_length", default: l.maxHeaderLength, minimum: 1024)
            try r.rejectUnknownKeys()
        }
        if let value = root["models"] {
            config.models = try models(value)
        }
    }

    /// The table at `key`, `nil` if absent, an error if it is not a table.
    private func section(_ root: TOMLTable, _ key: String) throws -> TOMLTable? {
        guard let value = root[key] else { return nil }
        guard let table = value.table else {
            throw ConfigError(
                file: file, key: key, reason: "expected a section [\(key)], got \(describe(value))")
        }
        return table
    }

    private func models(_ value: any TOMLValueConvertible) throws -> [ModelConfig] {
        guard let array = value.array else {
            throw ConfigError(
                file: file, key: "models",
                reason: "expected [[models]] entries (an array of tables), got \(describe(value))")
        }
        var models: [ModelConfig] = []
        var firstIndex: [String: Int] = [:]
        for (index, element) in array.enumerated() {
            let number = index + 1
            guard let table = element.table else {
                throw ConfigError(
                    file: file, key: "[[models]] #\(number)",
                    reason: "expected a table (a [[models]] entry), got \(describe(element))")
            }
            var prefix = "[[models]] #\(number)"
            if let name = table["name"]?.string { prefix += " (\(quoted(name)))" }
            var r = TableReader(table: table, file: file, prefix: prefix)
            let name = try r.modelIdentifier("name", required: true, what: "model name") ?? ""
            let kind = try r.requiredString("kind")
            let version = try r.modelIdentifier("version", required: false, what: "version") ?? "1"
            let inputs = try r.tensors("inputs")
            let outputs = try r.tensors("outputs")
            var options: [String: ConfigValue] = [:]
            for key in table.keys where !r.used.contains(key) {
                guard let v = table[key] else { continue }
                options[key] = try r.configValue(v, key: key)
            }
            if let first = firstIndex[name] {
                throw ConfigError(
                    file: file, key: "\(prefix) name",
                    reason: "duplicate model name \(quoted(name)); [[models]] #\(first) already uses it")
            }
            firstIndex[name] = number
            models.append(
                ModelConfig(
                    name: name, kind: kind, version: version, inputs: inputs, outputs: outputs, options: options,
                    sourceFile: file))
        }
        return models
    }
}

/// A human description of a TOML value for "got ..." messages.
func describe(_ value: any TOMLValueConvertible) -> String {
    switch value.type {
    case .string: return value.string.map(quoted) ?? "a string"
    case .int: return value.int.map { String($0) } ?? "an integer"
    case .double: return value.double.map { String($0) } ?? "a number"
    case .bool: return value.bool.map { String($0) } ?? "a boolean"
    case .array: return "an array"
    case .table: return "a table"
    case .date, .time, .dateTime: return "a date/time"
    }
}

/// Reads typed keys from one TOML table, remembering which keys it consumed.
struct TableReader {
    let table: TOMLTable
    let file: String
    /// `[server]`, `[[models]] #2 ("sleep")`.
    let prefix: String
    private(set) var used: Set<String> = []

    init(table: TOMLTable, file: String, prefix: String) {
        self.table = table
        self.file = file
        self.prefix = prefix
    }

    func error(_ key: String, _ reason: String) -> ConfigError {
        ConfigError(file: file, key: "\(prefix) \(key)", reason: reason)
    }

    func expected(_ key: String, _ what: String, _ value: any TOMLValueConvertible) -> ConfigError {
        error(key, "expected \(what), got \(describe(value))")
    }

    /// Whether the table sets `key`.
    func has(_ key: String) -> Bool { table[key] != nil }

    mutating func value(_ key: String) -> (any TOMLValueConvertible)? {
        used.insert(key)
        return table[key]
    }

    mutating func int(_ key: String, default d: Int, in range: ClosedRange<Int>, expect: String) throws -> Int {
        guard let v = value(key) else { return d }
        guard let i = v.int, range.contains(i) else { throw expected(key, expect, v) }
        return i
    }

    mutating func port(_ key: String, default d: Int) throws -> Int {
        try int(key, default: d, in: 1...65535, expect: "a port number from 1 to 65535")
    }

    mutating func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = value(key) else { return d }
        guard let b = v.bool else { throw expected(key, "true or false", v) }
        return b
    }

    mutating func string(_ key: String, default d: String) throws -> String {
        guard let v = value(key) else { return d }
        guard let s = v.string else { throw expected(key, "a string", v) }
        return s
    }

    mutating func requiredString(_ key: String) throws -> String {
        guard let v = value(key) else { throw error(key, "missing (every [[models]] entry needs name and kind)") }
        guard let s = v.string, !s.isEmpty else { throw expected(key, "a non-empty string", v) }
        return s
    }

    /// A model name or version: a non-empty string (a version may also be an integer) without `/`.
    mutating func modelIdentifier(_ key: String, required: Bool, what: String) throws -> String? {
        guard let v = value(key) else {
            if required { throw error(key, "missing (every [[models]] entry needs name and kind)") }
            return nil
        }
        let text: String
        if let s = v.string {
            text = s
        } else if !required, let i = v.int {
            text = String(i)
        } else {
            throw expected(key, "a string", v)
        }
        guard !text.isEmpty, !text.contains("/"), !text.contains(where: { $0.isWhitespace }) else {
            throw error(key, "a \(what) must be non-empty, without \"/\" or spaces; got \(quoted(text))")
        }
        return text
    }

    mutating func path(_ key: String, default d: String) throws -> String {
        guard has(key) else { return d }  // an empty default means "built in" / "private"
        let s = try string(key, default: d)
        guard !s.isEmpty, !s.contains("\0") else { throw error(key, "expected a non-empty path") }
        return s
    }

    /// The status page path: `""` (off) or an absolute URL path of `A-Z a-z 0-9 . _ ~ / -` that does not shadow
    /// the KServe routes.
    mutating func statusPath(_ key: String, default d: String) throws -> String {
        guard let v = value(key) else { return d }
        guard let s = v.string else { throw expected(key, "a URL path such as \"/status\" (or \"\" for off)", v) }
        if s.isEmpty { return s }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~/-")
        guard s.hasPrefix("/"), s.count > 1, s.allSatisfy({ allowed.contains($0) }), !s.contains("//") else {
            throw expected(key, "a URL path such as \"/status\" (letters, digits, . _ ~ / -), or \"\" for off", v)
        }
        for reserved in ["/v1", "/v2", "/metrics", "/.kserve", "/docs", "/openapi.json"] where s == reserved || s.hasPrefix(reserved + "/") || (reserved == "/.kserve" && s.hasPrefix(reserved)) {
            throw error(key, "\(quoted(s)) would shadow the \(reserved) routes; choose another path")
        }
        return s
    }

    mutating func host(_ key: String, default d: String) throws -> String {
        guard let v = value(key) else { return d }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-_[]*")
        guard let s = v.string, !s.isEmpty, s.allSatisfy({ allowed.contains($0) }) else {
            throw expected(key, "a host name or IP address such as \"0.0.0.0\", \"127.0.0.1\" or \"::\"", v)
        }
        return s
    }

    mutating func choice(_ key: String, default d: String, _ choices: [String]) throws -> String {
        guard let v = value(key) else { return d }
        guard let s = v.string, choices.contains(s.lowercased()) else {
            throw expected(key, "one of " + choices.map(quoted).joined(separator: ", "), v)
        }
        return s.lowercased()
    }

    /// A size: nginx-style string (`"16m"`, `"512k"`, `"1g"`) or an integer number of bytes.
    mutating func size(_ key: String, default d: Int, minimum: Int) throws -> Int {
        guard let v = value(key) else { return d }
        let bytes: Int?
        if let i = v.int {
            bytes = i
        } else if let s = v.string {
            bytes = ValueParsing.size(s)
        } else {
            bytes = nil
        }
        guard let bytes, bytes >= minimum else {
            let low = minimum == 0 ? "" : " of at least \(minimum) bytes"
            throw expected(key, "a size\(low): bytes as an integer, or a string such as \"512k\", \"16m\", \"1g\"", v)
        }
        return bytes
    }

    /// A duration in seconds (integer or float, finite, not negative).
    mutating func duration(_ key: String, default d: Double) throws -> Double {
        guard let v = value(key) else { return d }
        let seconds: Double? = v.int.map(Double.init) ?? v.double
        guard let seconds, seconds.isFinite, seconds >= 0 else {
            throw expected(key, "a number of seconds (0 or more)", v)
        }
        return seconds
    }

    /// `inputs` / `outputs`: an array of `{ name, datatype, shape }` tables.
    mutating func tensors(_ key: String) throws -> [TensorMetadata]? {
        guard let v = value(key) else { return nil }
        let shapeHelp = "an array of { name = \"...\", datatype = \"FP32\", shape = [-1, 16] } tables"
        guard let array = v.array else { throw expected(key, shapeHelp, v) }
        var result: [TensorMetadata] = []
        for (i, element) in array.enumerated() {
            let at = "\(key)[\(i)]"
            guard let t = element.table else { throw expected(at, shapeHelp, element) }
            var r = TableReader(table: t, file: file, prefix: "\(prefix) \(at)")
            guard let nameValue = r.value("name") else { throw r.error("name", "missing") }
            guard let name = nameValue.string, !name.isEmpty else {
                throw r.expected("name", "a non-empty string", nameValue)
            }
            guard let typeValue = r.value("datatype") else { throw r.error("datatype", "missing") }
            guard let typeName = typeValue.string, let datatype = DataType(rawValue: typeName) else {
                throw r.expected(
                    "datatype", "one of " + DataType.allCases.map(\.rawValue).joined(separator: ", "), typeValue)
            }
            guard let shapeValue = r.value("shape") else { throw r.error("shape", "missing") }
            guard let dims = shapeValue.array else {
                throw r.expected("shape", "an array of integers (-1 for a variable dimension)", shapeValue)
            }
            var shape: [Int] = []
            for dim in dims {
                guard let d = dim.int, d >= -1 else {
                    throw r.expected("shape", "integers of -1 or more (-1 for a variable dimension)", dim)
                }
                shape.append(d)
            }
            try r.rejectUnknownKeys()
            if result.contains(where: { $0.name == name }) {
                throw error(at + ".name", "duplicate tensor name \(quoted(name))")
            }
            result.append(TensorMetadata(name: name, datatype: datatype, shape: shape))
        }
        return result
    }

    /// A model option converted to a ``ConfigValue``.
    func configValue(_ v: any TOMLValueConvertible, key: String) throws -> ConfigValue {
        switch v.type {
        case .string: if let s = v.string { return .string(s) }
        case .int: if let i = v.int { return .int(i) }
        case .double: if let d = v.double { return .double(d) }
        case .bool: if let b = v.bool { return .bool(b) }
        case .array:
            if let a = v.array {
                return .array(try a.enumerated().map { try configValue($0.element, key: "\(key)[\($0.offset)]") })
            }
        case .table:
            if let t = v.table {
                var out: [String: ConfigValue] = [:]
                for k in t.keys {
                    if let child = t[k] { out[k] = try configValue(child, key: "\(key).\(k)") }
                }
                return .table(out)
            }
        case .date, .time, .dateTime:
            throw error(key, "dates and times are not supported in model options; use a string")
        }
        throw error(key, "unreadable value")
    }

    /// Fails on the first key of the table that no reader consumed.
    func rejectUnknownKeys() throws {
        let unknown = table.keys.filter { !used.contains($0) }
        guard let first = unknown.first else { return }
        throw error(
            first, "unknown key; known keys here: " + used.sorted().joined(separator: ", "))
    }
}
