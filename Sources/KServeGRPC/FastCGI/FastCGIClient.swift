import Glibc

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
///
/// Each exchange is plain blocking POSIX I/O (connect, one write, reads until END_REQUEST) on one of `threads`
/// dedicated threads, as many as calls may be in flight, so a call never waits for a thread. Building a NIO channel
/// per call (bootstrap, pipeline, epoll registration, async stream wrappers) cost several times more CPU per RPC
/// than the whole blocking exchange (the `make bench` gRPC rows measure it).
final class FastCGIClient: Sendable {
    /// The workers' listening socket.
    let socketPath: String
    private let pool: BlockingThreadPool

    /// Creates a client and starts its threads.
    /// - Parameters:
    ///   - socketPath: the workers' Unix socket.
    ///   - threads: the most exchanges at once (the bridge's concurrency limit).
    init(socketPath: String, threads: Int) {
        self.socketPath = socketPath
        self.pool = BlockingThreadPool(threads: max(1, threads))
    }

    /// Sends one request and reads the whole answer.
    ///
    /// Cancelling the calling task shuts the connection down (the worker sees EPIPE on its next write).
    /// - Parameters:
    ///   - params: the FastCGI parameters, in order.
    ///   - body: the STDIN stream.
    ///   - connection: cancelling it (from any thread) shuts the exchange's socket down.
    /// - Returns: the worker's CGI answer and anything it wrote to STDERR.
    /// - Throws: ``FastCGIClientError``, or `CancellationError` when the task was cancelled.
    func exchange(
        params: [(String, String)], body: [UInt8], connection: CancellableConnection = CancellableConnection()
    ) async throws -> (response: CGIResponse, stderr: [UInt8]) {
        let request = FastCGI.encodeRequestHead(params: params, stdinCount: body.count)
        let path = socketPath
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                pool.submit {
                    continuation.resume(returning: Self.run(request, body: body, socketPath: path, connection: connection))
                }
            }
        } onCancel: {
            connection.cancel()
        }
        if connection.isCancelled { throw CancellationError() }
        return try outcome.get()
    }

    typealias Outcome = Result<(response: CGIResponse, stderr: [UInt8]), FastCGIClientError>

    /// One blocking exchange; the body is sent from its own buffer (see ``FastCGI/encodeRequestHead(params:stdinCount:)``).
    static func run(
        _ request: (head: [UInt8], stdinHeaders: [UInt8]), body: [UInt8], socketPath: String,
        connection: CancellableConnection
    ) -> Outcome {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(.connect(POSIXFailure("socket", errno))) }
        guard connection.attach(fd) else {
            close(fd)
            return .failure(.closedEarly(nil))
        }
        defer {
            connection.detach()
            close(fd)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            return .failure(.connect(POSIXFailure("connect", ENAMETOOLONG)))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        // Non-blocking connect: a full accept queue answers EAGAIN at once instead of waiting.
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 {
            let e = errno
            if e == EAGAIN || e == EWOULDBLOCK { return .failure(.backlogFull) }
            return .failure(.connect(POSIXFailure("connect", e)))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)

        let writeError: Int32? = request.head.withUnsafeBytes { head in
            request.stdinHeaders.withUnsafeBytes { headers in
                body.withUnsafeBytes { content in
                    sendAll(fd, requestParts(head: head, stdinHeaders: headers, body: content))
                }
            }
        }
        if let writeError { return .failure(.closedEarly(POSIXFailure("write", writeError))) }

        var reader = FastCGIRecordReader()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while reader.end == nil {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.closedEarly(POSIXFailure("read", errno)))
            }
            if n == 0 { return .failure(.closedEarly(nil)) }
            do {
                try reader.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            } catch let error as FastCGIProtocolError {
                return .failure(.protocolError(error.description))
            } catch {
                return .failure(.protocolError("\(error)"))
            }
        }
        guard let end = reader.end else { return .failure(.closedEarly(nil)) }
        guard end.protocolStatus == FastCGI.ProtocolStatus.requestComplete.rawValue else {
            return .failure(.rejected(FastCGI.ProtocolStatus(rawValue: end.protocolStatus)))
        }
        do {
            return .success((response: try CGIResponse(stdout: reader.stdout), stderr: reader.stderr))
        } catch let error as FastCGIProtocolError {
            return .failure(.protocolError(error.description))
        } catch {
            return .failure(.protocolError("\(error)"))
        }
    }
}

