@testable import KServeConfig
import KServeProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The repository's `conf/kserve.conf`, found from this file's path.
private let repositoryConfig: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/KServeConfigTests/ServerConfigTests.swift
    return parts.joined(separator: "/") + "/conf/kserve.conf"
}()

private func parse(_ toml: String, path: String = "/etc/kserve/test.conf", _ o: CommandLineOverrides = .init())
    throws -> ServerConfig
{
    try ServerConfig.parse(toml: toml, path: path, overrides: o)
}

/// The error thrown by `body`, as a ConfigError.
private func configError(_ body: () throws -> Void) -> ConfigError? {
    do {
        try body()
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        return nil
    }
}

@Suite("ServerConfig: defaults and the default config file")
struct ServerConfigDefaultsTests {
    @Test("An empty file gives every documented default")
    func emptyFileDefaults() throws {
        let c = try parse("")
        #expect(c.configFile == "/etc/kserve/test.conf")
        #expect(c.server.workers == 2)
        #expect(c.server.threads == 1)
        #expect(c.server.socket == "kserve.sock")
        #expect(c.server.runDir == "")
        #expect(c.usesPrivateRunDirectory)
        #expect(c.server.gracePeriod == 30)
        #expect(c.server.enableLatencyLogging)
        #expect(c.server.logLevel == "info")
        #expect(c.server.listenBacklog == 511)
        #expect(c.server.maxRequests == 0)
        #expect(c.server.maxRequestsJitter == 0)
        #expect(c.server.requestTimeout == 0)
        #expect(c.server.slowRequestThreshold == 0)
        #expect(c.server.statusPath == "/status")
        #expect(c.server.respawnBackoffMax == 10)
        #expect(c.server.logFile == "")
        #expect(c.logFilePath == nil)
        #expect(c.http.host == "0.0.0.0")
        #expect(c.http.port == 8080)
        #expect(c.http.nginx)
        #expect(c.http.maxBodySize == 64 << 20)
        #expect(c.http.nginxBinary == "nginx")
        #expect(c.http.nginxWorkers == 1)
        #expect(!c.grpc.enable)
        #expect(c.grpc.host == "0.0.0.0")
        #expect(c.grpc.port == 8081)
        #expect(c.grpc.maxMessageSize == 64 << 20)
        #expect(c.limits.maxJSONDepth == 100)
        #expect(c.limits.maxTensorBytes == 1 << 30)
        #expect(c.limits.maxHeaderLength == 8 << 10)
        #expect(c.models.isEmpty)
    }

    @Test("Relative paths resolve against the config file's folder")
    func pathResolution() throws {
        let c = try parse("")
        #expect(c.runDirectory.contains("/kserve-\(getuid())-"))
        #expect(c.runDirectory != (try parse("", path: "/etc/other.conf")).runDirectory)
        #expect(c.socketPath == c.runDirectory + "/kserve.sock")
        #expect(c.nginxTemplatePath == nil)

        let d = try parse(
            """
            [server]
            run_dir = "../var/./run/"
            socket = "/tmp/k.sock"
            """)
        #expect(d.runDirectory == "/etc/var/run")
        #expect(d.socketPath == "/tmp/k.sock")
    }

    @Test("A relative config path is made absolute and named as given in errors")
    func relativeConfigPath() throws {
        let c = try parse("", path: "conf/x.conf")
        let configFile = try #require(c.configFile)
        #expect(configFile.hasPrefix("/"))
        #expect(configFile.hasSuffix("/conf/x.conf"))
        let e = configError { _ = try parse("[server]\nworkers = 0", path: "conf/x.conf") }
        #expect(e?.file == "conf/x.conf")
    }

