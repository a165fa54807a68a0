import CFastCGI
import CSystemShims
import Glibc
import KServeConfig
import KServeModel
import KServeProtobuf
import KServeProtocol
import Logging

/// Process-wide stop flag and wake-up descriptor, touched by the signal handlers (async-signal-safe writes only).
nonisolated(unsafe) private var stopRequested: Int32 = 0
nonisolated(unsafe) private var wakeDescriptor: Int32 = -1
nonisolated(unsafe) private var wakeWriteDescriptor: Int32 = -1
/// `[server] log_file` as a C string, for the SIGUSR1 handler (nil: logging to the inherited stderr).
nonisolated(unsafe) private var logFilePath: UnsafeMutablePointer<CChar>? = nil

/// Sets the log file SIGUSR1 reopens (call before the handlers can run).
func setReopenableLogFile(_ path: String?) {
    logFilePath = path.map { strdup($0) }
}

/// Installs the worker's signal handlers. Must run before `FCGX_Init` (libfcgi keeps a handler that is already set).
///
/// - SIGTERM / SIGINT: graceful stop: every accept loop stops taking new requests, the current ones finish.
/// - SIGQUIT: immediate exit.
/// - SIGPIPE: ignored (a client that went away is an EPIPE on write).
func installWorkerSignalHandlers() {
    // A pipe nobody reads: once a byte is in it, every accept loop's poll sees it readable.
    var fds: [Int32] = [-1, -1]
    if pipe(&fds) == 0 {
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakeDescriptor = fds[0]
        wakeWriteDescriptor = fds[1]
    }
    signal(SIGPIPE, SIG_IGN)
    signal(SIGHUP, SIG_IGN)
    // SIGUSR1 (the master forwards it): reopen the log file on stdout/stderr, if there is one.
    signal(SIGUSR1) { _ in
        if let path = logFilePath { _ = kserve_redirect_output(path) }
    }
    let graceful: @convention(c) (Int32) -> Void = { _ in
        stopRequested = 1
        var one: UInt8 = 1
        _ = write(wakeWriteDescriptor, &one, 1)
    }
    signal(SIGTERM, graceful)
    signal(SIGINT, graceful)
    signal(SIGQUIT) { _ in _exit(0) }
}

/// Requests a graceful stop from inside the process (e.g. after `max_requests`).
func requestStop() {
    stopRequested = 1
    var one: UInt8 = 1
    _ = write(wakeWriteDescriptor, &one, 1)
}

/// The FastCGI side of a worker: `threads` accept loops on the inherited listening socket, each with its own
/// `FCGX_Request`, handing every request to the ``RESTRouter``. ``onRequest`` is called with the loop's number
/// when a request starts and when it ends (the scoreboard, the slow log and recycling hang there).
///
/// Each loop blocks in `epoll_wait` on the listening socket (EPOLLEXCLUSIVE) and the wake-up pipe, then in `FCGX_Accept_r`
/// (the socket is non-blocking, so a connection another worker took returns EAGAIN and the loop polls again).
/// The request is answered on Swift concurrency (the loop's thread waits), so async model code never blocks
/// another loop, and `[server] threads` loops overlap I/O-bound models.
final class FastCGIServer: @unchecked Sendable {
    // @unchecked: all stored properties are immutable after init; the FCGX_Request of each loop is owned by it.
    let listenFD: Int32
    let router: RESTRouter
    /// The `[grpc]` message limits: of the calls nginx's HTTP/2 listener passes straight here, and of the protobuf
    /// bodies the gRPC process forwards.
    var grpcWire = GRPCWireCall(maxReceive: 64 << 20, maxSend: 64 << 20)
    let threads: Int
    let maxBodySize: Int
    let logger: Logger
    let accessLog: Bool
    /// `[server] access_log_format`, or nil for the built-in line.
    var accessLogFormat: AccessLogFormat?
    let onRequest: @Sendable (_ loop: Int, _ method: String, _ path: String, _ begin: Bool) -> Void

