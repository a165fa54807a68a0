import KServeProtocol

extension ServerConfig {
    /// The keys of a `--log_config_file` (a JSON object).
    static let logConfigKeys = ["level", "file", "access_log_format", "enable_latency_logging"]

    /// Applies KServe's `--log_config_file`: a JSON object with any of `level` (`[server] log_level`), `file`
    /// (`log_file`, relative to the log config file's folder; `""` for stderr), `access_log_format` and
    /// `enable_latency_logging`, e.g. `{"level": "debug", "file": "/var/log/kserve.log", "access_log_format":
    /// "%(h)s %(r)s %(s)s"}`. It wins over the config file; the other flags and `KSERVE_LOGLEVEL` win over it.
    ///
    /// KServe's own file is a Python `logging.config.dictConfig` for uvicorn; this server has no Python loggers to
    /// configure, so such a file is refused with what to write instead.
    /// - Throws: ``ConfigError`` naming the file and the key.
    mutating func applyLogConfigFile(_ path: String) throws {
        let absolute = PathUtilities.absolute(path)
        let bytes: [UInt8]
        do {
            bytes = try PathUtilities.readFile(absolute)
        } catch {
            throw ConfigError(file: path, key: "--log_config_file", reason: "cannot read the log config file: \(error.text)")
        }
        let expected = "a JSON object with any of \(Self.logConfigKeys.joined(separator: ", ")) (see the README, \"Logging\")"
        guard let json = try? JSONValue.parse(bytes[...]), case .object(let object) = json else {
            throw ConfigError(file: path, key: "--log_config_file", reason: "expected \(expected); YAML is not read")
        }
        for key in object.keys where !Self.logConfigKeys.contains(key) {
            let python = ["version", "handlers", "formatters", "loggers", "root", "filters"].contains(key)
            throw ConfigError(
                file: path, key: key,
                reason: python
                    ? "this is a Python logging dictConfig (KServe's uvicorn log config); this server has no Python loggers: give \(expected)"
                    : "unknown key; expected \(expected)")
        }
        if let value = object["level"] {
            guard case .string(let text) = value else { throw ConfigError(file: path, key: "level", reason: "expected a string") }
            let level = text.lowercased() == "warn" ? "warning" : text.lowercased()
            guard ValueParsing.logLevels.contains(level) else {
                throw ConfigError(
                    file: path, key: "level",
                    reason: "expected one of \(ValueParsing.logLevels.joined(separator: ", ")), got \(quoted(text))")
            }
            server.logLevel = level
        }
        if let value = object["file"] {
            guard case .string(let text) = value, !text.contains("\0"), !text.contains("\n") else {
                throw ConfigError(file: path, key: "file", reason: "expected a file path (or \"\" for stderr)")
            }
            server.logFile = text.isEmpty ? "" : PathUtilities.resolve(text, against: PathUtilities.dirname(absolute))
        }
        if let value = object["access_log_format"] {
            guard case .string(let text) = value else { throw ConfigError(file: path, key: "access_log_format", reason: "expected a string") }
            do {
                server.accessLogFormat = text.isEmpty ? nil : try AccessLogFormat(parsing: text)
            } catch {
                throw ConfigError(file: path, key: "access_log_format", reason: error.description)
            }
        }
        if let value = object["enable_latency_logging"] {
            guard case .bool(let b) = value else { throw ConfigError(file: path, key: "enable_latency_logging", reason: "expected true or false") }
            server.enableLatencyLogging = b
        }
    }
}
