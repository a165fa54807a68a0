import KServeProtobuf
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// What every call of the gRPC process shares: the way to the workers, the drain state, the limits, health and
/// the access log.
final class GRPCServices: Sendable {
    let bridge: WorkerBridge
    let lifecycle: ProcessLifecycle
    let health: HealthMonitor
    let accessLog: GRPCAccessLog
    /// The largest request message (`[grpc] max_receive_message_length`, else `max_message_size`).
    let maxReceive: Int
    /// The largest response message (`[grpc] max_send_message_length`, else `max_message_size`).
    let maxSend: Int

    init(bridge: WorkerBridge, lifecycle: ProcessLifecycle, health: HealthMonitor, accessLog: GRPCAccessLog, maxReceive: Int, maxSend: Int) {
        self.bridge = bridge
        self.lifecycle = lifecycle
        self.health = health
        self.accessLog = accessLog
        self.maxReceive = maxReceive
        self.maxSend = maxSend
    }
}

/// One gRPC call: the handler of one HTTP/2 stream, on its connection's event loop from the first frame to the
/// trailers.
///
/// This is where a gRPC request enters the server. The request headers name the method; the DATA frames carry
/// the length-prefixed request message, collected into one buffer (the first frame's own buffer when the
/// message fits in it); at the end of the client's stream the message is handed, unchanged, to a worker
/// (``FastCGIExchange``), whose answer is the response message, relayed as it came. There is no task, no
/// thread hop and no protobuf decoding here: the worker decodes and encodes the messages.
///
/// Methods: the eight of `inference.GRPCInferenceService` (unary), and `grpc.health.v1.Health` `Check` (unary)
/// and `Watch` (server streaming). Anything else is UNIMPLEMENTED. Compression other than `identity` is
/// UNIMPLEMENTED (with `grpc-accept-encoding: identity`); a request over the receive limit is RESOURCE_EXHAUSTED
/// as soon as its length prefix is read; `grpc-timeout` is enforced (DEADLINE_EXCEEDED, the worker connection
/// closed); a stream reset by the client closes the worker connection; while draining, new calls are
/// UNAVAILABLE.
final class GRPCCallHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum Method {
        case inference(InferenceRPC)
        case healthCheck
        case healthWatch
    }

    private enum State {
        /// Waiting for the request headers.
        case idle
        /// Headers read; collecting the request message.
        case receiving
        /// The request is complete and being answered (waiting for a slot, a worker or the health probe).
        case running
        /// Response headers sent, more messages to come (`Watch`).
        case streaming
        /// The call has its final status; later frames are ignored.
        case done
    }

    private let services: GRPCServices
    private var state = State.idle
    private var method: Method?
    private var path = ""
    private var metadata = HPACKHeaders()
    private var message: ByteBuffer?
    /// `message` is a buffer of the message's whole size, allocated here (not a frame's).
    private var collecting = false
    private var context: ChannelHandlerContext?

    private var deadline: Scheduled<Void>?
    private var timeout: TimeAmount?
    private var exchange: FastCGIExchange?
    private var waitID: UInt64?
    private var holdsSlot = false
    private var countedIn = false
    private var watchTimer: RepeatedTask?
    private var lastWatchStatus: HealthMonitor.Status?

    private let started = NIODeadline.now()
    private let wallStarted = wallClockSeconds()
    private var responseBytes = 0
    private var headersSent = false

    init(services: GRPCServices) {
        self.services = services
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: - Request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if case .idle = state {
                requestHeaders(headers.headers, context: context)
            }
            if headers.endStream { endOfRequest(context: context) }
        case .data(let frame):
            if case .receiving = state, case .byteBuffer(let bytes) = frame.data {
                append(bytes, context: context)
            }
            if frame.endStream { endOfRequest(context: context) }
        default:
            break
        }
    }

    private func requestHeaders(_ headers: HPACKHeaders, context: ChannelHandlerContext) {
        metadata = headers
        path = headers.first(name: ":path") ?? ""
        state = .receiving
        guard headers.first(name: ":method") == "POST" else {
            finishHTTP(status: "405", context: context)
            return
        }
        guard let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            finishHTTP(status: "415", context: context)
            return
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            finish(GRPCStatus(.unimplemented, "grpc-encoding '\(encoding)' is not supported; this server accepts identity only"),
                   extra: [("grpc-accept-encoding", "identity")], context: context)
            return
        }
        if path == HealthMonitor.checkPath {
            method = .healthCheck
        } else if path == HealthMonitor.watchPath {
            method = .healthWatch
        } else if let rpc = InferenceRPC(path: path) {
            method = .inference(rpc)
        } else {
            finish(GRPCStatus(.unimplemented, "Method not found: \(path)"), context: context)
            return
        }
        if let text = headers.first(name: "grpc-timeout"), let duration = grpcTimeout(text) {
            let (seconds, attoseconds) = duration.components
            let amount = TimeAmount.nanoseconds(seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
                ? Int64.max / 2 : seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            timeout = amount
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: amount) {
                loopBound.value.deadlinePassed()
            }
        }
    }

    /// Adds a DATA frame's bytes to the message; answers RESOURCE_EXHAUSTED as soon as the length prefix says
    /// the message is over the limit (nothing more is buffered).
    ///
    /// A message that arrives in one frame stays in that frame's buffer; one that spans frames is collected into
    /// one buffer of its announced size, allocated once (the only copy of a request's bytes in this process).
    private func append(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        if message == nil {
            message = bytes
        } else {
            message!.writeImmutableBuffer(bytes)
        }
        guard let current = message, current.readableBytes >= 5,
              let length = current.getInteger(at: current.readerIndex + 1, as: UInt32.self)
        else { return }
        let total = 5 + Int(length)
        if Int(length) > services.maxReceive {
            finish(GRPCStatus(
                .resourceExhausted,
                "the \(methodName) request message of \(length) bytes is larger than the server's limit of \(services.maxReceive) bytes ([grpc] max_receive_message_length / max_message_size, --grpc_max_receive_message_length)"),
                context: context)
            message = nil
        } else if current.readableBytes > total {
            finish(GRPCStatus(.invalidArgument, "\(methodName) is unary: the call carried more than one request message"), context: context)
            message = nil
        } else if current.readableBytes < total && !collecting {
            collecting = true
            var whole = context.channel.allocator.buffer(capacity: total)
            whole.writeImmutableBuffer(current)
            message = whole
        }
    }

    private var methodName: String {
        switch method {
        case .inference(let rpc)?: return rpc.rawValue
        case .healthCheck?: return "Check"
        case .healthWatch?: return "Watch"
        case nil: return path
        }
    }

    /// The client's stream ended: the request is complete.
    private func endOfRequest(context: ChannelHandlerContext) {
        guard case .receiving = state, let method else { return }
        let body: ByteBuffer
        switch Self.unaryMessage(message, name: methodName) {
        case .failure(let status):
            finish(status, context: context)
            return
        case .success(let bytes):
            body = bytes
        }
        message = nil
        state = .running
        switch method {
        case .inference(let rpc):
            startInference(rpc, body: body, context: context)
        case .healthCheck, .healthWatch:
            switch HealthMonitor.service(body) {
            case .failure(let status):
                finish(status, context: context)
            case .success(let service):
                if case .healthCheck = method {
                    healthCheck(service, context: context)
                } else {
                    healthWatch(service, context: context)
                }
            }
        }
    }

    /// The one message of a unary request, without its 5-byte prefix.
    static func unaryMessage(_ buffer: ByteBuffer?, name: String) -> Result<ByteBuffer, GRPCStatus> {
        guard let buffer, buffer.readableBytes > 0 else {
            return .failure(GRPCStatus(.invalidArgument, "\(name) is unary: the call carried no request message"))
        }
        guard buffer.readableBytes >= 5, let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)
        else {
            return .failure(GRPCStatus(.internalError, "\(name): the request ended inside a message's 5-byte prefix"))
        }
        if flag != 0 {
            return .failure(GRPCStatus(.internalError, "\(name): the request message is compressed but the call's grpc-encoding is identity"))
        }
        if buffer.readableBytes < 5 + Int(length) {
            return .failure(GRPCStatus(.internalError, "\(name): the request ended \(5 + Int(length) - buffer.readableBytes) bytes before the end of its message"))
        }
        if buffer.readableBytes > 5 + Int(length) {
            return .failure(GRPCStatus(.invalidArgument, "\(name) is unary: the call carried more than one request message"))
        }
        return .success(buffer.getSlice(at: buffer.readerIndex + 5, length: Int(length)) ?? ByteBuffer())
    }

    // MARK: - Inference

    private func startInference(_ rpc: InferenceRPC, body: ByteBuffer, context: ChannelHandlerContext) {
        guard services.lifecycle.beginCall() else {
            finish(GRPCStatus(.unavailable, "the gRPC server is shutting down; retry on another replica"), context: context)
            return
        }
        countedIn = true
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        waitID = services.bridge.limiter.acquire(on: eventLoop, timeout: services.bridge.queueTimeout) { granted in
            loopBound.value.slot(granted, rpc: rpc, body: body)
        }
    }

    private func slot(_ granted: Bool, rpc: InferenceRPC, body: ByteBuffer) {
        waitID = nil
        guard granted else {
            if case .running = state, let context { finish(services.bridge.overloaded, context: context) }
            return
        }
        holdsSlot = true
        guard case .running = state, let context else {
            releaseSlot()
            return
        }
        let exchange = services.bridge.exchange(rpc, body: body, metadata: metadata, on: context.eventLoop)
        self.exchange = exchange
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        exchange.futureResult.whenComplete { result in
            loopBound.value.answered(result.mapError { $0 as any Error }, rpc: rpc)
        }
    }

    private func answered(_ result: Result<FastCGIAnswer, any Error>, rpc: InferenceRPC) {
        exchange = nil
        releaseSlot()
        guard case .running = state, let context else { return }
        switch services.bridge.outcome(result, rpc: rpc) {
        case .failure(let status):
            finish(status, context: context)
        case .success(let response):
            if response.readableBytes > services.maxSend {
                finish(GRPCStatus(
                    .resourceExhausted,
                    "the \(rpc.rawValue) response message of \(response.readableBytes) bytes is larger than the server's limit of \(services.maxSend) bytes ([grpc] max_send_message_length / max_message_size, --grpc_max_send_message_length)"),
                    context: context)
            } else {
                respond(response, context: context)
            }
        }
    }

    private func releaseSlot() {
        if holdsSlot {
            holdsSlot = false
            services.bridge.limiter.release()
        }
    }

    private func deadlinePassed() {
        deadline = nil
        guard let context else { return }
        switch state {
        case .receiving, .running, .streaming:
            let text = timeout.map { $0.prettyDescription } ?? "?"
            finish(GRPCStatus(.deadlineExceeded, "the call's deadline (\(text)) passed before the model answered"), context: context)
        case .idle, .done:
            break
        }
    }

    // MARK: - Health

    private func healthCheck(_ service: String, context: ChannelHandlerContext) {
        guard HealthMonitor.knownServices.contains(service) else {
            finish(GRPCStatus(.notFound, "unknown service '\(service)'"), context: context)
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        services.health.status(on: context.eventLoop).whenSuccess { status in
            let handler = loopBound.value
            guard case .running = handler.state, let context = handler.context else { return }
            handler.respond(HealthMonitor.encode(status), context: context)
        }
    }

    private func healthWatch(_ service: String, context: ChannelHandlerContext) {
        sendHeaders(context: context)
        state = .streaming
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let known = HealthMonitor.knownServices.contains(service)
        if !known {
            sendMessage(HealthMonitor.encode(.serviceUnknown), context: context)
            context.flush()
        }
        watchTimer = context.eventLoop.scheduleRepeatedAsyncTask(
            initialDelay: .zero, delay: services.health.pollInterval
        ) { [services] task in
            let eventLoop = loopBound.eventLoop
            let draining = services.lifecycle.isDraining
            if !known {
                if draining { loopBound.value.endStream() }
                return eventLoop.makeSucceededVoidFuture()
            }
            return services.health.status(on: eventLoop).map { status in
                loopBound.value.watchStatus(status, draining: draining)
            }
        }
    }

    private func watchStatus(_ status: HealthMonitor.Status, draining: Bool) {
        guard case .streaming = state, let context else { return }
        if status != lastWatchStatus {
            lastWatchStatus = status
            sendMessage(HealthMonitor.encode(status), context: context)
            context.flush()
        }
        if draining { endStream() }  // NOT_SERVING was sent; let the drain finish
    }

    private func endStream() {
        guard case .streaming = state, let context else { return }
        finish(nil, context: context)
    }

    // MARK: - Response

    /// A unary call's answer: headers, the length-prefixed message, trailers with status 0.
    private func respond(_ response: ByteBuffer, context: ChannelHandlerContext) {
        sendHeaders(context: context)
        sendMessage(response, context: context)
        finish(nil, context: context)
    }

    private func sendHeaders(context: ChannelHandlerContext) {
        headersSent = true
        let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
    }

    private func sendMessage(_ message: ByteBuffer, context: ChannelHandlerContext) {
        var prefix = context.channel.allocator.buffer(capacity: 5)
        prefix.writeInteger(UInt8(0))
        prefix.writeInteger(UInt32(message.readableBytes))
        responseBytes += message.readableBytes
        if message.readableBytes <= 16 << 10 {
            prefix.writeImmutableBuffer(message)
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(prefix)))), promise: nil)
        } else {
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(prefix)))), promise: nil)
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(message)))), promise: nil)
        }
    }

    /// Ends the call with trailers (`nil`: OK), or a trailers-only response when nothing was sent yet.
    private func finish(_ status: GRPCStatus?, extra: [(String, String)] = [], context: ChannelHandlerContext) {
        if case .done = state { return }
        state = .done
        var trailers: HPACKHeaders = headersSent ? [:] : [":status": "200", "content-type": "application/grpc"]
        trailers.add(name: "grpc-status", value: String(status?.code.rawValue ?? 0))
        if let status, !status.message.isEmpty {
            trailers.add(name: "grpc-message", value: status.encodedMessage)
        }
        for (name, value) in extra { trailers.add(name: name, value: value) }
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: nil)
        end(status?.code ?? .ok, context: context)
    }

    /// A plain HTTP answer for a request that is not gRPC at all (wrong method or content type).
    private func finishHTTP(status: String, context: ChannelHandlerContext) {
        state = .done
        let headers: HPACKHeaders = [":status": status]
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        end(nil, context: context)
    }

    /// The call is over: timers, slot, worker connection, drain count, access line.
    private func end(_ code: GRPCCode?, context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        watchTimer?.cancel()
        watchTimer = nil
        if let id = waitID, services.bridge.limiter.cancel(id) { waitID = nil }
        exchange?.cancel()
        exchange = nil
        releaseSlot()
        if countedIn {
            countedIn = false
            services.lifecycle.endCall()
        }
        message = nil
        if let code {
            services.accessLog.log(
                path: path, code: code, peer: context.channel.parent?.remoteAddress, bytes: responseBytes,
                metadata: metadata, started: started, wallStarted: wallStarted)
        }
    }

    // MARK: - Stream closed

    func channelInactive(context: ChannelHandlerContext) {
        // The stream closed before the call ended: the client reset it or the connection went away.
        switch state {
        case .done, .idle:
            break
        case .receiving, .running, .streaming:
            state = .done
            end(.cancelled, context: context)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream-level errors (a reset, a protocol error) end the call; the connection carries on.
        services.bridge.logger.debug("gRPC stream error on \(path): \(error)")
        context.close(promise: nil)
    }
}