    init(
        listenFD: Int32, router: RESTRouter, threads: Int, maxBodySize: Int, logger: Logger, accessLog: Bool,
        onRequest: @escaping @Sendable (Int, String, String, Bool) -> Void = { _, _, _, _ in }
    ) {
        self.listenFD = listenFD
        self.router = router
        self.threads = max(1, threads)
        self.maxBodySize = maxBodySize
        self.logger = logger
        self.accessLog = accessLog
        self.onRequest = onRequest
    }

    /// Runs the accept loops until a stop is requested; returns when every loop has finished its request.
    func run() {
        LogSink.deferRoutineLines(true)
        defer { LogSink.deferRoutineLines(false) }
        let flags = fcntl(listenFD, F_GETFL)
        _ = fcntl(listenFD, F_SETFL, flags | O_NONBLOCK)
        var others: [pthread_t] = []
        for loop in 1..<threads {
            let box = Unmanaged.passRetained(LoopBox(server: self, loop: loop))
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { arg in
                let box = Unmanaged<LoopBox>.fromOpaque(arg!).takeRetainedValue()
                box.server.acceptLoop(box.loop)
                return nil
            }, box.toOpaque())
            if rc == 0 { others.append(tid) } else { box.release() }
        }
        acceptLoop(0)
        for tid in others { pthread_join(tid, nil) }
    }

    private final class LoopBox {
        let server: FastCGIServer
        let loop: Int
        init(server: FastCGIServer, loop: Int) {
            self.server = server
            self.loop = loop
        }
    }

    private func acceptLoop(_ loop: Int) {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        request.initialize(to: FCGX_Request())
        defer { request.deallocate() }
        FCGX_InitRequest(request, listenFD, 0)
        let executor = LoopExecutor()
        // One epoll set per loop: the listening socket with EPOLLEXCLUSIVE, so a new connection wakes one waiting
        // loop of the whole pool instead of every one of them (the others would only get EAGAIN from accept), and
        // the stop pipe.
        let poller = kserve_accept_poller_create(listenFD, wakeDescriptor)
        defer { if poller >= 0 { close(poller) } }
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        while stopRequested == 0 {
            var listenReady = false
            if poller >= 0 {
                let ready = kserve_accept_poller_wait(poller, wakeDescriptor, 1000)
                if stopRequested != 0 || ready == 2 { break }
                listenReady = ready == 1
            } else {  // no epoll (never on Linux >= 4.5): poll, which wakes every loop
                fds[0].revents = 0
                fds[1].revents = 0
                let n = poll(&fds, 2, 1000)
                if stopRequested != 0 || fds[1].revents != 0 { break }
                listenReady = n > 0
            }
            if !listenReady { continue }
            let rc = FCGX_Accept_r(request)
            if rc < 0 {
                if rc != -EAGAIN && rc != -EINTR && rc != -EWOULDBLOCK {
                    logger.warning("FCGX_Accept_r failed", metadata: ["errno": "\(-rc)"])
                    usleep(10_000)
                }
                continue
            }
            let consumed = serve(request, loop: loop, executor: executor)
            // Routine log lines wait while requests keep coming; when none is waiting, they are written now,
            // before this answer is finished (so a client that reads the log after its answer finds its line).
            if LogSink.isPending && (poller < 0 || kserve_accept_poller_wait(poller, wakeDescriptor, 0) == 0) {
                LogSink.flush()
            }
            // A request read to its end is closed right after its answer. libfcgi would otherwise linger:
            // shutdown, then poll until the peer closes (up to 2 s), one more sleep and wake-up per request; on
            // a Unix socket nothing is lost by closing (the peer reads the whole answer, then EOF).
            if consumed { _ = FCGX_Detach(request) }
            FCGX_Finish_r(request)
        }
        FCGX_Free(request, 1)
        LogSink.flush()
    }

    private func param(_ name: String, _ envp: FCGX_ParamArray?) -> String? {
        FCGX_GetParam(name, envp).map { String(cString: $0) }
    }

    /// Answers one request; returns whether its body was read to the end.
    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>, loop: Int, executor: LoopExecutor) -> Bool {
        let start = monotonicSeconds()
        let envp = request.pointee.envp
        var headers: Headers = [:]
        if var p = envp {
            // Only HTTP_* and CONTENT_* parameters become headers; the others (about twenty per request from
            // nginx) are skipped by their first bytes without building a String.
            while let entry = p.pointee {
                p += 1
                if strncmp(entry, "HTTP_", 5) == 0 {
                    guard let eq = strchr(entry + 5, 61 /* = */) else { continue }
                    let name = UnsafeRawBufferPointer(start: entry + 5, count: eq - (entry + 5))
                    let key = String(unsafeUninitializedCapacity: name.count) { out in
                        for (i, b) in name.enumerated() {
                            out[i] = b == UInt8(ascii: "_") ? UInt8(ascii: "-") : (b >= 65 && b <= 90 ? b | 0x20 : b)
                        }
                        return name.count
                    }
                    headers[key] = String(cString: eq + 1)
                } else if strncmp(entry, "CONTENT_TYPE=", 13) == 0, entry[13] != 0 {
                    headers["content-type"] = String(cString: entry + 13)
                } else if strncmp(entry, "CONTENT_LENGTH=", 15) == 0, entry[15] != 0 {
                    headers["content-length"] = String(cString: entry + 15)
                }
            }
        }
        let method = param("REQUEST_METHOD", envp) ?? "GET"
        let path = param("DOCUMENT_URI", envp) ?? param("PATH_INFO", envp) ?? param("REQUEST_URI", envp).map { String($0.prefix { $0 != "?" }) } ?? "/"
        let query = param("QUERY_STRING", envp) ?? ""
        onRequest(loop, method, path, true)
        defer { onRequest(loop, method, path, false) }

        let response: HTTPResponse
        var consumed = false
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        // Calls forwarded by the gRPC process carry KSERVE_PROTOCOL=grpc and a protobuf body; calls from nginx's
        // HTTP/2 listener carry KSERVE_PROTOCOL=grpc-wire and the gRPC wire body (a 5-byte prefix, the message).
        let protocolName = param(GRPCBridgeContract.protocolParameter, envp)
        let isGRPC = protocolName == GRPCBridgeContract.protocolValue
        let isWire = protocolName == GRPCWireContract.protocolValue
        let limit = isGRPC ? max(maxBodySize, grpcWire.maxReceive) : isWire ? grpcWire.maxReceive + 5 : maxBodySize
        var wireOutcome: GRPCWireCall.Outcome?
        if isWire && length > limit {
            // nginx refuses these first (client_max_body_size); a direct FastCGI client gets the same status.
            let outcome = grpcWire.tooLarge(messageBytes: length - 5, path: path)
            wireOutcome = outcome
            response = outcome.response
        } else if length > limit {
            response = .error(KServeError(.payloadTooLarge, "Request body of \(length) bytes exceeds the limit of \(limit) bytes."))
        } else if length < 0 {
            response = .error(.invalidInput("Invalid Content-Length."))
        } else {
            let body = readBody(request, length: length)
            consumed = body.count == length
            let httpRequest = HTTPRequest(method: method, path: path, query: query, headers: headers, body: body)
            if isWire {
                let outcome = executor.run { [grpcWire] in
                    await grpcWire.answer(httpRequest, dataPlane: self.router.dataPlane, started: start, clock: monotonicSeconds)
                }
                wireOutcome = outcome
                response = outcome.response
            } else if isGRPC {
                let router = self.router
                response = executor.run {
                    await router.dataPlane.synchronize()
                    return await handleGRPC(httpRequest, dataPlane: router.dataPlane)
                }
            } else {
                response = executor.run { await self.router.handle(httpRequest) }
            }
        }
        let (status, bytes) = write(response, to: request.pointee.out, of: request, executor: executor)
        // A call forwarded by the gRPC process is logged there (with the client's address), not here; a call from
        // nginx's HTTP/2 listener is logged here as the gRPC process logs its calls.
        if accessLog && !isGRPC {
            let seconds = monotonicSeconds() - start
            let address = param("REMOTE_ADDR", envp) ?? "-"
            let startTime = wallClockSeconds() - Int(seconds.rounded(.down))
            if let wireOutcome, let code = wireOutcome.code {
                logAccess(
                    AccessLogEntry(
                        remoteAddress: address, method: "POST", path: path, query: "", protocolName: "HTTP/2.0",
                        status: String(code), bodyBytes: wireOutcome.messageBytes, duration: seconds, startTime: startTime),
                    requestHeaders: headers, responseHeader: { $0 == "grpc-status" ? String(code) : nil },
                    builtIn: {
                        let status = code == 0 ? "ok" : GRPCWireContract.statusName(code).lowercased()
                        return "\(address) grpc method: \(path) \(status) \(wireOutcome.messageBytes)B \(formatMillis(seconds * 1000))ms"
                    })
            } else {
                logAccess(
                    AccessLogEntry(
                        remoteAddress: address, method: method, path: path, query: query,
                        protocolName: param("SERVER_PROTOCOL", envp) ?? "HTTP/1.1", status: String(status), bodyBytes: bytes,
                        duration: seconds, startTime: startTime),
                    requestHeaders: headers,
                    responseHeader: { name in
                        if name == "content-length" { return response.contentLength.map(String.init) ?? String(bytes) }
                        return response.headers.last { $0.0.lowercased() == name }?.1
                    },
                    builtIn: {
                        "\(address) \(method) \(path)\(query.isEmpty ? "" : "?" + query) \(status) \(bytes)B \(formatMillis(seconds * 1000))ms"
                    })
            }
        }
        return consumed
    }

    /// One access line: `[server] access_log_format` rendered for `entry`, or the built-in line. The entry is only
    /// built when a format needs it.
    private func logAccess(
        _ entry: @autoclosure () -> AccessLogEntry, requestHeaders: Headers, responseHeader: (String) -> String?,
        builtIn: () -> String
    ) {
        if let format = accessLogFormat {
            logger.info("\(format.render(entry(), requestHeader: { requestHeaders[$0] }, responseHeader: responseHeader))")
        } else {
            logger.info("\(builtIn())")
        }
    }

    /// Bodies at least this large are read through a ``wideInputBuffer``-byte buffer (see ``readBody(_:length:)``).
    static let wideInputThreshold = 64 << 10
    /// The input buffer of a large body: a Unix socket rarely holds more than about 200 KB at once.
    static let wideInputBuffer = 256 << 10

    /// Reads `length` bytes of the request's stdin. libfcgi reads its connection into an 8 KB buffer (a 4 MB body
    /// was 513 `read`s); a large body gets a ``wideInputBuffer`` first, so libfcgi's own reader takes what the
    /// socket holds in one `read`. The copy out of that buffer into the body is the same either way.
    private func readBody(_ request: UnsafeMutablePointer<FCGX_Request>, length: Int) -> [UInt8] {
        guard length > 0, let stream = request.pointee.in else { return [] }
        if length >= Self.wideInputThreshold {
            _ = kserve_fcgx_widen_input(request, Int32(Self.wideInputBuffer))
        }
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            var offset = 0
            while offset < length {
                let chunk = Int32(min(length - offset, 1 << 30))
                let n = buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: Int(chunk)) {
                    FCGX_GetStr($0, chunk, stream)
                }
                if n <= 0 { break }
                offset += Int(n)
            }
            initialized = offset
        }
    }

    /// Writes status, headers and body; returns the status written and the body's bytes.
    @discardableResult
    private func write(
        _ response: HTTPResponse, to out: UnsafeMutablePointer<FCGX_Stream>?, of request: UnsafeMutablePointer<FCGX_Request>,
        executor: LoopExecutor
    ) -> (status: Int, bytes: Int) {
        guard let out else { return (response.status, 0) }
        let put = { (bytes: ArraySlice<UInt8>, out: UnsafeMutablePointer<FCGX_Stream>) in
            if bytes.count >= Self.directWriteThreshold {
                Self.putDirect(bytes, out, request)
            } else {
                Self.putStatic(bytes, out)
            }
        }
        var head = "Status: \(response.status) \(reasonPhrase(response.status))\r\n"
        for (k, v) in response.headers where isSafeHeader(k) && isSafeHeader(v) {
            head += "\(k): \(v)\r\n"
        }
        if let length = response.contentLength {
            head += "Content-Length: \(length)\r\n"
        }
        switch response.body {
        case .bytes(let bytes):
            head += "\r\n"
            put(Array(head.utf8)[...], out)
            put(bytes[...], out)
        case .rest(let message):
            head += "\r\n"
            put(Array(head.utf8)[...], out)
            put(message.json[...], out)
            for chunk in message.binaryChunks { put(chunk, out) }
        case .parts(let parts):
            head += "\r\n"
            put(Array(head.utf8)[...], out)
            for part in parts { put(part, out) }
        case .stream(let stream):
            head += "X-Accel-Buffering: no\r\n\r\n"
            put(Array(head.utf8)[...], out)
            FCGX_FFlush(out)
            let box = UnsafeSendable(out)
            let sent = executor.run {
                var sent = 0
                do {
                    for try await chunk in stream {
                        Self.putStatic(chunk[...], box.value)
                        FCGX_FFlush(box.value)
                        sent += chunk.count
                    }
                } catch {
                    // Headers are gone; the best we can do is end the stream.
                }
                return sent
            }
            return (response.status, sent)
        }
        return (response.status, response.contentLength ?? 0)
    }

    /// Body parts at least this large are written by ``putDirect(_:_:_:)``.
    static let directWriteThreshold = 32 << 10

    /// Writes `bytes` as FCGI_STDOUT records of `request` straight to its connection, 64 KB records gathered into
    /// one `sendmsg`, after flushing what libfcgi holds for the stream (so the order is kept). libfcgi's stream
    /// buffer is 8 KB: a 4 MB answer through it was 514 `write`s, each waking the reader (nginx or the gRPC
    /// process). A write error marks the stream closed, as libfcgi does, so nothing more is written to it.
    static func putDirect(_ bytes: ArraySlice<UInt8>, _ out: UnsafeMutablePointer<FCGX_Stream>, _ request: UnsafeMutablePointer<FCGX_Request>) {
        guard out.pointee.isClosed == 0, FCGX_FFlush(out) == 0 else { return }
        let fd = request.pointee.ipcFd
        let id = request.pointee.requestId
        let recordMax = 65528  // a multiple of 8: no padding
        let batch = 64  // records per system call
        var headers = [UInt8](repeating: 0, count: 8 * batch)
        var vectors = [iovec](repeating: iovec(), count: 2 * batch)
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let failed = headers.withUnsafeMutableBufferPointer { h -> Int32 in
                    vectors.withUnsafeMutableBufferPointer { v -> Int32 in
                        var k = 0
                        while k < batch && offset < buffer.count {
                            let n = min(recordMax, buffer.count - offset)
                            let header = h.baseAddress! + 8 * k
                            header[0] = 1  // FCGI_VERSION_1
                            header[1] = 6  // FCGI_STDOUT
                            header[2] = UInt8(truncatingIfNeeded: id >> 8)
                            header[3] = UInt8(truncatingIfNeeded: id)
                            header[4] = UInt8(truncatingIfNeeded: n >> 8)
                            header[5] = UInt8(truncatingIfNeeded: n)
                            header[6] = 0
                            header[7] = 0
                            v[2 * k] = iovec(iov_base: UnsafeMutableRawPointer(header), iov_len: 8)
                            v[2 * k + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + offset), iov_len: n)
                            offset += n
                            k += 1
                        }
                        return sendAll(fd, v.baseAddress!, 2 * k)
                    }
                }
                if failed != 0 {
                    out.pointee.FCGI_errno = failed
                    out.pointee.isClosed = 1
                    return
                }
            }
        }
    }

    /// `sendmsg` until every byte of `count` vectors is written (they are advanced in place); 0, or the errno.
    private static func sendAll(_ fd: Int32, _ vectors: UnsafeMutablePointer<iovec>, _ count: Int) -> Int32 {
        var first = 0
        while first < count {
            var message = msghdr()
            message.msg_iov = vectors + first
            message.msg_iovlen = count - first
            let n = sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 1000)
                    continue
                }
                return errno
            }
            var left = n
            while first < count && left >= vectors[first].iov_len {
                left -= vectors[first].iov_len
                first += 1
            }
            if left > 0 {
                vectors[first].iov_base += left
                vectors[first].iov_len -= left
            }
        }
        return 0
    }

    static func putStatic(_ bytes: ArraySlice<UInt8>, _ out: UnsafeMutablePointer<FCGX_Stream>) {
        bytes.withUnsafeBufferPointer { buf in
            guard var p = buf.baseAddress else { return }
            var remaining = buf.count
            while remaining > 0 {
                let n = Int32(min(remaining, 1 << 30))
                let written = p.withMemoryRebound(to: CChar.self, capacity: Int(n)) { FCGX_PutStr($0, n, out) }
                if written < 0 { return }
                remaining -= Int(n)
                p += Int(n)
            }
        }
    }
}

