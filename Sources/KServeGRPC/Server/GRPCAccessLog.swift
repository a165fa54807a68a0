import Glibc
import KServeConfig
import Logging
import NIOCore
import NIOHPACK

/// Writes one access line per call: with `[server] access_log_format` that format (the same atoms as REST;
/// `%(s)s` is the gRPC status code's number, `%(b)s` the response message's bytes, `%(h)s` the peer's address,
/// `%(r)s` `POST /inference.GRPCInferenceService/ModelInfer HTTP/2.0`, `%({x}i)s` the call's metadata); without it
/// KServe's LoggingInterceptor line (`grpc method: /inference.GRPCInferenceService/X`) with the address, status,
/// bytes and duration. Nothing is formatted when the logger's level is above info.
struct GRPCAccessLog: Sendable {
    let logger: Logger
    let format: AccessLogFormat?

    func log(
        path: String, code: GRPCCode, peer: SocketAddress?, bytes: Int, metadata: HPACKHeaders,
        started: NIODeadline, wallStarted: Int
    ) {
        guard logger.logLevel <= .info else { return }
        let elapsed = NIODeadline.now() - started
        let seconds = Double(elapsed.nanoseconds) / 1e9
        // Behind nginx the peer is nginx on a Unix socket; nginx names the client in X-Real-IP.
        let address = peer?.ipAddress ?? metadata.first(name: "x-real-ip") ?? "-"
        if let format {
            let entry = AccessLogEntry(
                remoteAddress: address, method: "POST", path: path, query: "", protocolName: "HTTP/2.0",
                status: String(code.rawValue), bodyBytes: bytes, duration: seconds, startTime: wallStarted)
            let line = format.render(
                entry, requestHeader: { metadata.first(name: $0) },
                responseHeader: { name in name == "grpc-status" ? String(code.rawValue) : nil })
            logger.info("\(line)")
        } else {
            let status = code == .ok ? "ok" : code.name.lowercased()
            logger.info("\(address) grpc method: \(path) \(status) \(bytes)B \((seconds * 1_000_000).rounded() / 1000)ms")
        }
    }
}

/// Unix time in whole seconds.
func wallClockSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    return Int(ts.tv_sec)
}
