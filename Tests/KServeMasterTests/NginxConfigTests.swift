import Glibc
import KServeConfig
import Testing

@testable import KServeMaster

/// The repository root, from this file's path.
private let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/KServeMasterTests/NginxConfigTests.swift
    return parts.joined(separator: "/")
}()

/// A fresh temporary folder.
func temporaryFolder(_ name: String) -> String {
    var template = Array("/tmp/kserve-\(name)-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return nil }
        return String(cString: made)
    }
    return path ?? "/tmp/kserve-\(name)-\(getpid())"
}

/// A config whose run folder is `run` and whose templates are the repository's.
func testConfig(run: String, port: Int = 18_999) throws -> ServerConfig {
    try ServerConfig.parse(
        toml: """
            [server]
            run_dir = "\(run)"
            [http]
            port = \(port)
            host = "127.0.0.1"
            max_body_size = "3m"
            nginx_template = "\(repositoryRoot)/nginx/kserve.conf.template"
            [limits]
            max_header_length = "16k"
            """, path: run + "/test.conf")
}

@Suite("nginx config rendering")
struct NginxConfigTests {
    @Test("Placeholders are substituted; unknown or unterminated ones are errors")
    func substitution() throws {
        let out = try NginxConfig.substitute("a {{x}} b {{ y }}", ["x": "1", "y": "2"], templateName: "t")
        #expect(out == "a 1 b 2")
        #expect(throws: MasterError.self) { try NginxConfig.substitute("{{nope}}", ["x": "1"], templateName: "t") }
        #expect(throws: MasterError.self) { try NginxConfig.substitute("{{x", ["x": "1"], templateName: "t") }
    }

    @Test("Values are escaped for nginx double-quoted strings; IPv6 hosts get brackets")
    func escaping() throws {
        #expect(NginxConfig.escape(#"/a b/"c"\d"#) == #"/a b/\"c\"\\d"#)
        var config = try testConfig(run: "/tmp/x")
        config.http.host = "::"
        let values = NginxConfig(config: config).values(config: config, runningAsRoot: false)
        #expect(values["listen"] == "[::]:18999")
        #expect(values["user_line"]?.hasPrefix("#") == true)
        #expect(NginxConfig(config: config).values(config: config, runningAsRoot: true)["user_line"]?.hasPrefix("user root;") == true)
    }

    @Test("The repository's templates render every KServe setting and pass nginx -t")
    func repositoryTemplates() throws {
        let run = temporaryFolder("nginx")
        let config = try testConfig(run: run)
        let files = NginxConfig(config: config)
        #expect(POSIX.makeDirectories(files.prefix, mode: 0o750))
        try files.render(config: config, runningAsRoot: geteuid() == 0)
        let main = try #require(POSIX.readSmallFile(files.mainConfigPath))
        let locations = try #require(POSIX.readSmallFile(files.locationsPath))
        #expect(!main.contains("{{") && !locations.contains("{{"))
        #expect(main.contains("listen 127.0.0.1:18999;"))
        #expect(main.contains("daemon off;"))
        #expect(main.contains("include \"\(run)/kserve-locations.conf\";"))
        #expect(locations.contains("fastcgi_pass \"unix:\(run)/run/kserve.sock\";") || locations.contains("unix:\(config.socketPath)"))
        #expect(locations.contains("client_max_body_size 3145728;"))
        #expect(locations.contains("large_client_header_buffers 4 16384;"))
        #expect(locations.contains("fastcgi_keep_conn off;"))
        #expect(locations.contains("fastcgi_param PATH_INFO         $uri;"))
        #expect(locations.contains("fastcgi_read_timeout 300s;"))
        #expect(locations.contains("location = /status {"))
        #expect(locations.contains("alias \"\(run)/status.json\";"))
        #expect(main.contains("error_log stderr "))
        for code in [400, 404, 405, 413, 414, 494, 500, 502, 503, 504] {
            #expect(locations.contains("/.kserve-nginx-error/\(code)"), "error page \(code)")
        }
        guard let nginx = POSIX.findExecutable("nginx") else { return }  // nginx -t only where nginx is installed
        let launch = NginxLaunch(binary: nginx, files: files)
        let status = try Spawner.run(path: nginx, arguments: launch.arguments(test: true), environment: childEnvironment())
        #expect(status == 0, "nginx -t rejected \(files.mainConfigPath)")
    }