/// The request's gather list: `head`, then each STDIN record's header and its slice of `body`, then the closing
/// empty STDIN record (``FastCGI/encodeRequestHead(params:stdinCount:)``). Every part points into the arguments.
func requestParts(
    head: UnsafeRawBufferPointer, stdinHeaders headers: UnsafeRawBufferPointer, body content: UnsafeRawBufferPointer
) -> [UnsafeRawBufferPointer] {
    var parts: [UnsafeRawBufferPointer] = [head]
    parts.reserveCapacity(2 * (headers.count / 8) + 1)
    var offset = 0
    var k = 0
    while offset < content.count {
        let end = min(offset + FastCGI.maxContentLength, content.count)
        parts.append(UnsafeRawBufferPointer(rebasing: headers[(8 * k)..<(8 * k + 8)]))
        parts.append(UnsafeRawBufferPointer(rebasing: content[offset..<end]))
        offset = end
        k += 1
    }
    parts.append(UnsafeRawBufferPointer(rebasing: headers[(8 * k)..<(8 * k + 8)]))
    return parts
}

/// Sends every byte of `parts`, in order, with gathered writes (`sendmsg`, no SIGPIPE).
/// - Returns: `nil` once all is sent, else the errno of the failed write.
func sendAll(_ fd: Int32, _ parts: [UnsafeRawBufferPointer]) -> Int32? {
    var index = 0
    var offset = 0
    var vectors = [iovec](repeating: iovec(), count: 64)
    while index < parts.count {
        var count = 0
        var i = index
        var skip = offset
        while i < parts.count && count < vectors.count {
            let part = parts[i]
            if part.count > skip, let base = part.baseAddress {
                vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + skip), iov_len: part.count - skip)
                count += 1
            }
            skip = 0
            i += 1
        }
        if count == 0 { return nil }
        let n = vectors.withUnsafeMutableBufferPointer { v -> Int in
            var message = msghdr()
            message.msg_iov = v.baseAddress
            message.msg_iovlen = count
            return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
        }
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        var left = n
        while index < parts.count {
            let remaining = parts[index].count - offset
            if left < remaining {
                offset += left
                break
            }
            left -= remaining
            index += 1
            offset = 0
        }
    }
    return nil
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

/// The socket of one exchange, so that cancelling the calling task can shut it down from another thread.
final class CancellableConnection: @unchecked Sendable {
    // @unchecked: the state is only touched with the mutex held.
    private var mutex = pthread_mutex_t()
    private var fd: Int32 = -1
    private var cancelled = false

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    /// Records the socket; false if the call was cancelled already (then do not use it).
    func attach(_ socket: Int32) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !cancelled else { return false }
        fd = socket
        return true
    }

    /// Forgets the socket before it is closed (so a late cancel cannot shut down a reused descriptor).
    func detach() {
        pthread_mutex_lock(&mutex)
        fd = -1
        pthread_mutex_unlock(&mutex)
    }

    /// Marks the call cancelled and shuts its socket down, which ends a blocked read or write at once.
    func cancel() {
        pthread_mutex_lock(&mutex)
        cancelled = true
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        pthread_mutex_unlock(&mutex)
    }

    var isCancelled: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return cancelled
    }
}

/// A fixed set of threads running blocking jobs in submission order (they live as long as the process).
final class BlockingThreadPool: @unchecked Sendable {
    // @unchecked: `jobs` is only touched with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0

    init(threads: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for _ in 0..<threads {
            let box = Unmanaged.passRetained(self)
            var tid = pthread_t()
            if pthread_create(&tid, nil, { arg in
                let pool = Unmanaged<BlockingThreadPool>.fromOpaque(arg!).takeRetainedValue()
                pool.work()
                return nil
            }, box.toOpaque()) == 0 {
                pthread_detach(tid)
            } else {
                box.release()
            }
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func work() {
        while true {
            pthread_mutex_lock(mutex)
            while head == jobs.count { pthread_cond_wait(condition, mutex) }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            pthread_mutex_unlock(mutex)
            job()
        }
    }
}
