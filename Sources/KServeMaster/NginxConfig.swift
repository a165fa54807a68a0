import Glibc
import KServeConfig

/// Renders `nginx/kserve.conf.template` and `nginx/kserve-locations.conf` into the run folder.
///
/// Templates use `{{name}}` placeholders; an unknown placeholder is an error (a typo must not reach nginx).
/// Path values are escaped for nginx double-quoted strings, and the templates quote them.
struct NginxConfig {
    /// The rendered main config (`<run>/nginx.conf`).
    let mainConfigPath: String
    /// The rendered locations snippet (`<run>/kserve-locations.conf`).
    let locationsPath: String
    /// The rendered gRPC server block (`<run>/kserve-grpc.conf`), when nginx fronts the gRPC port.
    let grpcPath: String
    /// nginx's prefix folder (`<run>/nginx/`): pid file and temp folders.
    let prefix: String
    let pidFile: String
    /// The master's copy of the status page (`<run>/status.json`), served by nginx while no worker answers.
    let statusSnapshotPath: String

    init(config: ServerConfig) {
        let run = config.runDirectory
        mainConfigPath = run + "/nginx.conf"
        locationsPath = run + "/kserve-locations.conf"
        grpcPath = run + "/kserve-grpc.conf"
        prefix = run + "/nginx"
        pidFile = prefix + "/nginx.pid"
        statusSnapshotPath = run + "/status.json"
    }

    /// The status location's path: `[server] status_path`, or an internal name nobody routes when it is off (the
    /// workers then answer it 404 like any unknown path).
    static func statusLocation(_ config: ServerConfig) -> String {
        config.server.statusPath.isEmpty ? "/.kserve-status-off" : config.server.statusPath
    }

    /// nginx's `fastcgi_read_timeout`: `[server] request_timeout` (in ms), or 300 s when it is 0.
    static func readTimeout(_ config: ServerConfig) -> String {
        let seconds = config.server.requestTimeout
        guard seconds > 0 else { return "300s" }
        return "\(max(1, Int((seconds * 1000).rounded(.up))))ms"
    }

    /// Whether nginx fronts the gRPC port: the master runs nginx, `[grpc] enable` and `through_nginx` are on,
    /// and the main template has the `{{grpc_server}}` placeholder (a custom template without it leaves the port
    /// to the gRPC process).
    static func grpcThroughNginx(_ config: ServerConfig) -> Bool {
        guard config.grpc.enable, config.grpc.throughNginx, config.http.nginx else { return false }
        guard let templatePath = config.nginxTemplatePath else { return true }
        return POSIX.readSmallFile(templatePath, limit: 1 << 20)?.contains("{{grpc_server}}") ?? false
    }

    /// The gRPC path of ModelInfer (the master does not link the protobuf module).
    static let modelInferPath = "/inference.GRPCInferenceService/ModelInfer"

    /// `host:port` for nginx's `listen` (IPv6 addresses bracketed).
    static func listenAddress(_ host: String, _ port: Int) -> String {
        let listenHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(listenHost):\(port)"
    }