    @Test("With [grpc] enable, nginx fronts the gRPC port: the server block is rendered and included, and passes nginx -t")
    func grpcServerBlock() throws {
        let run = temporaryFolder("nginx-grpc")
        var config = try testConfig(run: run)
        config.grpc.enable = true
        config.grpc.host = "127.0.0.1"
        config.grpc.port = 18_998
        config.grpc.maxMessageSize = 1000
        config.grpc.maxConcurrentCalls = 7
        #expect(NginxConfig.grpcThroughNginx(config))
        let files = NginxConfig(config: config)
        #expect(POSIX.makeDirectories(files.prefix, mode: 0o750))
        try files.render(config: config, runningAsRoot: geteuid() == 0)
        let main = try #require(POSIX.readSmallFile(files.mainConfigPath))
        let grpc = try #require(POSIX.readSmallFile(files.grpcPath))
        #expect(main.contains("include \"\(run)/kserve-grpc.conf\";"))
        #expect(!grpc.contains("{{"))
        #expect(grpc.contains("listen 127.0.0.1:18998 http2;"))
        #expect(grpc.contains("client_max_body_size 1005;"))  // the limit + the 5-byte prefix
        // An explicit call limit is kept by the gRPC process (with its queue): ModelInfer goes there too.
        #expect(!grpc.contains("location = /inference.GRPCInferenceService/ModelInfer {"))
        #expect(grpc.contains("location = /.kserve-model-infer-through-the-grpc-process {"))
        config.grpc.maxConcurrentCalls = 0
        let unlimited = try #require(try files.renderTexts(config: config, runningAsRoot: false).grpc)
        #expect(unlimited.contains("location = /inference.GRPCInferenceService/ModelInfer {"))
        #expect(grpc.contains("fastcgi_param KSERVE_PROTOCOL   grpc-wire;"))
        #expect(grpc.contains("grpc_pass \"unix:\(config.grpcBackendSocketPath)\";"))
        #expect(grpc.contains("add_trailer grpc-status $upstream_http_grpc_status always;"))
        if let nginx = POSIX.findExecutable("nginx") {
            let launch = NginxLaunch(binary: nginx, files: files)
            let status = try Spawner.run(path: nginx, arguments: launch.arguments(test: true), environment: childEnvironment())
            #expect(status == 0, "nginx -t rejected \(files.mainConfigPath) with \(files.grpcPath)")
        }

        // Off: the gRPC process keeps the port; the placeholder renders a comment and no server block.
        config.grpc.throughNginx = false
        #expect(!NginxConfig.grpcThroughNginx(config))
        let off = try files.renderTexts(config: config, runningAsRoot: false)
        #expect(off.grpc == nil)
        #expect(off.main?.contains("kserve-grpc.conf\";") == false)
        // A custom template without the placeholder leaves the port to the gRPC process too.
        config.grpc.throughNginx = true
        let custom = run + "/custom.conf.template"
        try POSIX.writeFileAtomically(custom, "events {}\nhttp { include \"{{locations_file}}\"; }\n", mode: 0o640)
        config.http.nginxTemplate = custom
        #expect(!NginxConfig.grpcThroughNginx(config))
    }

    @Test("A reload re-renders only on change, and tests the new files before replacing the old ones")
    func rerender() throws {
        let run = temporaryFolder("rerender")
        var config = try testConfig(run: run)
        let files = NginxConfig(config: config)
        #expect(POSIX.makeDirectories(files.prefix, mode: 0o750))
        try files.render(config: config, runningAsRoot: false)
        #expect(try files.rerender(config: config, runningAsRoot: false) { _ in Issue.record("tested unchanged files") } == false)
        config.server.requestTimeout = 2
        var tested: String?
        #expect(throws: MasterError.self) {
            try files.rerender(config: config, runningAsRoot: false) { path in
                tested = POSIX.readSmallFile(path)
                throw MasterError("rejected")
            }
        }
        #expect(tested?.contains("kserve-locations.conf.new") == true)
        #expect(POSIX.readSmallFile(files.locationsPath)?.contains("fastcgi_read_timeout 300s;") == true)
        #expect(try files.rerender(config: config, runningAsRoot: false) { _ in } == true)
        #expect(POSIX.readSmallFile(files.locationsPath)?.contains("fastcgi_read_timeout 2000ms;") == true)
        #expect(POSIX.readSmallFile(files.mainConfigPath)?.contains(".new") == false)
    }
}
