// kserve-grpc-loadgen: a small, bounded gRPC load generator for `make bench`.
//
//   kserve-grpc-loadgen --port 8081 [--host 127.0.0.1] [--model echo] [--workload small|fp32-4mb]
//                       [--concurrency 16] [--duration 10] [--warmup 2] [--max-requests 2000000]
//                       [--connections 1] [--timeout 60]
//
// It keeps `concurrency` ModelInfer calls in flight (closed loop: each of `concurrency` tasks sends its next call
// when the previous one answered), first for `warmup` seconds (discarded), then for `duration` seconds or
// `max-requests` calls, whichever comes first, and prints one JSON object on stdout:
//
//   {"workload":"small","concurrency":16,"requests":12345,"errors":0,"seconds":10.0,"rps":1234.5,
//    "p50_ms":1.2,"p90_ms":..,"p99_ms":..,"max_ms":..,"mean_ms":..,"first_error":null}
//
// Workloads: `small` is a ModelInfer with one FP32 [2,4] input in typed contents (the gRPC twin of the v2 small JSON
// request); `fp32-4mb` is one FP32 [1,1048576] input (4 MiB) in raw_input_contents. A call counts as an error when
// it fails or when the answer does not carry the echoed tensor (one output; for fp32-4mb 4 MiB of raw output).
//
// Only loopback targets are accepted (127.0.0.0/8 or ::1): this tool is for measuring servers on this machine.
// Every loop is bounded by time and by count; an overall deadline (`timeout`) cancels whatever is still running.

import FoundationEssentials
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Glibc
import KServeProtobuf
import Synchronization

// MARK: - Options

struct Options: Sendable {
    var host = "127.0.0.1"
    var port = 8081
    var model = "echo"
    var workload = "small"
    var concurrency = 16
    var duration = 10.0
    var warmup = 2.0
    var maxRequests = 2_000_000
    var connections = 1
    var timeout = 60.0

    static let usage = """
        usage: kserve-grpc-loadgen --port N [--host 127.0.0.1] [--model echo] [--workload small|fp32-4mb]
                                   [--concurrency 16] [--duration 10] [--warmup 2] [--max-requests 2000000]
                                   [--connections 1] [--timeout 60]
        """

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 0
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func int(_ s: String, _ name: String, _ range: ClosedRange<Int>) -> Int {
            guard let v = Int(s), range.contains(v) else { fail("\(name) must be an integer in \(range)") }
            return v
        }
        func seconds(_ s: String, _ name: String, _ range: ClosedRange<Double>) -> Double {
            guard let v = Double(s), range.contains(v) else { fail("\(name) must be seconds in \(range)") }
            return v
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--host": o.host = value()
            case "--port": o.port = int(value(), a, 1...65535)
            case "--model": o.model = value()
            case "--workload": o.workload = value()
            case "--concurrency": o.concurrency = int(value(), a, 1...1024)
            case "--duration": o.duration = seconds(value(), a, 0.1...3600)
            case "--warmup": o.warmup = seconds(value(), a, 0...600)
            case "--max-requests": o.maxRequests = int(value(), a, 1...100_000_000)
            case "--connections": o.connections = int(value(), a, 1...64)
            case "--timeout": o.timeout = seconds(value(), a, 1...7200)
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown argument \(a)")
            }
            i += 1
        }
        guard ["small", "fp32-4mb"].contains(o.workload) else { fail("--workload must be small or fp32-4mb") }
        guard isLoopback(o.host) else { fail("--host must be a loopback address (127.0.0.0/8 or ::1)") }
        o.connections = min(o.connections, o.concurrency)
        return o
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "::1" || host == "[::1]" || host == "localhost" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }
}

/// Writes all of `text` to a descriptor (no stdio: its globals are not concurrency-safe in Swift 6).
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
}

func printError(_ text: String) { writeAll(2, text) }

