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
    /// The exchange was cancelled by its caller (the client went away, the deadline passed).
    case cancelled

    var description: String {
        switch self {
        case .backlogFull: return "the FastCGI socket's accept queue is full"
        case .connect(let e): return "cannot connect to the worker socket: \(e)"
        case .closedEarly(let e?): return "the worker closed the connection before answering (\(e))"
        case .closedEarly(nil): return "the worker closed the connection before answering"
        case .rejected(let s?): return "the worker rejected the request (\(s))"
        case .rejected(nil): return "the worker rejected the request"
        case .protocolError(let m): return m
        case .cancelled: return "the exchange was cancelled"
        }
    }
}

/// A failed system call, with its errno.
struct POSIXFailure: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }
    var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

/// The worker's whole answer to one exchange.
struct FastCGIAnswer {
    var response: CGIResponse
    var stderr: [UInt8]
}

/// One FastCGI exchange with a worker, on the calling event loop: one connection per call, closed as soon as
/// END_REQUEST arrives (libfcgi would otherwise wait for the client to close).
///
/// Everything runs on the event loop of the gRPC stream that asked (the connection is registered on it), so a
/// call never changes threads: no pool, no continuation, no task. The connection is made with a plain
/// non-blocking `connect()` first, so that a full accept queue answers EAGAIN at once (``FastCGIClientError/backlogFull``)
/// instead of waiting, and is then handed to NIO. The request is written as a gather list: the FastCGI head,
/// then per STDIN record its 8-byte header and a slice of the caller's message buffer (never a copy of it).
final class FastCGIExchange: @unchecked Sendable {
    // @unchecked: every stored property is read and written on `eventLoop` only (init, the connect callback and
    // cancel() all run there).
    private let eventLoop: any EventLoop
    private let promise: EventLoopPromise<FastCGIAnswer>
    private var channel: (any Channel)?
    private var cancelled = false

    /// The answer, or ``FastCGIClientError`` (``FastCGIClientError/cancelled`` after ``cancel()``).
    var futureResult: EventLoopFuture<FastCGIAnswer> { promise.futureResult }

    /// Requests up to this size (body) are written directly after `connect`, in one buffer.
    static let directWriteLimit = 65535 - 8

