import KServeConfig
import Testing

private func cliError(_ args: [String]) -> ConfigError? {
    do {
        _ = try KServeCommandLine.parse(args)
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        return nil
    }
}

@Suite("KServeCommandLine: KServe's flags with parse_known_args semantics")
struct KServeCommandLineTests {
    @Test("-c/--config in every argparse spelling")
    func configSpellings() throws {
        for args in [["-c", "a.conf"], ["--config", "a.conf"], ["--config=a.conf"], ["-c=a.conf"], ["-ca.conf"]] {
            #expect(try KServeCommandLine.parse(args).configPath == "a.conf", "\(args)")
        }
    }

    @Test("Every flag, in both --flag value and --flag=value forms")
    func everyFlag() throws {
        let (path, o) = try KServeCommandLine.parse([
            "-c", "k.conf", "--http_port", "9000", "--grpc_port=9001", "--workers", "4", "--enable_grpc=yes",
            "--enable_latency_logging", "off", "--model_name", "iris", "--model_dir=/mnt/models",
        ])
        #expect(path == "k.conf")
        #expect(o.httpPort == 9000)
        #expect(o.grpcPort == 9001)
        #expect(o.workers == 4)
        #expect(o.enableGRPC == true)
        #expect(o.enableLatencyLogging == false)
        #expect(o.modelName == "iris")
        #expect(o.modelDir == "/mnt/models")
        #expect(o.unknown.isEmpty)
    }