func fail(_ message: String) -> Never {
    printError("kserve-grpc-loadgen: \(message)\n\(Options.usage)\n")
    exit(2)
}

// MARK: - Requests

let rawTensorElements = 1 << 20  // 4 MiB of FP32

func makeRequest(_ o: Options) -> Inference_ModelInferRequest {
    var request = Inference_ModelInferRequest()
    request.modelName = o.model
    var input = Inference_ModelInferRequest.InferInputTensor()
    input.name = "input-0"
    input.datatype = "FP32"
    if o.workload == "small" {
        input.shape = [2, 4]
        var contents = Inference_InferTensorContents()
        contents.fp32Contents = [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]
        input.contents = contents
        request.inputs = [input]
    } else {
        input.shape = [1, Int64(rawTensorElements)]
        request.inputs = [input]
        // 1.0f little-endian, repeated: the same bytes as the HTTP binary workload.
        var raw = Data(count: rawTensorElements * 4)
        raw.withUnsafeMutableBytes { buf in
            let f = buf.bindMemory(to: UInt32.self)
            for k in 0..<f.count { f[k] = UInt32(0x3F80_0000).littleEndian }
        }
        request.rawInputContents = [raw]
    }
    return request
}

/// Whether an answer carries the echoed tensor.
func looksRight(_ r: Inference_ModelInferResponse, workload: String) -> Bool {
    guard r.outputs.count == 1 else { return false }
    if workload == "small" {
        return r.outputs[0].contents.fp32Contents.count == 8 || r.rawOutputContents.first?.count == 32
    }
    return r.rawOutputContents.first?.count == rawTensorElements * 4
}

let modelInferDescriptor = MethodDescriptor(
    fullyQualifiedService: "inference.GRPCInferenceService", method: "ModelInfer", type: .unary)

// MARK: - Load

struct PhaseResult: Sendable {
    var latencies: [Double] = []  // seconds, successful calls only
    var errors = 0
    var firstError: String?

    mutating func merge(_ other: PhaseResult) {
        latencies += other.latencies
        errors += other.errors
        if firstError == nil { firstError = other.firstError }
    }
}

/// A shared call budget (the count bound of a phase).
final class Budget: Sendable {
    private let remaining: Mutex<Int>
    init(_ n: Int) { remaining = Mutex(n) }
    func take() -> Bool {
        remaining.withLock { r in
            guard r > 0 else { return false }
            r -= 1
            return true
        }
    }
}