    @Test("The repository's conf/kserve.conf loads: 2 workers, HTTP 8080, gRPC on 8081, the sample models")
    func repositoryDefaultConfig() throws {
        let c = try ServerConfig.load(path: repositoryConfig, overrides: .init())
        #expect(c.server.workers == 2)
        #expect(c.http.port == 8080)
        #expect(c.http.nginx)
        #expect(c.grpc.enable && c.grpc.port == 8081)
        #expect(c.grpc.port == 8081)
        #expect(c.models.map(\.name) == ["echo", "sleep", "fp16-output", "fp16-input", "iris", "iris-lgb", "iris-onnx"])
        #expect(c.models.map(\.kind) == ["echo", "sleep", "fp16-output", "fp16-input", "xgboost", "lightgbm", "onnx"])
        #expect(c.models[1].options["delay_ms"] == .int(100))
        #expect(c.models.allSatisfy { $0.version == "1" })
        #expect(c.nginxTemplatePath == nil, "the default config uses the nginx template built into the binary")
    }

    @Test("A symlinked config file resolves relative paths against the link's folder (ConfigMap mounts)")
    func symlinkedConfig() throws {
        var template = Array("/tmp/kserve-config-XXXXXX".utf8CString)
        let folder = try #require(
            template.withUnsafeMutableBufferPointer { buffer -> String? in
                guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return nil }
                return String(cString: made)
            })
        #expect(mkdir(folder + "/..data", 0o755) == 0)
        let text = "[server]\nworkers = 3\nrun_dir = \"run\"\n"
        let fd = open(folder + "/..data/kserve.conf", O_CREAT | O_WRONLY, 0o644)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        #expect(symlink("..data/kserve.conf", folder + "/kserve.conf") == 0)
        let c = try ServerConfig.load(path: folder + "/kserve.conf", overrides: .init())
        #expect(c.server.workers == 3)
        #expect(c.configFile == folder + "/kserve.conf")
        #expect(c.runDirectory == folder + "/run")
    }

    @Test("A missing file is an error naming it")
    func missingFile() {
        let e = configError { _ = try ServerConfig.load(path: "/nonexistent/kserve.conf", overrides: .init()) }
        #expect(e?.file == "/nonexistent/kserve.conf")
        #expect(e?.description.contains("No such file") == true)
    }
}

@Suite("ServerConfig: values")
struct ServerConfigValueTests {
    @Test("Every key of every section is read")
    func allKeys() throws {
        let c = try parse(
            """
            [server]
            workers = 4
            threads = 3
            socket = "fcgi.sock"
            run_dir = "/var/run/kserve"
            grace_period = 2.5
            enable_latency_logging = false
            log_level = "DEBUG"
            listen_backlog = 1024
            max_requests = 500
            max_requests_jitter = 50
            request_timeout = 60
            slow_request_threshold = 2.5
            status_path = "/pool/status"
            respawn_backoff_max = 30
            log_file = "log/kserve.log"

            [http]
            host = "127.0.0.1"
            port = 9000
            nginx = false
            max_body_size = "512k"
            nginx_binary = "/usr/sbin/nginx"
            nginx_template = "tmpl/n.conf"
            nginx_workers = 2

            [grpc]
            enable = true
            host = "::"
            port = 9001
            max_message_size = 1048576

            [limits]
            max_json_depth = 10
            max_tensor_bytes = "2G"
            max_header_length = "16k"
            """)
        #expect(c.server.workers == 4)
        #expect(c.server.threads == 3)
        #expect(c.socketPath == "/var/run/kserve/fcgi.sock")
        #expect(c.server.gracePeriod == 2.5)
        #expect(!c.server.enableLatencyLogging)
        #expect(c.server.logLevel == "debug")
        #expect(c.server.listenBacklog == 1024)
        #expect(c.server.maxRequests == 500)
        #expect(c.server.maxRequestsJitter == 50)
        #expect(c.server.requestTimeout == 60)
        #expect(c.server.slowRequestThreshold == 2.5)
        #expect(c.server.statusPath == "/pool/status")
        #expect(c.server.respawnBackoffMax == 30)
        #expect(c.logFilePath == "/etc/kserve/log/kserve.log")
        #expect(c.http.host == "127.0.0.1")
        #expect(c.http.port == 9000)
        #expect(!c.http.nginx)
        #expect(c.http.maxBodySize == 512 * 1024)
        #expect(c.http.nginxBinary == "/usr/sbin/nginx")
        #expect(c.nginxTemplatePath == "/etc/kserve/tmpl/n.conf")
        #expect(c.http.nginxWorkers == 2)
        #expect(c.grpc.enable)
        #expect(c.grpc.host == "::")
        #expect(c.grpc.port == 9001)
        #expect(c.grpc.maxMessageSize == 1 << 20)
        #expect(c.limits.maxJSONDepth == 10)
        #expect(c.limits.maxTensorBytes == 2 << 30)
        #expect(c.limits.maxHeaderLength == 16 << 10)
    }