    @Test("KServe's transformer flags become [[models]] keys for the first entry")
    func predictorFlags() throws {
        let o = try KServeCommandLine.parse([
            "-c", "k.conf", "--predictor_host", "svc.ns:8080", "--predictor_protocol=grpc-v2", "--predictor_use_ssl",
            "true", "--predictor_request_timeout_seconds", "2.5", "--predictor_request_retries=3",
            "--enable_predictor_health_check",
        ]).overrides
        #expect(o.modelOptions == [
            "predictor_host": .string("svc.ns:8080"), "predictor_protocol": .string("grpc-v2"),
            "predictor_use_ssl": .bool(true), "predictor_request_timeout_seconds": .double(2.5),
            "predictor_request_retries": .int(3), "enable_predictor_health_check": .bool(true),
        ])
        #expect(o.unknown.isEmpty)
        #expect(try KServeCommandLine.parse(["-c", "k"]).overrides.modelOptions.isEmpty)
    }

    @Test(
        "Bad transformer flag values are errors naming the flag",
        arguments: [
            (["-c", "k", "--predictor_protocol", "v3"], "--predictor_protocol"),
            (["-c", "k", "--predictor_use_ssl", "maybe"], "--predictor_use_ssl"),
            (["-c", "k", "--predictor_request_timeout_seconds", "0"], "--predictor_request_timeout_seconds"),
            (["-c", "k", "--predictor_request_timeout_seconds=soon"], "--predictor_request_timeout_seconds"),
            (["-c", "k", "--predictor_request_retries", "-1"], "--predictor_request_retries"),
        ])
    func badPredictorFlags(args: [String], flag: String) {
        let e = cliError(args)
        #expect(e?.key == flag, "\(args)")
    }

    @Test("Flags not given stay nil")
    func nothingGiven() throws {
        let o = try KServeCommandLine.parse(["-c", "k.conf"]).overrides
        #expect(o == CommandLineOverrides())
    }

    @Test("A repeated flag takes its last value (ServingRuntime args + InferenceService args)")
    func lastWins() throws {
        let o = try KServeCommandLine.parse([
            "-c", "a.conf", "--http_port", "1", "--workers=2", "--http_port=2", "--workers", "3", "-c", "b.conf",
        ])
        #expect(o.configPath == "b.conf")
        #expect(o.overrides.httpPort == 2)
        #expect(o.overrides.workers == 3)
    }

    @Test("Unknown flags and their values are collected, not errors")
    func unknownCollected() throws {
        let (path, o) = try KServeCommandLine.parse([
            "--storage_uri", "s3://b/m", "-c", "k.conf", "--protocol=v2", "--my_flag", "true", "-v",
            "--http_port", "8085", "stray",
        ])
        #expect(path == "k.conf")
        #expect(o.httpPort == 8085)
        #expect(o.unknown == ["--storage_uri", "s3://b/m", "--protocol=v2", "--my_flag", "true", "-v", "stray"])
    }

    @Test("KServe flags that do not carry over are refused with why")
    func refusedFlags() throws {
        for args in [["--ssl_certfile=/c.pem"], ["--ssl_keyfile", "/k.pem"], ["--event_loop=uvloop"], ["--timeout_keep_alive=5"]] {
            #expect(throws: ConfigError.self) { try KServeCommandLine.parse(["-c", "k.conf"] + args) }
        }
    }

    @Test("The docs, access log and logging flags are taken")
    func loggingAndDocsFlags() throws {
        let (_, o) = try KServeCommandLine.parse([
            "-c", "k.conf", "--enable_docs_url", "true", "--configure_logging=false",
            "--access_log_format", "%(h)s %(r)s %(s)s", "--log_config_file=/etc/kserve/log.json",
        ])
        #expect(o.enableDocsURL == true)
        #expect(o.configureLogging == false)
        #expect(o.accessLogFormat?.text == "%(h)s %(r)s %(s)s")
        #expect(o.logConfigFile == "/etc/kserve/log.json")
        let error = #expect(throws: ConfigError.self) {
            try KServeCommandLine.parse(["-c", "k.conf", "--access_log_format=%(h)s %(zz)s"])
        }
        #expect(error?.key == "--access_log_format")
        #expect(error?.reason.contains("%(zz)s") == true)
        #expect(throws: ConfigError.self) { try KServeCommandLine.parse(["-c", "k.conf", "--enable_docs_url=maybe"]) }
    }

    @Test("An unknown single-dash word is collected, not split into short flags")
    func unknownShortCluster() throws {
        let (path, o) = try KServeCommandLine.parse(["-c", "k.conf", "-abc", "-hx"])
        #expect(path == "k.conf")
        #expect(Set(o.unknown) == ["-abc", "-hx"])
    }

    @Test(
        "strtobool spellings",
        arguments: [
            ("true", true), ("True", true), ("1", true), ("yes", true), ("y", true), ("on", true), ("t", true),
            ("false", false), ("FALSE", false), ("0", false), ("no", false), ("n", false), ("off", false), ("f", false),
        ])
    func strtobool(text: String, value: Bool) throws {
        let o = try KServeCommandLine.parse(["-c", "k", "--enable_grpc", text, "--enable_latency_logging=\(text)"])
        #expect(o.overrides.enableGRPC == value)
        #expect(o.overrides.enableLatencyLogging == value)
    }

    @Test(
        "Bad values are errors naming the flag",
        arguments: [
            (["-c", "k", "--http_port", "abc"], "--http_port"),
            (["-c", "k", "--http_port=0"], "--http_port"),
            (["-c", "k", "--grpc_port", "65536"], "--grpc_port"),
            (["-c", "k", "--workers", "0"], "--workers"),
            (["-c", "k", "--workers=two"], "--workers"),
            (["-c", "k", "--enable_grpc", "maybe"], "--enable_grpc"),
            (["-c", "k", "--enable_latency_logging="], "--enable_latency_logging"),
            (["-c", "k", "--model_name="], "--model_name"),
            (["-c", "k", "--model_name", "a/b"], "--model_name"),
            (["-c="], "-c/--config"),
        ])
    func badValues(args: [String], flag: String) {
        let e = cliError(args)
        #expect(e != nil, "expected an error for \(args)")
        #expect(e?.key == flag)
        #expect(e?.file == "command line")
    }

    @Test("A flag without its value is an error naming the flag")
    func missingValue() {
        let e = cliError(["-c", "k", "--http_port"])
        #expect(e?.description.contains("--http_port") == true)
        let f = cliError(["-c", "k", "--model_name", "--workers", "2"])
        #expect(f?.description.contains("--model_name") == true)
    }

    @Test("-h and --help ask for the usage text")
    func help() {
        for flag in ["-h", "--help"] {
            #expect(throws: CommandLineHelpRequested.self) { _ = try KServeCommandLine.parse(["-c", "k", flag]) }
        }
        #expect(KServeCommandLine.helpText.contains("--http_port"))
    }

    @Test("-s reload|stop|quit|reopen and -t, nginx-style")
    func controlActions() throws {
        #expect(try KServeCommandLine.parse(["-c", "k.conf"]).overrides.action == .serve)
        for command in ControlCommand.allCases {
            for args in [["-s", command.rawValue, "-c", "k.conf"], ["-c", "k.conf", "-s\(command.rawValue)"],
                         ["-s=\(command.rawValue)", "-c", "k.conf"]] {
                let (path, o) = try KServeCommandLine.parse(args)
                #expect(path == "k.conf")
                #expect(o.action == .signal(command), "\(args)")
                #expect(o.unknown.isEmpty, "\(args)")
            }
        }
        #expect(try KServeCommandLine.parse(["-t", "-c", "k.conf"]).overrides.action == .testConfiguration)
        #expect(cliError(["-s", "restart", "-c", "k.conf"])?.key == "-s")
        #expect(cliError(["-s", "reload", "-t", "-c", "k.conf"])?.key == "-t")
        #expect(cliError(["-c", "k.conf", "-s"]) != nil)
    }
}
