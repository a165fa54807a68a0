import Atomics
import Glibc

/// The pool's scoreboard: one memory-mapped file (`<state>/scoreboard`) that the master creates before it starts
/// any worker, with pool-wide counters in a header and one slot per worker.
///
/// Every process maps the same file. The master writes a slot when it starts or reaps a worker and keeps the
/// pool counters (respawns, recycles, watchdog kills, failures); a worker writes only its own slot (state, request
/// count, the request in progress) and bumps `accepted` and `slowRequests`. The master reads the slots for the
/// watchdog and the rolling reload; any worker reads them all to answer the status page.
///
/// All shared numbers are 8-byte aligned `UInt64`s accessed through `UnsafeAtomic`, so a request costs a handful
/// of atomic stores and no system call. The current method and path are text, guarded by a per-slot sequence
/// counter (a seqlock: writers make it odd while they copy; readers retry until they see the same even value
/// before and after).
///
/// Layout (version 1, native byte order; the file is private to one master and its children, all the same
/// binary): a 4096-byte header, then ``capacity`` slots of 1024 bytes; see ``Header`` and ``ScoreboardSlot``.
public final class Scoreboard: @unchecked Sendable {
    // @unchecked: the mapping is fixed for the object's life; every shared field is accessed atomically or
    // under a slot's seqlock.

    /// The file name inside the pool state folder.
    public static let fileName = "scoreboard"
    /// "KSSCORE1".
    static let magic: UInt64 = 0x3145_524F_4353_534B
    static let layoutVersion: UInt64 = 1
    /// Bytes before the first slot.
    public static let headerSize = 4096
    /// Bytes per slot.
    public static let slotSize = 1024
    /// Slots in the file: room for 1024 workers (the `[server] workers` maximum) while as many are replaced.
    public static let capacity = 2048
    /// Request lanes per slot (one per accept loop; loops beyond this share lanes, see ``ScoreboardSlot``).
    public static let lanes = 64
    /// The file's size.
    public static var fileSize: Int { headerSize + capacity * slotSize }

    /// Byte offsets of the header fields (all `UInt64` unless noted).
    enum Header {
        static let magic = 0
        static let version = 8
        /// Wall-clock start of the pool, Unix seconds.
        static let startTime = 16
        /// CLOCK_MONOTONIC start of the pool, nanoseconds.
        static let startMonotonic = 24
        static let accepted = 32
        static let respawns = 40
        static let recycles = 48
        static let timeouts = 56
        static let failures = 64
        static let slowRequests = 72
        static let maxListenQueue = 80
        static let targetWorkers = 88
        static let generation = 96
        static let highWater = 104
        static let nginxPID = 112
        static let nginxRestarts = 120
        static let grpcPID = 128
        static let grpcRestarts = 136
        static let listenBacklog = 144
        static let reloads = 152
        static let reloading = 160
        static let maxActive = 168
        static let lastFailureSequence = 176
        static let lastFailureTime = 184
        /// 256 bytes of NUL-terminated text.
        static let lastFailureText = 192
        static let lastFailureCapacity = 256
    }

    let base: UnsafeMutableRawPointer
    /// The path of the mapped file.
    public let path: String

    private init(base: UnsafeMutableRawPointer, path: String) {
        self.base = base
        self.path = path
    }

    deinit { munmap(base, Self.fileSize) }

    /// The scoreboard path in a pool state folder.
    public static func path(stateDirectory: String) -> String { stateDirectory + "/" + fileName }

    /// Creates (or truncates) the scoreboard file with mode 0640: all slots empty, the counters at zero, the
    /// start time now. Called by the master before it starts any child.
    /// - Returns: The mapped scoreboard, or nil with errno set.
    public static func create(path: String) -> Scoreboard? {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard ftruncate(fd, off_t(fileSize)) == 0 else { return nil }
        guard let board = map(fd: fd, path: path) else { return nil }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        board.store(UInt64(now.tv_sec), at: Header.startTime)
        board.store(monotonicNanoseconds(), at: Header.startMonotonic)
        board.store(layoutVersion, at: Header.version)
        board.atomic(Header.magic).store(magic, ordering: .releasing)
        return board
    }

