// An example of your own model server: models registered in code, an exception handler, an engine model, and a
// flag of its own (KServe passes unknown flags through). `make test` runs it end to end (Tests/e2e/test_lifecycle.py).
//
//   kserve-example-server --http_port 8080 --mark_dir /tmp/marks     (no config file: built-in defaults)
import Glibc
import KServe

/// Thrown by ``Faulty`` on purpose.
struct ExampleError: Error, CustomStringConvertible {
    let reason: String
    var description: String { "ExampleError: \(reason)" }
}

/// v1 `{"instances": [...]}`: echoes them, unless an instance is the string "fail" (then an error escapes).
final class Faulty: Model, @unchecked Sendable {
    override func load() async throws { ready = true }

    override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        let json = try payload.json()
        if case .array(let items)? = json["instances"], items.contains(.string("fail")) {
            throw ExampleError(reason: "asked to fail")
        }
        guard let instances = json["instances"] else { throw KServeError.invalidInput(#"Expected "instances""#) }
        return .json(.object(["predictions": instances]))
    }
}

/// An engine model (the seed's `engine = True`): started by `startEngine()`, stopped by `stop()` then `stopEngine()`,
/// each writing a line to `<mark_dir>/lifecycle-<pid>` so the order can be checked after a graceful stop.
final class Engine: Model, @unchecked Sendable {
    let markDir: String?

    init(name: String, markDir: String?) {
        self.markDir = markDir
        super.init(name: name)
        engine = true
    }

    func mark(_ line: String) {
        guard let markDir, let f = fopen("\(markDir)/lifecycle-\(getpid())", "a") else { return }
        fputs(line + "\n", f)
        fclose(f)
    }

    override func startEngine() async throws {
        mark("start_engine")
        ready = true
    }

    override func stop() async {
        mark("stop")
        await super.stop()
    }

    override func stopEngine() async {
        mark("stop_engine")
        await super.stopEngine()
    }

    override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        .json(.object(["predictions": try payload.json()["instances"] ?? .null]))
    }
}

/// The value of `--name VALUE` or `--name=VALUE` among the arguments the server did not know.
func flag(_ name: String, in args: [String]) -> String? {
    for (i, a) in args.enumerated() {
        if a == name, i + 1 < args.count { return args[i + 1] }
        if a.hasPrefix(name + "=") { return String(a.dropFirst(name.count + 1)) }
    }
    return nil
}

do {
    let server = try ModelServer(commandLine: CommandLine.arguments)
    bootstrapLogging(config: server.config)
    let markDir = flag("--mark_dir", in: server.unknownArguments)
    if let markDir {
        server.registerExceptionHandler { error in
            guard let f = fopen("\(markDir)/exceptions.log", "a") else { return }
            fputs("\(error)\n", f)
            fclose(f)
        }
    }
    await server.start(models: [Faulty(name: "faulty"), Engine(name: "engine", markDir: markDir)])
} catch let help as CommandLineHelpRequested {
    print(help.text)
    exit(0)
} catch {
    let text = "kserve-example-server: \(error)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