    /// The placeholder values for `config`.
    /// - Parameter fronted: ``grpcThroughNginx(_:)`` when the caller has it (it reads a custom template).
    func values(
        config: ServerConfig, runningAsRoot: Bool, locationsPath: String? = nil, grpcPath: String? = nil,
        fronted: Bool? = nil
    ) -> [String: String] {
        let fronted = fronted ?? Self.grpcThroughNginx(config)
        // An explicit call limit is the gRPC process's (with its queue): ModelInfer then goes there too.
        let calls = config.grpc.maxConcurrentCalls
        return [
            "user_line": runningAsRoot
                ? "user root;  # the master runs as root: nginx workers need the 0660 socket"
                : "# (no user directive: nginx runs as the user that started kserve-master)",
            "worker_processes": String(config.http.nginxWorkers),
            "error_log_level": Self.nginxLogLevel(config.server.logLevel),
            "run_dir": Self.escape(config.runDirectory),
            "nginx_dir": Self.escape(prefix),
            "listen": Self.listenAddress(config.http.host, config.http.port),
            "grpc_server": fronted
                ? "include \"\(Self.escape(grpcPath ?? self.grpcPath))\";"
                : "# (gRPC is not served by nginx: [grpc] enable or through_nginx is off)",
            "grpc_listen": Self.listenAddress(config.grpc.host == "localhost" ? "127.0.0.1" : config.grpc.host, config.grpc.port),
            "grpc_max_concurrent_streams": String(config.grpc.maxConcurrentStreams),
            "grpc_max_receive": String(config.grpc.receiveLimit),
            "grpc_max_request_body": String(config.grpc.receiveLimit + 5),
            "grpc_backend_socket": Self.escape(config.grpcBackendSocketPath),
            "grpc_fastcgi_path": calls > 0 ? "/.kserve-model-infer-through-the-grpc-process" : Self.modelInferPath,
            "socket_path": Self.escape(config.socketPath),
            "locations_file": Self.escape(locationsPath ?? self.locationsPath),
            "client_max_body_size": String(config.http.maxBodySize),
            "large_header_buffer": String(config.limits.maxHeaderLength),
            "fastcgi_read_timeout": Self.readTimeout(config),
            "status_path": Self.statusLocation(config),
            "status_snapshot": Self.escape(statusSnapshotPath),
            "error_log": config.logFilePath.map { "\"\(Self.escape($0))\"" } ?? "stderr",
        ]
    }

    /// The rendered texts: the main config (nil when `[http] nginx = false`) and the locations snippet (nil when
    /// its template is absent and not needed).
    /// - Parameter locationsPath: Where the main config includes the snippet from (default: its usual path).
    func renderTexts(config: ServerConfig, runningAsRoot: Bool, locationsPath: String? = nil, grpcPath: String? = nil) throws
        -> (main: String?, locations: String?, grpc: String?)
    {
        let fronted = Self.grpcThroughNginx(config)
        let values = values(
            config: config, runningAsRoot: runningAsRoot, locationsPath: locationsPath, grpcPath: grpcPath, fronted: fronted)
        var main: String?
        var locations: String?
        var grpc: String?
        if fronted {
            // kserve-grpc.conf beside a custom main template, else the built-in one.
            let custom = config.nginxTemplatePath.map { PathUtilitiesLite.dirname($0) + "/kserve-grpc.conf" }
            if let custom, access(custom, R_OK) == 0, let text = POSIX.readSmallFile(custom, limit: 1 << 20) {
                grpc = try Self.substitute(text, values, templateName: custom)
            } else {
                grpc = try Self.substitute(BuiltInNginxTemplates.grpc, values, templateName: "the built-in nginx gRPC template")
            }
        }
        guard let templatePath = config.nginxTemplatePath else {
            // The templates built into the binary.
            if config.http.nginx {
                main = try Self.substitute(BuiltInNginxTemplates.main, values, templateName: "the built-in nginx template")
            }
            locations = try Self.substitute(BuiltInNginxTemplates.locations, values, templateName: "the built-in nginx locations template")
            return (main, locations, grpc)
        }
        let locationsTemplate = PathUtilitiesLite.dirname(templatePath) + "/kserve-locations.conf"
        if config.http.nginx {
            guard let text = POSIX.readSmallFile(templatePath, limit: 1 << 20), access(templatePath, R_OK) == 0 else {
                throw MasterError(
                    "cannot read the nginx template \(templatePath) ([http] nginx_template): \(POSIX.errorText())")
            }
            main = try Self.substitute(text, values, templateName: templatePath)
        }
        if access(locationsTemplate, R_OK) == 0, let text = POSIX.readSmallFile(locationsTemplate, limit: 1 << 20) {
            locations = try Self.substitute(text, values, templateName: locationsTemplate)
        } else if main?.contains(values["locations_file"] ?? "") ?? true {
            throw MasterError("cannot read the nginx locations template \(locationsTemplate): \(POSIX.errorText())")
        }
        return (main, locations, grpc)
    }

