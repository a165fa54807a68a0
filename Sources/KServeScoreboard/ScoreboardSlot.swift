import Atomics
import Glibc

/// One worker's slot in the ``Scoreboard`` (a view on the mapped bytes; cheap to copy).
///
/// Layout (1024 bytes, `UInt64` fields unless noted): see ``Field``. A worker runs `[server] threads` accept
/// loops; loop `i` records the start of its request in lane `i % 64`, so the watchdog sees the oldest request in
/// progress. (With more than 64 loops, loops sharing a lane may hide each other's start from the watchdog.)
/// Method and path are those of the most recently started request, for display.
public struct ScoreboardSlot: Sendable {
    // The pointer is into a shared mapping that outlives every slot view (the Scoreboard is never unmapped
    // while the process uses it).
    nonisolated(unsafe) let base: UnsafeMutableRawPointer
    /// The slot number (`KSERVE_WORKER_ID`).
    public let index: Int

    enum Field {
        static let pid = 0
        static let generation = 8
        static let state = 16
        /// Requests started, the current one included.
        static let requests = 24
        static let lastDuration = 32
        /// Unix seconds the worker was started.
        static let startTime = 40
        static let startMonotonic = 48
        static let textSequence = 56
        /// Start of the most recently started request still in progress (0 when idle), for display.
        static let currentStart = 64
        /// The request limit this worker drew (`max_requests` + jitter; 0 = none).
        static let requestLimit = 72
        /// Requests in progress.
        static let busy = 80
        /// 16 bytes, NUL-terminated.
        static let method = 96
        static let methodCapacity = 16
        /// 400 bytes, NUL-terminated (longer paths are cut at a UTF-8 boundary).
        static let path = 112
        static let pathCapacity = 400
        /// ``Scoreboard/lanes`` request start times (CLOCK_MONOTONIC ns; 0 = no request).
        static let lanes = 512
    }

    /// Zeroes every field.
    func reset() {
        atomic(Field.pid).store(0, ordering: .relaxed)
        atomic(Field.state).store(WorkerState.empty.rawValue, ordering: .relaxed)
        for offset in stride(from: 8, to: Field.method, by: 8) where offset != Field.state {
            store(0, at: offset)
        }
        for lane in 0..<Scoreboard.lanes { store(0, at: Field.lanes + lane * 8) }
        base.advanced(by: Field.method).storeBytes(of: 0, as: UInt8.self)
        base.advanced(by: Field.path).storeBytes(of: 0, as: UInt8.self)
        atomicMemoryFence(ordering: .releasing)
    }

    // MARK: - Reading

    /// The worker's pid (0 = empty slot).
    public var pid: pid_t { pid_t(truncatingIfNeeded: atomic(Field.pid).load(ordering: .acquiring)) }
    /// The config generation the worker was started with.
    public var generation: UInt64 { load(Field.generation) }
    /// The life-cycle state.
    public var state: WorkerState { WorkerState(rawValue: atomic(Field.state).load(ordering: .acquiring)) ?? .empty }
    /// Requests started (the current ones included).
    public var requests: UInt64 { load(Field.requests) }
    /// Duration of the last finished request, nanoseconds.
    public var lastDuration: UInt64 { load(Field.lastDuration) }
    /// Unix seconds the worker was started.
    public var startTime: UInt64 { load(Field.startTime) }
    /// CLOCK_MONOTONIC ns the worker was started.
    public var startMonotonic: UInt64 { load(Field.startMonotonic) }
    /// Requests in progress.
    public var busyCount: UInt64 { load(Field.busy) }
    /// Whether a request is in progress.
    public var isBusy: Bool { busyCount > 0 }
    /// The request limit the worker drew (0 = none).
    public var requestLimit: UInt64 { load(Field.requestLimit) }

    /// The start (CLOCK_MONOTONIC ns) of the oldest request in progress, or nil when idle. The watchdog's input.
    public var oldestRequestStart: UInt64? {
        var oldest = UInt64.max
        for lane in 0..<Scoreboard.lanes {
            let start = load(Field.lanes + lane * 8)
            if start != 0, start < oldest { oldest = start }
        }
        return oldest == .max ? nil : oldest
    }