/// Wraps a non-Sendable value whose use is confined by the caller (the accept loop waits while it is used).
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The executor of one accept loop: Swift tasks started by the loop run their jobs on the loop's own thread.
///
/// A request is answered by an async task, but handing it to the global concurrent pool and waiting for it costs
/// two thread wake-ups per request. Instead the task prefers this executor (SE-0417), and the loop's thread, while
/// it waits, runs the jobs enqueued here: synchronous model code runs start to finish on the accept thread with no
/// hand-off, and a model that awaits something else (a remote predictor, a sleep) is resumed on this thread when
/// its continuation is enqueued. Child tasks inherit the preference; unstructured `Task {}` and actors do not.
final class LoopExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `finished` are only touched with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [UnownedJob] = []
    private var finished = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        jobs.reserveCapacity(16)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(unowned)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func markFinished() {
        pthread_mutex_lock(mutex)
        finished = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` as a task on this executor and runs its jobs on the calling thread until it has finished.
    /// Call it from the loop's own thread only, one call at a time.
    func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let result = Locked<T?>(nil)
        pthread_mutex_lock(mutex)
        finished = false
        pthread_mutex_unlock(mutex)
        Task(executorPreference: self) {
            let value = await body()
            result.value = value
            self.markFinished()
        }
        let me = asUnownedTaskExecutor()
        var batch: [UnownedJob] = []
        batch.reserveCapacity(16)
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !finished { pthread_cond_wait(condition, mutex) }
            if jobs.isEmpty {  // finished, nothing left to run
                pthread_mutex_unlock(mutex)
                break
            }
            swap(&batch, &jobs)
            pthread_mutex_unlock(mutex)
            for job in batch { job.runSynchronously(on: me) }
            batch.removeAll(keepingCapacity: true)
        }
        guard let value = result.value else { preconditionFailure("LoopExecutor: the task finished without a value") }
        return value
    }
}

private func isSafeHeader(_ s: String) -> Bool {
    !s.utf8.contains { $0 == 13 || $0 == 10 }
}

/// Unix time in whole seconds.
func wallClockSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    return Int(ts.tv_sec)
}

func formatMillis(_ ms: Double) -> String {
    let r = (ms * 1000).rounded() / 1000
    return "\(r)"
}

extension String {
    func replacingUnderscores() -> String {
        String(decoding: utf8.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
    }
}
