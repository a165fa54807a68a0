import Glibc
import NIOCore
import NIOPosix

/// Why a FastCGI exchange with a worker failed.
enum FastCGIClientError: Error, CustomStringConvertible {
    /// `connect()` failed with EAGAIN: the socket's accept queue (backlog) is full.
    case backlogFull
    /// `connect()` failed otherwise (no socket file, connection refused: no worker is listening).
    case connect(any Error)
    /// The worker closed the connection (or reset it) before END_REQUEST: it was killed or crashed mid-call.
    case closedEarly((any Error)?)
    /// The worker refused the request (END_REQUEST with a protocol status other than REQUEST_COMPLETE).
    case rejected(FastCGI.ProtocolStatus?)
    /// The answer was not valid FastCGI / CGI.
    case protocolError(String)

    var description: String {
        switch self {
        case .backlogFull: return "the FastCGI socket's accept queue is full"
        case .connect(let e): return "cannot connect to the worker socket: \(e)"
        case .closedEarly(let e?): return "the worker closed the connection before answering (\(e))"
        case .closedEarly(nil): return "the worker closed the connection before answering"
        case .rejected(let s?): return "the worker rejected the request (\(s))"
        case .rejected(nil): return "the worker rejected the request"
        case .protocolError(let m): return m
        }
    }
}

/// A FastCGI client of the workers' Unix socket: one connection per call, closed as soon as END_REQUEST arrives
/// (libfcgi would otherwise wait up to 2 s for the client to close).
struct FastCGIClient: Sendable {
    /// The workers' listening socket.
    let socketPath: String
    /// The event loops the connections run on.
    let group: any EventLoopGroup

    /// Sends one request and reads the whole answer.
    ///
    /// Cancelling the calling task closes the connection (the worker sees EPIPE on its next write).
    /// - Parameters:
    ///   - params: the FastCGI parameters, in order.
    ///   - body: the STDIN stream.
    /// - Returns: the worker's CGI answer and anything it wrote to STDERR.
    /// - Throws: ``FastCGIClientError``, or `CancellationError` when the task was cancelled.
    func exchange(params: [(String, String)], body: [UInt8]) async throws -> (response: CGIResponse, stderr: [UInt8]) {
        let request = FastCGI.encodeRequest(params: params, stdin: body)
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch let error as IOError where error.errnoCode == EAGAIN || error.errnoCode == EWOULDBLOCK {
            throw FastCGIClientError.backlogFull
        } catch {
            try Task.checkCancellation()
            throw FastCGIClientError.connect(error)
        }
        typealias Outcome = Result<(response: CGIResponse, stderr: [UInt8]), FastCGIClientError>
        let result: Outcome
        do {
            result = try await channel.executeThenClose { inbound, outbound async throws -> Outcome in
                try await outbound.write(ByteBuffer(bytes: request))
                var reader = FastCGIRecordReader()
                do {
                    for try await buffer in inbound {
                        try buffer.withUnsafeReadableBytes { try reader.consume($0) }
                        if reader.end != nil { break }
                    }
                } catch let error as FastCGIProtocolError {
                    return .failure(.protocolError(error.description))
                } catch {
                    try Task.checkCancellation()
                    return .failure(.closedEarly(error))
                }
                try Task.checkCancellation()
                guard let end = reader.end else { return .failure(.closedEarly(nil)) }
                guard end.protocolStatus == FastCGI.ProtocolStatus.requestComplete.rawValue else {
                    return .failure(.rejected(FastCGI.ProtocolStatus(rawValue: end.protocolStatus)))
                }
                do {
                    return .success((response: try CGIResponse(stdout: reader.stdout), stderr: reader.stderr))
                } catch let error as FastCGIProtocolError {
                    return .failure(.protocolError(error.description))
                }
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try Task.checkCancellation()
            throw FastCGIClientError.closedEarly(error)
        }
        return try result.get()
    }
}
