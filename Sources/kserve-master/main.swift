// kserve-master: the master, worker and gRPC roles of the KServe model server, in one binary.
import Glibc
import KServe
import KServeONNX
import KServeSamples
import KServeTreeModels

do {
    let server = try ModelServer(commandLine: CommandLine.arguments)
    bootstrapLogging(config: server.config)
    SampleKinds.register(on: server)
    TreeKinds.register(on: server)
    ONNXKinds.register(on: server)
    await server.start()
} catch let help as CommandLineHelpRequested {
    print(help.text)
    exit(0)
} catch {
    var stderr = StandardError()
    print("kserve-master: \(error)", to: &stderr)
    exit(2)
}