func runPhase(
    clients: [GRPCClient<HTTP2ClientTransport.Posix>], request: Inference_ModelInferRequest, options o: Options,
    seconds: Double, maxRequests: Int
) async -> (PhaseResult, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start.advanced(by: .milliseconds(Int64(seconds * 1000)))
    let budget = Budget(maxRequests)
    var callOptions = CallOptions.defaults
    callOptions.maxRequestMessageBytes = 256 << 20
    callOptions.maxResponseMessageBytes = 256 << 20
    callOptions.timeout = .seconds(Int64(max(1, o.timeout)))
    let options = callOptions
    let workload = o.workload
    let result = await withTaskGroup(of: PhaseResult.self) { group in
        for t in 0..<o.concurrency {
            let client = clients[t % clients.count]
            group.addTask {
                var r = PhaseResult()
                r.latencies.reserveCapacity(1024)
                while clock.now < deadline, !Task.isCancelled, budget.take() {
                    let t0 = clock.now
                    do {
                        let ok = try await client.unary(
                            request: ClientRequest(message: request), descriptor: modelInferDescriptor,
                            serializer: ProtobufSerializer<Inference_ModelInferRequest>(),
                            deserializer: ProtobufDeserializer<Inference_ModelInferResponse>(), options: options
                        ) { response in
                            looksRight(try response.message, workload: workload)
                        }
                        let elapsed = t0.duration(to: clock.now)
                        if ok {
                            r.latencies.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
                        } else {
                            r.errors += 1
                            if r.firstError == nil { r.firstError = "the answer does not carry the echoed tensor" }
                        }
                    } catch {
                        r.errors += 1
                        if r.firstError == nil { r.firstError = "\(error)" }
                        // Do not spin on a dead server: the loop is bounded, but keep it cheap.
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                }
                return r
            }
        }
        var all = PhaseResult()
        for await r in group { all.merge(r) }
        return all
    }
    let elapsed = start.duration(to: clock.now)
    return (result, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

func jsonNumber(_ v: Double) -> String {
    guard v.isFinite else { return "null" }
    return String(format3(v))
}

func format3(_ v: Double) -> String {
    let scaled = (v * 1000).rounded() / 1000
    return "\(scaled)"
}

func jsonString(_ s: String?) -> String {
    guard let s else { return "null" }
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}

func report(_ o: Options, _ r: PhaseResult, seconds: Double) -> String {
    let sorted = r.latencies.sorted()
    let ms = { (v: Double) in jsonNumber(v * 1000) }
    let mean = sorted.isEmpty ? Double.nan : sorted.reduce(0, +) / Double(sorted.count)
    let rps = seconds > 0 ? Double(sorted.count) / seconds : 0
    return "{\"workload\":\(jsonString(o.workload)),\"concurrency\":\(o.concurrency),"
        + "\"connections\":\(o.connections),\"requests\":\(sorted.count),\"errors\":\(r.errors),"
        + "\"seconds\":\(jsonNumber(seconds)),\"rps\":\(jsonNumber(rps)),"
        + "\"p50_ms\":\(ms(percentile(sorted, 50))),\"p90_ms\":\(ms(percentile(sorted, 90))),"
        + "\"p99_ms\":\(ms(percentile(sorted, 99))),\"max_ms\":\(ms(sorted.last ?? .nan)),"
        + "\"mean_ms\":\(ms(mean)),\"first_error\":\(jsonString(r.firstError))}"
}

// MARK: - Main

@main
enum LoadGen {
    static func main() async {
        let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
        let request = makeRequest(options)

        // The hard deadline: whatever happens (a server that never answers, a hung connection), SIGALRM ends the
        // process (its default action).
        alarm(UInt32(options.warmup + options.duration + options.timeout + 10))

        let clients: [GRPCClient<HTTP2ClientTransport.Posix>]
        do {
            clients = try (0..<options.connections).map { _ in
                let host = String(options.host.filter { $0 != "[" && $0 != "]" })
                let transport = try HTTP2ClientTransport.Posix(
                    target: host.contains(":")
                        ? .ipv6(address: host, port: options.port)
                        : .ipv4(address: host == "localhost" ? "127.0.0.1" : host, port: options.port),
                    transportSecurity: .plaintext,
                    config: .defaults { config in
                        config.http2.maxFrameSize = 1 << 20
                        config.http2.targetWindowSize = 16 << 20
                    })
                return GRPCClient(transport: transport)
            }
        } catch {
            fail("cannot create the client: \(error)")
        }

        let output: String = await withTaskGroup(of: String?.self) { group in
            for client in clients {
                group.addTask {
                    do { try await client.runConnections() } catch {
                        printError("kserve-grpc-loadgen: \(error)\n")
                    }
                    return nil
                }
            }
            group.addTask {
                if options.warmup > 0 {
                    _ = await runPhase(
                        clients: clients, request: request, options: options, seconds: options.warmup,
                        maxRequests: options.maxRequests)
                }
                let (result, seconds) = await runPhase(
                    clients: clients, request: request, options: options, seconds: options.duration,
                    maxRequests: options.maxRequests)
                for client in clients { client.beginGracefulShutdown() }
                return report(options, result, seconds: seconds)
            }
            var line = ""
            for await value in group {
                if let value { line = value }
            }
            return line
        }
        alarm(0)
        writeAll(1, output + "\n")
    }
}