    @Test(
        "Sizes: nginx-style strings or integer bytes",
        arguments: [
            ("\"16m\"", 16 << 20), ("\"16M\"", 16 << 20), ("\"512k\"", 512 << 10), ("\"1g\"", 1 << 30),
            ("\"100\"", 100), ("123456", 123_456), ("0", 0),
        ])
    func sizes(text: String, bytes: Int) throws {
        let c = try parse("[http]\nmax_body_size = \(text)")
        #expect(c.http.maxBodySize == bytes)
    }

    @Test(
        "Bad sizes name the key",
        arguments: ["\"16mb\"", "\"m\"", "\"-1k\"", "-5", "1.5", "\"1.5m\"", "true", "\"99999999999999999999g\"", "\"\""])
    func badSizes(text: String) {
        let e = configError { _ = try parse("[http]\nmax_body_size = \(text)") }
        #expect(e?.key == "[http] max_body_size")
        #expect(e?.file == "/etc/kserve/test.conf")
    }

    @Test("Durations: integer or float seconds")
    func durations() throws {
        #expect(try parse("[server]\ngrace_period = 5").server.gracePeriod == 5)
        #expect(try parse("[server]\ngrace_period = 0.25").server.gracePeriod == 0.25)
        #expect(configError { _ = try parse("[server]\ngrace_period = -1") }?.key == "[server] grace_period")
        #expect(configError { _ = try parse("[server]\ngrace_period = \"30s\"") }?.key == "[server] grace_period")
        #expect(configError { _ = try parse("[server]\ngrace_period = inf") }?.key == "[server] grace_period")
    }

    @Test("The message names the file, the key and the bad value")
    func messageShape() {
        let e = configError { _ = try parse("[server]\nworkers = \"two\"", path: "conf/kserve.conf") }
        #expect(e?.description == "conf/kserve.conf: [server] workers: expected a positive integer or \"auto\", got \"two\"")
    }

    @Test(
        "Bad values are errors naming section and key",
        arguments: [
            ("[server]\nworkers = 0", "[server] workers"),
            ("[server]\nworkers = -3", "[server] workers"),
            ("[server]\nthreads = 1.5", "[server] threads"),
            ("[server]\nsocket = 5", "[server] socket"),
            ("[server]\nsocket = \"\"", "[server] socket"),
            ("[server]\nrun_dir = false", "[server] run_dir"),
            ("[server]\nenable_latency_logging = \"yes\"", "[server] enable_latency_logging"),
            ("[server]\nlog_level = \"loud\"", "[server] log_level"),
            ("[server]\nlisten_backlog = 0", "[server] listen_backlog"),
            ("[server]\nmax_requests = -1", "[server] max_requests"),
            ("[server]\nmax_requests = \"50\"", "[server] max_requests"),
            ("[server]\nmax_requests_jitter = -5", "[server] max_requests_jitter"),
            ("[server]\nrequest_timeout = -1", "[server] request_timeout"),
            ("[server]\nrequest_timeout = 0.01", "[server] request_timeout"),
            ("[server]\nrequest_timeout = \"30s\"", "[server] request_timeout"),
            ("[server]\nslow_request_threshold = -0.5", "[server] slow_request_threshold"),
            ("[server]\nstatus_path = \"status\"", "[server] status_path"),
            ("[server]\nstatus_path = \"/\"", "[server] status_path"),
            ("[server]\nstatus_path = \"/a b\"", "[server] status_path"),
            ("[server]\nstatus_path = \"/v2/status\"", "[server] status_path"),
            ("[server]\nstatus_path = \"/metrics\"", "[server] status_path"),
            ("[server]\nstatus_path = \"/x;y\"", "[server] status_path"),
            ("[server]\nstatus_path = 1", "[server] status_path"),
            ("[server]\nrespawn_backoff_max = 0", "[server] respawn_backoff_max"),
            ("[server]\nrespawn_backoff_max = 7200", "[server] respawn_backoff_max"),
            ("[server]\nlog_file = 3", "[server] log_file"),
            ("[http]\nport = 0", "[http] port"),
            ("[http]\nport = 70000", "[http] port"),
            ("[http]\nport = \"8080\"", "[http] port"),
            ("[http]\nhost = \"\"", "[http] host"),
            ("[http]\nhost = \"a b\"", "[http] host"),
            ("[http]\nhost = \"x;\"", "[http] host"),
            ("[http]\nnginx = 1", "[http] nginx"),
            ("[http]\nnginx_workers = 0", "[http] nginx_workers"),
            ("[grpc]\nenable = \"true\"", "[grpc] enable"),
            ("[grpc]\nport = -1", "[grpc] port"),
            ("[grpc]\nmax_message_size = 0", "[grpc] max_message_size"),
            ("[limits]\nmax_json_depth = 0", "[limits] max_json_depth"),
            ("[limits]\nmax_header_length = \"100\"", "[limits] max_header_length"),
            ("[limits]\nmax_tensor_bytes = \"big\"", "[limits] max_tensor_bytes"),
        ])
    func badValues(toml: String, key: String) {
        let e = configError { _ = try parse(toml, path: "my.conf") }
        #expect(e != nil, "expected an error for \(toml)")
        #expect(e?.key == key)
        #expect(e?.file == "my.conf")
        #expect(e?.description.hasPrefix("my.conf: \(key): ") == true)
    }