    /// Starts the exchange on `eventLoop` (call it on that event loop).
    /// - Parameters:
    ///   - socketPath: the workers' Unix socket.
    ///   - params: the FastCGI parameters, in order.
    ///   - body: the STDIN stream (the request message), sent from this buffer.
    ///   - eventLoop: the caller's event loop; the answer is delivered on it.
    init(socketPath: String, params: [(String, String)], body: ByteBuffer, on eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.promise = eventLoop.makePromise(of: FastCGIAnswer.self)
        let fd: Int32
        switch Self.connect(socketPath) {
        case .failure(let error):
            promise.fail(error)
            return
        case .success(let socket):
            fd = socket
        }
        let head = FastCGI.encodeRequestHead(params: params, stdinCount: body.readableBytes)
        // A small request (most calls) is written at once on the fresh socket, before NIO takes it over: it is in
        // the worker's queue before the worker wakes for the connection, so the worker reads it in one go, and
        // the write costs one system call instead of a trip through the channel pipeline.
        var unsent: ByteBuffer?
        if body.readableBytes <= Self.directWriteLimit {
            var whole = ByteBufferAllocator().buffer(capacity: head.head.count + head.stdinHeaders.count + body.readableBytes)
            whole.writeBytes(head.head)
            if body.readableBytes > 0 {
                whole.writeBytes(head.stdinHeaders[0..<8])
                whole.writeImmutableBuffer(body)
            }
            whole.writeBytes(head.stdinHeaders.suffix(8))
            let written = whole.withUnsafeReadableBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                let failure = POSIXFailure("write", errno)
                close(fd)
                promise.fail(FastCGIClientError.closedEarly(failure))
                return
            }
            whole.moveReaderIndex(forwardBy: max(0, written))
            unsent = whole.readableBytes > 0 ? whole : nil
        }
        let promise = self.promise
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: HTTP2Listener.largeReads)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FastCGIAnswerHandler(promise: promise))
                }
            }
        bootstrap.withConnectedSocket(fd).whenComplete { result in
            switch result {
            case .failure(let error):
                promise.fail(FastCGIClientError.connect(error))
            case .success(let channel):
                self.channel = channel
                if self.cancelled {
                    channel.close(promise: nil)
                    return
                }
                if body.readableBytes > Self.directWriteLimit {
                    Self.write(head: head, body: body, to: channel)
                } else if let unsent {
                    channel.writeAndFlush(unsent, promise: nil)
                }
            }
        }
    }

    /// Ends the exchange now: the connection is closed (the worker sees EPOF / EPIPE) and the answer fails with
    /// ``FastCGIClientError/cancelled``. Call it on the event loop.
    func cancel() {
        guard !cancelled else { return }
        cancelled = true
        promise.fail(FastCGIClientError.cancelled)
        channel?.close(promise: nil)
    }

    /// Writes the request: head, then each STDIN record header and its slice of the body, then the closing
    /// empty STDIN record, in one flush (NIO gathers the buffers into `writev`).
    private static func write(head: (head: [UInt8], stdinHeaders: [UInt8]), body: ByteBuffer, to channel: any Channel) {
        let allocator = channel.allocator
        var first = allocator.buffer(capacity: head.head.count + 8)
        first.writeBytes(head.head)
        var offset = body.readerIndex
        let end = body.writerIndex
        var k = 0
        if offset == end {
            first.writeBytes(head.stdinHeaders[0..<8])
            channel.writeAndFlush(first, promise: nil)
            return
        }
        first.writeBytes(head.stdinHeaders[0..<8])
        channel.write(first, promise: nil)
        while offset < end {
            let n = min(FastCGI.maxContentLength, end - offset)
            if k > 0 {
                var header = allocator.buffer(capacity: 8)
                header.writeBytes(head.stdinHeaders[(8 * k)..<(8 * k + 8)])
                channel.write(header, promise: nil)
            }
            if let slice = body.getSlice(at: offset, length: n) { channel.write(slice, promise: nil) }
            offset += n
            k += 1
        }
        var last = allocator.buffer(capacity: 8)
        last.writeBytes(head.stdinHeaders[(8 * k)..<(8 * k + 8)])
        channel.writeAndFlush(last, promise: nil)
    }

    /// A connected non-blocking Unix socket to `path`, or why not.
    static func connect(_ path: String) -> Result<Int32, FastCGIClientError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(.connect(POSIXFailure("socket", errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            return .failure(.connect(POSIXFailure("connect", ENAMETOOLONG)))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        // On a Unix socket a non-blocking connect completes at once, or fails with EAGAIN when the accept queue
        // is full.
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            if e == EAGAIN || e == EWOULDBLOCK { return .failure(.backlogFull) }
            return .failure(.connect(POSIXFailure("connect", e)))
        }
        return .success(fd)
    }
}