    /// Renders the files for a reload: nothing when the texts are unchanged; otherwise, when `test` is given,
    /// checks the new texts first with `nginx -t` on side copies (`*.new`), and only then replaces the files.
    /// - Parameter test: Runs `nginx -t` on a main config path and returns whether nginx accepted it.
    /// - Returns: Whether the rendered files changed.
    func rerender(config: ServerConfig, runningAsRoot: Bool, test: ((String) throws -> Void)?) throws -> Bool {
        let final = try renderTexts(config: config, runningAsRoot: runningAsRoot)
        let currentMain = config.http.nginx ? POSIX.readSmallFile(mainConfigPath, limit: 1 << 20) : nil
        let currentLocations = final.locations == nil ? nil : POSIX.readSmallFile(locationsPath, limit: 1 << 20)
        let currentGRPC = final.grpc == nil ? nil : POSIX.readSmallFile(grpcPath, limit: 1 << 20)
        guard final.main != currentMain || final.locations != currentLocations || final.grpc != currentGRPC
        else { return false }
        if let test, final.main != nil {
            let sideMain = mainConfigPath + ".new"
            let sideLocations = locationsPath + ".new"
            let sideGRPC = grpcPath + ".new"
            let side = try renderTexts(
                config: config, runningAsRoot: runningAsRoot, locationsPath: sideLocations, grpcPath: sideGRPC)
            defer {
                unlink(sideMain)
                unlink(sideLocations)
                unlink(sideGRPC)
            }
            if let text = side.locations { try POSIX.writeFileAtomically(sideLocations, text, mode: 0o640) }
            if let text = side.grpc { try POSIX.writeFileAtomically(sideGRPC, text, mode: 0o640) }
            if let text = side.main { try POSIX.writeFileAtomically(sideMain, text, mode: 0o640) }
            try test(sideMain)
        }
        if let text = final.locations { try POSIX.writeFileAtomically(locationsPath, text, mode: 0o640) }
        if let text = final.grpc { try POSIX.writeFileAtomically(grpcPath, text, mode: 0o640) }
        if let text = final.main { try POSIX.writeFileAtomically(mainConfigPath, text, mode: 0o640) }
        return true
    }

    /// Renders both files. The locations template is `kserve-locations.conf` beside the main template; it is
    /// required when the main template includes `{{locations_file}}` or when nginx is not started by the master
    /// (users then include the rendered snippet in their own nginx).
    /// - Returns: Whether the locations snippet was rendered.
    @discardableResult
    func render(config: ServerConfig, runningAsRoot: Bool) throws -> Bool {
        let texts = try renderTexts(config: config, runningAsRoot: runningAsRoot)
        if let text = texts.locations { try POSIX.writeFileAtomically(locationsPath, text, mode: 0o640) }
        if let text = texts.grpc { try POSIX.writeFileAtomically(grpcPath, text, mode: 0o640) }
        if let text = texts.main { try POSIX.writeFileAtomically(mainConfigPath, text, mode: 0o640) }
        return texts.locations != nil
    }

    /// Replaces every `{{name}}` with `values[name]`; throws on an unknown or unterminated placeholder.
    static func substitute(_ template: String, _ values: [String: String], templateName: String) throws -> String {
        var out = ""
        out.reserveCapacity(template.utf8.count)
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.firstRange(of: "}}") else {
                throw MasterError("\(templateName): unterminated {{ placeholder")
            }
            let name = afterOpen[..<close.lowerBound].trimmingCharacters(in: " ")
            guard let value = values[name] else {
                throw MasterError(
                    "\(templateName): unknown placeholder {{\(name)}}; known: "
                        + values.keys.sorted().map { "{{\($0)}}" }.joined(separator: " "))
            }
            out += value
            rest = afterOpen[close.upperBound...]
        }
        out += rest
        return out
    }

    /// Escapes `\` and `"` for an nginx double-quoted string.
    static func escape(_ value: String) -> String {
        var out = ""
        for ch in value {
            if ch == "\\" || ch == "\"" { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    /// swift-log level -> nginx error_log level (nginx's info is per-connection chatter, so info maps to warn).
    static func nginxLogLevel(_ level: String) -> String {
        switch level {
        case "trace", "debug": return "info"
        case "notice": return "notice"
        case "error": return "error"
        case "critical": return "crit"
        default: return "warn"
        }
    }
}

/// The folder part of a path.
enum PathUtilitiesLite {
    static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}

extension Substring {
    /// The substring without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