    @Test("Unknown keys and sections are errors naming them")
    func unknownKeys() {
        var e = configError { _ = try parse("[server]\nwrkers = 2") }
        #expect(e?.key == "[server] wrkers")
        #expect(e?.reason.contains("workers") == true, "lists the known keys")
        e = configError { _ = try parse("[htp]\nport = 1") }
        #expect(e?.key == "[htp]")
        e = configError { _ = try parse("workers = 2") }
        #expect(e?.key == "workers")
        e = configError { _ = try parse("server = 2") }
        #expect(e?.key == "server")
        e = configError { _ = try parse("[limits]\nmax_body = 1") }
        #expect(e?.key == "[limits] max_body")
        e = configError { _ = try parse("[grpc]\nenabled = true") }
        #expect(e?.key == "[grpc] enabled")
    }

    @Test("A TOML syntax error names the file, line and column")
    func syntaxError() {
        let e = configError { _ = try parse("[server]\nworkers = = 2", path: "bad.conf") }
        #expect(e?.file == "bad.conf")
        #expect(e?.key?.hasPrefix("line 2") == true)
    }

    @Test("A socket path longer than sun_path is an error naming [server] socket")
    func socketPathLength() {
        let long = String(repeating: "d", count: 120)
        let e = configError { _ = try parse("[server]\nrun_dir = \"/tmp/\(long)\"") }
        #expect(e?.key == "[server] socket")
        #expect(e?.reason.contains("107") == true)
    }

    @Test("A $ in the socket path is refused (nginx would read it as a variable)")
    func dollarInPath() {
        let e = configError { _ = try parse("[server]\nsocket = \"/tmp/a$b.sock\"") }
        #expect(e?.key == "[server] socket")
    }
}

