// kserve-master: the master, worker and (later) gRPC roles of the KServe model server, in one binary.
import Glibc
import KServe
import KServeSamples

do {
    let server = try ModelServer(commandLine: CommandLine.arguments)
    bootstrapLogging(level: server.config.server.logLevel)
    SampleKinds.register(on: server)
    await server.start()
} catch {
    var stderr = StandardError()
    print("kserve-master: \(error)", to: &stderr)
    exit(2)
}
