import Glibc
import Synchronization

/// Where the server's log lines are written: standard error (the log file the master opened), whole lines only, so
/// that the lines of the pool's processes never interleave.
///
/// In a worker, routine lines (the access line and KServe's latency line, two per request) are gathered while
/// requests keep arriving and written together when the worker is about to wait for the next one, or once
/// ``deferredLimit`` bytes are waiting: under load, one `write` per hundred-odd lines instead of two per request;
/// at rest, each request's lines are written before its answer is finished. Warnings and errors are written at
/// once (after whatever is waiting, so the order holds). Every other process writes each line at once (batching
/// the gRPC process's access lines per event-loop pass was measured: 264-291 µs of CPU per small RPC against
/// 185-212 µs without, the extra task per pass costing more than the writes it saved).
public enum LogSink {
    /// Bytes gathered before they are written whatever happens.
    public static let deferredLimit = 32 << 10

    private static let pending = Mutex<[UInt8]>([])
    private static let deferring = Atomic<Bool>(false)
    private static let hasPending = Atomic<Bool>(false)

    /// Lets routine lines wait for ``flush()`` (a worker turns it on once it serves requests).
    public static func deferRoutineLines(_ on: Bool) {
        deferring.store(on, ordering: .relaxed)
        if !on { flush() }
    }

    /// Writes one line (or gathers it, for a routine line of a worker).
    /// - Parameters:
    ///   - line: the whole line, newline included.
    ///   - routine: an informational line that may wait (info, debug, trace).
    public static func write(_ line: [UInt8], routine: Bool) {
        if routine && deferring.load(ordering: .relaxed) {
            let full: [UInt8]? = pending.withLock { buffer in
                buffer.append(contentsOf: line)
                if buffer.count < deferredLimit { return nil }
                let out = buffer
                buffer.removeAll(keepingCapacity: true)
                return out
            }
            if let full {
                hasPending.store(false, ordering: .relaxed)
                writeAll(full)
            } else {
                hasPending.store(true, ordering: .relaxed)
            }
            return
        }
        if hasPending.load(ordering: .relaxed) { flush() }
        writeAll(line)
    }

    /// Whether lines are waiting.
    public static var isPending: Bool { hasPending.load(ordering: .relaxed) }

    /// Writes every waiting line now.
    public static func flush() {
        let out: [UInt8] = pending.withLock { buffer in
            let out = buffer
            buffer.removeAll(keepingCapacity: true)
            return out
        }
        hasPending.store(false, ordering: .relaxed)
        if !out.isEmpty { writeAll(out) }
    }

    private static func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(STDERR_FILENO, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}