@Suite("ServerConfig: [[models]]")
struct ModelConfigTests {
    @Test("name, kind, version, inputs, outputs and options")
    func fullEntry() throws {
        let c = try parse(
            """
            [[models]]
            name = "iris"
            kind = "sklearn"
            version = 3
            inputs = [{ name = "input-0", datatype = "FP32", shape = [-1, 4] }]
            outputs = [{ name = "output-0", datatype = "INT64", shape = [-1] }]
            path = "models/iris"
            delay_ms = 10
            ratio = 0.5
            verbose = true
            tags = ["a", 1]
            extra = { x = 1 }

            [[models]]
            name = "echo"
            kind = "echo"
            """)
        #expect(c.models.count == 2)
        let m = c.models[0]
        #expect(m.name == "iris")
        #expect(m.kind == "sklearn")
        #expect(m.version == "3")
        #expect(m.inputs == [TensorMetadata(name: "input-0", datatype: .fp32, shape: [-1, 4])])
        #expect(m.outputs == [TensorMetadata(name: "output-0", datatype: .int64, shape: [-1])])
        #expect(m.options["path"] == .string("models/iris"))
        #expect(m.options["delay_ms"]?.intValue == 10)
        #expect(m.options["delay_ms"]?.doubleValue == 10)
        #expect(m.options["ratio"]?.doubleValue == 0.5)
        #expect(m.options["verbose"]?.boolValue == true)
        #expect(m.options["tags"] == .array([.string("a"), .int(1)]))
        #expect(m.options["extra"] == .table(["x": .int(1)]))
        #expect(m.options["name"] == nil && m.options["kind"] == nil && m.options["inputs"] == nil)
        #expect(m.sourceFile == "/etc/kserve/test.conf")
        #expect(c.models[1].version == "1")
        #expect(c.models[1].inputs == nil)
        #expect(c.models[1].options.isEmpty)
    }

    @Test(
        "Bad entries are errors naming the entry and the key",
        arguments: [
            ("[[models]]\nkind = \"echo\"", "[[models]] #1 name"),
            ("[[models]]\nname = \"a\"", "[[models]] #1 (\"a\") kind"),
            ("[[models]]\nname = \"\"\nkind = \"echo\"", "[[models]] #1 (\"\") name"),
            ("[[models]]\nname = \"a/b\"\nkind = \"echo\"", "[[models]] #1 (\"a/b\") name"),
            ("[[models]]\nname = 5\nkind = \"echo\"", "[[models]] #1 name"),
            ("[[models]]\nname = \"a\"\nkind = \"\"", "[[models]] #1 (\"a\") kind"),
            ("[[models]]\nname = \"a\"\nkind = \"echo\"\nversion = \"\"", "[[models]] #1 (\"a\") version"),
            ("[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = 3", "[[models]] #1 (\"a\") inputs"),
            ("[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = [1]", "[[models]] #1 (\"a\") inputs[0]"),
            (
                "[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = [{ name = \"x\", datatype = \"FP8\", shape = [1] }]",
                "[[models]] #1 (\"a\") inputs[0] datatype"
            ),
            (
                "[[models]]\nname = \"a\"\nkind = \"e\"\noutputs = [{ name = \"x\", datatype = \"FP32\" }]",
                "[[models]] #1 (\"a\") outputs[0] shape"
            ),
            (
                "[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = [{ name = \"x\", datatype = \"FP32\", shape = [-2] }]",
                "[[models]] #1 (\"a\") inputs[0] shape"
            ),
            (
                "[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = [{ name = \"x\", datatype = \"FP32\", shape = [1], dims = 2 }]",
                "[[models]] #1 (\"a\") inputs[0] dims"
            ),
            (
                "[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = [{ datatype = \"FP32\", shape = [1] }]",
                "[[models]] #1 (\"a\") inputs[0] name"
            ),
            ("[[models]]\nname = \"a\"\nkind = \"e\"\n[[models]]\nname = \"a\"\nkind = \"f\"", "[[models]] #2 (\"a\") name"),
            ("models = 3", "models"),
            ("models = [1]", "[[models]] #1"),
            ("[[models]]\nname = \"a\"\nkind = \"e\"\nwhen = 1979-05-27", "[[models]] #1 (\"a\") when"),
        ])
    func badEntries(toml: String, key: String) {
        let e = configError { _ = try parse(toml) }
        #expect(e != nil, "expected an error for \(toml)")
        #expect(e?.key == key)
        #expect(e?.file == "/etc/kserve/test.conf")
    }

    @Test("Every OIP datatype is accepted in tensor metadata")
    func allDatatypes() throws {
        for type in DataType.allCases {
            let c = try parse(
                "[[models]]\nname = \"a\"\nkind = \"e\"\ninputs = [{ name = \"x\", datatype = \"\(type.rawValue)\", shape = [2] }]")
            #expect(c.models[0].inputs?.first?.datatype == type)
        }
    }