    /// Maps an existing scoreboard (a worker, or any reader).
    /// - Returns: nil when the file is missing, too short, or not a version-1 scoreboard.
    public static func open(path: String) -> Scoreboard? {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) >= fileSize, let board = map(fd: fd, path: path) else { return nil }
        guard board.atomic(Header.magic).load(ordering: .acquiring) == magic,
            board.load(Header.version) == layoutVersion
        else { return nil }
        return board
    }

    private static func map(fd: Int32, path: String) -> Scoreboard? {
        guard let p = mmap(nil, fileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            return nil
        }
        return Scoreboard(base: p, path: path)
    }

    // MARK: - Raw access

    /// Raises the value at `offset` to at least `value`.
    func raise(_ offset: Int, to value: UInt64) {
        let a = atomic(offset)
        var current = a.load(ordering: .relaxed)
        while value > current {
            let (exchanged, original) = a.weakCompareExchange(
                expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    // MARK: - Slots

    /// The slot at `index` (0 ..< ``capacity``).
    public func slot(_ index: Int) -> ScoreboardSlot {
        precondition(index >= 0 && index < Self.capacity, "scoreboard slot \(index) out of range")
        return ScoreboardSlot(base: base.advanced(by: Self.headerSize + index * Self.slotSize), index: index)
    }

    /// Slots that may be in use: 0 ..< the highest index ever claimed + 1.
    public var usedSlots: Range<Int> { 0..<min(Int(load(Header.highWater)), Self.capacity) }

    /// The slots with a live worker (pid set), in index order.
    public func liveSlots() -> [ScoreboardSlot] {
        usedSlots.map(slot).filter { $0.pid != 0 }
    }

    /// Master: prepares slot `index` for a worker about to start (state `starting`, counters zero).
    public func claim(_ index: Int, generation: UInt64) {
        let s = slot(index)
        s.reset()
        s.store(generation, at: ScoreboardSlot.Field.generation)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        s.store(UInt64(now.tv_sec), at: ScoreboardSlot.Field.startTime)
        s.store(monotonicNanoseconds(), at: ScoreboardSlot.Field.startMonotonic)
        s.atomic(ScoreboardSlot.Field.state).store(WorkerState.starting.rawValue, ordering: .releasing)
        raise(Header.highWater, to: UInt64(index + 1))
    }

    /// Master: records the pid of the worker it started in slot `index`.
    public func assign(_ index: Int, pid: pid_t) {
        slot(index).atomic(ScoreboardSlot.Field.pid).store(UInt64(pid), ordering: .releasing)
    }

    /// Master: empties slot `index` after its worker was reaped.
    public func release(_ index: Int) { slot(index).reset() }

    // MARK: - Pool counters

    /// Unix time the pool started.
    public var startTime: UInt64 { load(Header.startTime) }
    /// CLOCK_MONOTONIC nanoseconds the pool started.
    public var startMonotonic: UInt64 { load(Header.startMonotonic) }
    /// Requests accepted by any worker since the start.
    public var accepted: UInt64 { load(Header.accepted) }
    /// Workers restarted after an unexpected exit (crash, kill, watchdog).
    public var respawns: UInt64 { load(Header.respawns) }
    /// Workers replaced after `max_requests`.
    public var recycles: UInt64 { load(Header.recycles) }
    /// Workers killed by the watchdog (`request_timeout`).
    public var timeouts: UInt64 { load(Header.timeouts) }
    /// Unexpected worker exits (crashes, kills, boot failures).
    public var failures: UInt64 { load(Header.failures) }
    /// Requests slower than `slow_request_threshold`.
    public var slowRequests: UInt64 { load(Header.slowRequests) }
    /// The longest accept queue seen.
    public var maxListenQueue: UInt64 { load(Header.maxListenQueue) }
    /// The most workers seen busy at once.
    public var maxActive: UInt64 { load(Header.maxActive) }
    /// The number of workers the master maintains (`workers`, changed by TTIN/TTOU and reloads).
    public var targetWorkers: UInt64 {
        get { load(Header.targetWorkers) }
        set { store(newValue, at: Header.targetWorkers) }
    }
    /// The config generation: 1 at start, +1 per accepted reload.
    public var generation: UInt64 {
        get { load(Header.generation) }
        set { store(newValue, at: Header.generation) }
    }
    /// Accepted reloads (SIGHUP) since the start.
    public var reloads: UInt64 { load(Header.reloads) }
    /// Whether a rolling reload is replacing workers right now.
    public var reloading: Bool {
        get { load(Header.reloading) != 0 }
        set { store(newValue ? 1 : 0, at: Header.reloading) }
    }
    /// The socket's listen() backlog, as the master set it.
    public var listenBacklog: UInt64 {
        get { load(Header.listenBacklog) }
        set { store(newValue, at: Header.listenBacklog) }
    }
    /// nginx's pid (0 when not running) and restarts.
    public var nginxPID: UInt64 {
        get { load(Header.nginxPID) }
        set { store(newValue, at: Header.nginxPID) }
    }
    public var nginxRestarts: UInt64 { load(Header.nginxRestarts) }
    /// The gRPC server's pid (0 when not running) and restarts.
    public var grpcPID: UInt64 {
        get { load(Header.grpcPID) }
        set { store(newValue, at: Header.grpcPID) }
    }
    public var grpcRestarts: UInt64 { load(Header.grpcRestarts) }

    /// Master: counts one event.
    public func count(_ event: PoolEvent) {
        switch event {
        case .respawn: increment(Header.respawns)
        case .recycle: increment(Header.recycles)
        case .timeout: increment(Header.timeouts)
        case .failure: increment(Header.failures)
        case .reload: increment(Header.reloads)
        case .nginxRestart: increment(Header.nginxRestarts)
        case .grpcRestart: increment(Header.grpcRestarts)
        }
    }

    /// Worker: one more request accepted.
    public func countAccepted() { increment(Header.accepted) }
    /// Worker: one more slow request.
    public func countSlowRequest() { increment(Header.slowRequests) }
    /// Records an accept-queue sample (keeps the maximum).
    public func observeListenQueue(_ length: UInt64) { raise(Header.maxListenQueue, to: length) }
    /// Records a busy-workers sample (keeps the maximum).
    public func observeActive(_ count: UInt64) { raise(Header.maxActive, to: count) }

    /// The last worker failure the master recorded: Unix time and text (`worker 1 (pid 42) killed by SIGSEGV`).
    public var lastFailure: (time: UInt64, text: String)? {
        let sequence = atomic(Header.lastFailureSequence)
        for _ in 0..<100 {
            let before = sequence.load(ordering: .acquiring)
            if before == 0 { return nil }
            if before & 1 == 1 { continue }
            let time = load(Header.lastFailureTime)
            let text = readText(at: Header.lastFailureText, capacity: Header.lastFailureCapacity)
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == before { return (time, text) }
        }
        return nil
    }

    /// Master (the only writer): records a failure for the status page.
    public func recordFailure(_ text: String) {
        let sequence = atomic(Header.lastFailureSequence)
        let start = sequence.load(ordering: .relaxed) | 1
        sequence.store(start, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        store(UInt64(now.tv_sec), at: Header.lastFailureTime)
        writeText(text, at: Header.lastFailureText, capacity: Header.lastFailureCapacity)
        sequence.store(start + 1, ordering: .releasing)
    }

    func readText(at offset: Int, capacity: Int) -> String {
        ScoreboardSlot.readText(base.advanced(by: offset), capacity: capacity)
    }

    func writeText(_ text: String, at offset: Int, capacity: Int) {
        ScoreboardSlot.writeText(text, to: base.advanced(by: offset), capacity: capacity)
    }
}

/// Pool events the master counts in the scoreboard header.
public enum PoolEvent: Sendable {
    case respawn, recycle, timeout, failure, reload, nginxRestart, grpcRestart
}

/// A worker's life-cycle state in its slot. Whether a ready worker is busy comes from its request lanes.
public enum WorkerState: UInt64, Sendable {
    /// No worker.
    case empty = 0
    /// Started, loading its models.
    case starting = 1
    /// Serving (idle or busy).
    case ready = 2
    /// No longer taking requests: draining, recycling or stopping.
    case exiting = 3
}

/// CLOCK_MONOTONIC in nanoseconds (system-wide, so comparable between the pool's processes).
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A view of words in the shared mapping (the scoreboard's header, one worker's slot), read and written as relaxed
/// atomics by byte offset.
protocol SharedWords {
    var base: UnsafeMutableRawPointer { get }
}

extension SharedWords {
    @inline(__always)
    func atomic(_ offset: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: base.advanced(by: offset).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    @inline(__always)
    func load(_ offset: Int) -> UInt64 { atomic(offset).load(ordering: .relaxed) }

    @inline(__always)
    func store(_ value: UInt64, at offset: Int) { atomic(offset).store(value, ordering: .relaxed) }

    @inline(__always)
    func increment(_ offset: Int, by value: UInt64 = 1) { atomic(offset).wrappingIncrement(by: value, ordering: .relaxed) }
}

extension Scoreboard: SharedWords {}
extension ScoreboardSlot: SharedWords {}