/// Reads the worker's records until END_REQUEST, then completes the exchange and closes the connection.
///
/// The answer is collected in one buffer: once the CGI head is complete its `Content-Length` sizes the buffer for
/// the rest, so a large answer is copied once and never regrown. (Relaying it piece by piece as DATA frames was
/// tried: slower for a 4 MB answer, p50 9-10 ms against 8 ms, and grpc-swift's client dropped the connection
/// under 16 such calls at once.)
private final class FastCGIAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private enum Mode {
        /// STDOUT so far, the CGI head not yet complete.
        case head(ByteBuffer)
        /// The head parsed (its body left empty, so that `all` stays the only owner of its storage while it
        /// grows), and all of STDOUT so far, whose last `all.readableBytes - bodyStart` bytes are the body.
        case body(head: CGIResponse, bodyStart: Int, all: ByteBuffer)
    }

    /// The most CGI head bytes collected before the end of the headers.
    static let maxHeadBytes = 64 << 10

    private var splitter = FastCGIRecordSplitter()
    private var mode = Mode.head(ByteBuffer())
    private var stderr: [UInt8] = []
    private let promise: EventLoopPromise<FastCGIAnswer>
    private var done = false

    init(promise: EventLoopPromise<FastCGIAnswer>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        do {
            try splitter.consume(unwrapInboundIn(data)) { event in
                switch event {
                case .stdout(let piece): try stdout(piece)
                case .stderr(let piece): if stderr.count < 64 << 10 { stderr.append(contentsOf: piece.readableBytesView) }
                case .end(_, let status): end(status, context: context)
                }
            }
        } catch let error as FastCGIClientError {
            finish(context, .failure(error))
        } catch {
            finish(context, .failure(.protocolError("\(error)")))
        }
    }

    private func stdout(_ piece: ByteBuffer) throws {
        var piece = piece
        switch mode {
        case .body(let parsed, let bodyStart, var all):
            mode = .head(ByteBuffer())  // keep `all` uniquely referenced while it grows
            all.writeBuffer(&piece)
            mode = .body(head: parsed, bodyStart: bodyStart, all: all)
        case .head(var head):
            mode = .head(ByteBuffer())
            head.writeBuffer(&piece)
            guard Self.hasEndOfHeaders(head) else {
                if head.readableBytes > Self.maxHeadBytes {
                    throw FastCGIClientError.protocolError("the worker's CGI headers are longer than \(Self.maxHeadBytes) bytes")
                }
                mode = .head(head)
                return
            }
            var parsed = try CGIResponse(stdout: head)
            let bodyStart = head.readableBytes - parsed.body.readableBytes
            parsed.body = ByteBuffer()
            if let length = parsed.header("Content-Length").flatMap({ Int($0.trimmingCharacters()) }),
               length > head.readableBytes - bodyStart {
                head.reserveCapacity(minimumWritableBytes: length - (head.readableBytes - bodyStart))
            }
            mode = .body(head: parsed, bodyStart: bodyStart, all: head)
        }
    }

    private func end(_ protocolStatus: UInt8, context: ChannelHandlerContext) {
        guard protocolStatus == FastCGI.ProtocolStatus.requestComplete.rawValue else {
            finish(context, .failure(.rejected(FastCGI.ProtocolStatus(rawValue: protocolStatus))))
            return
        }
        switch mode {
        case .head(let all):
            do {
                finish(context, .success(FastCGIAnswer(response: try CGIResponse(stdout: all), stderr: stderr)))
            } catch {
                finish(context, .failure(.protocolError("\(error)")))
            }
        case .body(var response, let bodyStart, let all):
            response.body = all.getSlice(at: all.readerIndex + bodyStart, length: all.readableBytes - bodyStart) ?? ByteBuffer()
            finish(context, .success(FastCGIAnswer(response: response, stderr: stderr)))
        }
    }

    /// Whether the CGI head is complete (an empty line, CRLF or LF).
    static func hasEndOfHeaders(_ buffer: ByteBuffer) -> Bool {
        let view = buffer.readableBytesView
        var previous: UInt8 = 0
        var beforePrevious: UInt8 = 0
        for byte in view {
            if byte == UInt8(ascii: "\n") && (previous == UInt8(ascii: "\n") || (previous == UInt8(ascii: "\r") && beforePrevious == UInt8(ascii: "\n"))) {
                return true
            }
            beforePrevious = previous
            previous = byte
        }
        return false
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, .failure(.closedEarly(nil)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(.closedEarly(error)))
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<FastCGIAnswer, FastCGIClientError>) {
        guard !done else { return }
        done = true
        switch result {
        case .success(let answer): promise.succeed(answer)
        case .failure(let error): promise.fail(error)
        }
        context.close(promise: nil)
    }
}