    @Test("optionError names the file, the model and the option")
    func optionError() throws {
        let c = try parse("[[models]]\nname = \"s\"\nkind = \"sleep\"\ndelay_ms = \"x\"", path: "conf/k.conf")
        let e = c.models[0].optionError("delay_ms", "expected milliseconds, got \"x\"")
        #expect(e.description == "conf/k.conf: [[models]] \"s\" delay_ms: expected milliseconds, got \"x\"")
    }
}

@Suite("ServerConfig: command-line overrides")
struct OverrideTests {
    let twoModels = "[[models]]\nname = \"first\"\nkind = \"echo\"\n[[models]]\nname = \"second\"\nkind = \"echo\""

    @Test("Flags win over the file")
    func overrides() throws {
        let o = CommandLineOverrides(
            httpPort: 9090, grpcPort: 9091, workers: 7, enableGRPC: true, enableLatencyLogging: false)
        let c = try parse("[server]\nworkers = 3\n[http]\nport = 1234\n[grpc]\nport = 1235\nenable = false", o)
        #expect(c.http.port == 9090)
        #expect(c.grpc.port == 9091)
        #expect(c.server.workers == 7)
        #expect(c.grpc.enable)
        #expect(!c.server.enableLatencyLogging)
    }

    /// A fresh folder holding `files` (empty files), for format detection.
    func modelFolder(_ files: [String]) -> String {
        var template = Array("/tmp/kserve-cfg-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        for f in files {
            if let slash = f.lastIndex(of: "/") { mkdir(dir + "/" + f[..<slash], 0o755) }
            let fd = open(dir + "/" + f, O_CREAT | O_WRONLY, 0o644)
            close(fd)
        }
        return dir
    }

    @Test("--model_name with --model_dir adds that model, its kind found from the files; the others stay")
    func modelDirAddsAModel() throws {
        let dir = modelFolder(["model.json"])
        let c = try parse(twoModels, CommandLineOverrides(modelName: "iris", modelDir: dir))
        #expect(c.models.map(\.name) == ["first", "second", "iris"])
        #expect(c.models[2].kind == "xgboost")
        #expect(c.models[2].options["path"] == .string(dir))
        #expect(c.models[0].options["path"] == nil)
    }

    @Test("--model_dir replaces the configured entry of the same name, and defaults the name to model")
    func modelDirReplacesSameName() throws {
        let dir = modelFolder(["model.txt"])
        let c = try parse(twoModels, CommandLineOverrides(modelName: "second", modelDir: dir))
        #expect(c.models.map(\.name) == ["first", "second"])
        #expect(c.models[1].kind == "lightgbm")
        let d = try parse(twoModels, CommandLineOverrides(modelDir: modelFolder(["1/model.onnx"])))
        #expect(d.models.last?.name == "model" && d.models.last?.kind == "onnx")
    }

    @Test("Ambiguous or unknown files: --model_format decides, or the error lists the files and the formats")
    func modelFormat() throws {
        let mixed = modelFolder(["model.onnx", "model.json"])
        let e = configError { _ = try parse("", CommandLineOverrides(modelName: "m", modelDir: mixed)) }
        #expect(e?.key == "--model_dir")
        #expect(e?.reason.contains("model.json") == true && e?.reason.contains("--model_format") == true)
        var o = CommandLineOverrides(modelName: "m", modelDir: mixed)
        o.modelFormat = "onnx"
        #expect(try parse("", o).models.first?.kind == "onnx")
        let none = modelFolder(["README.md", "weights.pt"])
        let f = configError { _ = try parse("", CommandLineOverrides(modelName: "m", modelDir: none)) }
        #expect(f?.reason.contains("weights.pt") == true && f?.reason.contains("onnx, xgboost, lightgbm") == true)
    }