    /// The most recently started request still in progress: method, path and start (CLOCK_MONOTONIC ns).
    public var currentRequest: (method: String, path: String, start: UInt64)? {
        let sequence = atomic(Field.textSequence)
        for _ in 0..<100 {
            let before = sequence.load(ordering: .acquiring)
            if before & 1 == 1 {
                sched_yield()
                continue
            }
            let start = load(Field.currentStart)
            let method = Self.readText(base.advanced(by: Field.method), capacity: Field.methodCapacity)
            let path = Self.readText(base.advanced(by: Field.path), capacity: Field.pathCapacity)
            atomicMemoryFence(ordering: .acquiring)
            guard sequence.load(ordering: .relaxed) == before else { continue }
            return start == 0 ? nil : (method, path, start)
        }
        return nil
    }

    // MARK: - Writing (the worker, for its own slot)

    /// Worker: records its pid and state (the master set `starting` before the spawn).
    public func setState(_ state: WorkerState, pid: pid_t? = nil) {
        if let pid { atomic(Field.pid).store(UInt64(pid), ordering: .relaxed) }
        atomic(Field.state).store(state.rawValue, ordering: .releasing)
    }

    /// Worker: its models are loaded; `starting` becomes `ready` (a slot the master already marked `exiting`
    /// stays so).
    public func markReady() {
        _ = atomic(Field.state).compareExchange(
            expected: WorkerState.starting.rawValue, desired: WorkerState.ready.rawValue, ordering: .releasing)
    }

    /// Worker: records the request limit it drew.
    public func setRequestLimit(_ limit: UInt64) { store(limit, at: Field.requestLimit) }

    /// Worker, accept loop `lane`: a request starts. Returns its start time (CLOCK_MONOTONIC ns).
    @discardableResult
    public func beginRequest(lane: Int, method: String, path: String, now: UInt64 = monotonicNanoseconds())
        -> UInt64
    {
        store(now, at: Field.lanes + (lane % Scoreboard.lanes) * 8)
        atomic(Field.busy).wrappingIncrement(ordering: .relaxed)
        atomic(Field.requests).wrappingIncrement(ordering: .relaxed)
        let sequence = atomic(Field.textSequence)
        // Writers (this worker's loops) take the sequence from even to odd; a loop that finds it odd spins.
        var current = sequence.load(ordering: .relaxed)
        while true {
            if current & 1 == 1 {
                current = sequence.load(ordering: .relaxed)
                continue
            }
            let (exchanged, original) = sequence.weakCompareExchange(
                expected: current, desired: current + 1, ordering: .acquiring)
            if exchanged { break }
            current = original
        }
        atomicMemoryFence(ordering: .releasing)
        store(now, at: Field.currentStart)
        Self.writeText(method, to: base.advanced(by: Field.method), capacity: Field.methodCapacity)
        Self.writeText(path, to: base.advanced(by: Field.path), capacity: Field.pathCapacity)
        sequence.store(current + 2, ordering: .releasing)
        return now
    }

    /// Worker, accept loop `lane`: its request ends. Returns the request's duration in nanoseconds.
    @discardableResult
    public func endRequest(lane: Int, now: UInt64 = monotonicNanoseconds()) -> UInt64 {
        let start = atomic(Field.lanes + (lane % Scoreboard.lanes) * 8).exchange(0, ordering: .relaxed)
        let duration = start == 0 || now < start ? 0 : now - start
        store(duration, at: Field.lastDuration)
        if atomic(Field.busy).wrappingDecrementThenLoad(ordering: .relaxed) == 0 {
            store(0, at: Field.currentStart)
        }
        return duration
    }

    // MARK: - Text fields

    static func readText(_ p: UnsafeMutableRawPointer, capacity: Int) -> String {
        let bytes = UnsafeRawBufferPointer(start: p, count: capacity)
        let end = bytes.firstIndex(of: 0) ?? capacity
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// Copies `text` (cut at a UTF-8 character boundary to fit) and a NUL terminator; no allocation for native
    /// strings.
    static func writeText(_ text: String, to p: UnsafeMutableRawPointer, capacity: Int) {
        var text = text
        text.withUTF8 { utf8 in
            var count = min(utf8.count, capacity - 1)
            if count < utf8.count {
                while count > 0, utf8[count] & 0xC0 == 0x80 { count -= 1 }  // do not split a character
            }
            if count > 0, let source = utf8.baseAddress { p.copyMemory(from: source, byteCount: count) }
            p.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        }
    }
}