    @Test("The predictor flags apply to the --model_name entry only; unmatched, they wait for the model in code")
    func predictorFlags() throws {
        var o = CommandLineOverrides(modelName: "second")
        o.modelOptions = ["predictor_host": .string("p:80"), "enable_predictor_health_check": .bool(true)]
        let c = try parse(twoModels, o)
        #expect(c.models[1].options["predictor_host"] == .string("p:80"))
        #expect(c.models[0].options["predictor_host"] == nil)
        #expect(c.pendingModelName == nil)
        var code = CommandLineOverrides(modelName: "tx")
        code.modelOptions = ["predictor_host": .string("p:80")]
        let d = try parse("", code)
        #expect(d.models.isEmpty)
        #expect(d.pendingModelName == "tx" && d.pendingModelOptions["predictor_host"] == .string("p:80"))
    }

    @Test("A relative --model_dir is made absolute against the current directory")
    func relativeModelDir() throws {
        let dir = modelFolder(["x/model.ubj"])
        let depth = PathUtilities.currentDirectory().split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + dir.dropFirst() + "/x"
        let c = try parse(twoModels, CommandLineOverrides(modelName: "m", modelDir: relative))
        let path = try #require(c.models.last?.options["path"]?.stringValue)
        #expect(path.hasPrefix("/") && path.hasSuffix("/x"))
    }

    @Test("No config file: the built-in defaults and the flags")
    func builtIn() throws {
        var o = CommandLineOverrides(httpPort: 9000, modelName: "iris", modelDir: modelFolder(["model.bst"]))
        o.runDir = "/tmp/kserve-run-x"
        let c = try ServerConfig.builtIn(overrides: o)
        #expect(c.configFile == nil && c.nginxTemplatePath == nil)
        #expect(c.http.port == 9000 && c.http.host == "0.0.0.0" && c.grpc.enable && c.grpc.port == 8081)
        #expect(c.server.workersAuto && c.server.workers == CPUBudget.available())
        #expect(c.http.nginxWorkers == c.server.workers)
        #expect(c.models.map(\.kind) == ["xgboost"])
        #expect(c.runDirectory == "/tmp/kserve-run-x")
        let d = try ServerConfig.builtIn(overrides: CommandLineOverrides())
        #expect(d.runDirectory.contains("/kserve-\(getuid())-"))
    }

    @Test("workers = \"auto\" follows the CPU budget; cpu.max quotas round up")
    func workersAuto() throws {
        let c = try parse("[server]\nworkers = \"auto\"")
        #expect(c.server.workersAuto && c.server.workers == CPUBudget.available())
        #expect(c.http.nginxWorkers == c.server.workers)
        let d = try parse("[server]\nworkers = \"auto\"\n[http]\nnginx_workers = 3")
        #expect(d.http.nginxWorkers == 3)
        #expect(CPUBudget.quota(cpuMax: "150000 100000\n") == 2)
        #expect(CPUBudget.quota(cpuMax: "max 100000") == nil)
        #expect(configError { _ = try parse("[server]\nworkers = \"many\"") }?.key == "[server] workers")
    }
}

@Suite("ServerConfig: the process manager's keys")
struct ProcessManagerConfigTests {
    @Test("status_path may be turned off with an empty string")
    func statusOff() throws {
        #expect(try parse("[server]\nstatus_path = \"\"").server.statusPath == "")
        #expect(try parse("[server]\nstatus_path = \"/fpm-status\"").server.statusPath == "/fpm-status")
    }

    @Test("A shadowing status path says which routes it would hide")
    func shadowing() {
        let e = configError { _ = try parse("[server]\nstatus_path = \"/v1/models\"", path: "k.conf") }
        #expect(e?.description == "k.conf: [server] status_path: \"/v1/models\" would shadow the /v1 routes; choose another path")
    }

    @Test("A snapshot is parsed as if it were the file: relative paths and messages name the file")
    func snapshot() throws {
        let folder = "/tmp/kserve-snapshot-\(getpid())"
        mkdir(folder, 0o700)
        let snapshot = folder + "/config-2.toml"
        let text = "[server]\nworkers = 3\nrun_dir = \"here\"\n"
        let fd = open(snapshot, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let c = try ServerConfig.load(path: "/etc/kserve/absent.conf", overrides: .init(), snapshot: snapshot)
        #expect(c.server.workers == 3)
        #expect(c.runDirectory == "/etc/kserve/here")
        #expect(c.configFile == "/etc/kserve/absent.conf")
        unlink(snapshot)
        rmdir(folder)
    }
}
