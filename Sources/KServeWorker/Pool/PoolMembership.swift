import Atomics
import Glibc
import KServeConfig
import KServeModel
import KServeProtocol
import KServeScoreboard
import Logging

/// A worker's part in the pool: its scoreboard slot, recycling after `max_requests`, the slow-request log, and
/// the status page and pool gauges it answers from the scoreboard.
///
/// ``requestHook(loop:method:path:begin:)`` runs around every request in the accept loops: at the start a few
/// atomic stores (lane start time, counters, method and path); at the end the duration, the slow log and the
/// recycling check. No system call, no lock.
final class PoolMembership: Sendable {
    let scoreboard: Scoreboard?
    let slot: ScoreboardSlot?
    let listenFD: Int32
    /// This worker's request limit (`max_requests` + a random jitter), 0 = none.
    let requestLimit: UInt64
    let slowThreshold: UInt64
    let statusPath: String
    /// `max_asyncio_workers` and `max_threads` for the status page.
    let settings: [(key: String, value: JSONValue)]
    let logger: Logger

    /// Opens the scoreboard of the pool in `stateDirectory` and takes slot `workerID` (both set by the master;
    /// without them the worker serves on, without status page or recycling).
    init(config: ServerConfig, stateDirectory: String, workerID: Int?, listenFD: Int32, logger: Logger) {
        let board = Scoreboard.open(path: Scoreboard.path(stateDirectory: stateDirectory))
        scoreboard = board
        if let board, let workerID, workerID >= 0, workerID < Scoreboard.capacity {
            slot = board.slot(workerID)
        } else {
            slot = nil
            logger.warning(
                "no scoreboard slot (not started by kserve-master?): no status page, recycling or watchdog",
                metadata: ["state_dir": "\(stateDirectory)"])
        }
        self.listenFD = listenFD
        let maxRequests = config.server.maxRequests
        requestLimit =
            maxRequests > 0 ? UInt64(maxRequests + Int.random(in: 0...config.server.maxRequestsJitter)) : 0
        slowThreshold = UInt64(config.server.slowRequestThreshold * 1e9)
        statusPath = config.server.statusPath
        settings = config.statusPageSettings
        self.logger = logger
        slot?.setState(.starting, pid: getpid())
        slot?.setRequestLimit(requestLimit)
    }

    /// The models are loaded: the slot turns `ready` (unless the master already marked it `exiting`).
    func markReady() { slot?.markReady() }

    private let loadedLatch = ManagedAtomicFlag()

    /// Whether every worker the master wants has loaded its models (slots in state `ready`, at least the target
    /// count). Once true it stays true in this process: a worker respawned later only accepts after loading, so a
    /// respawn must not take the whole pod out of its Service.
    func poolLoaded() -> Bool {
        if loadedLatch.isSet { return true }
        guard let scoreboard else { return true }
        let target = max(1, Int(scoreboard.targetWorkers))
        let ready = scoreboard.liveSlots().filter { $0.state == .ready }.count
        if ready >= target {
            loadedLatch.set()
            return true
        }
        return false
    }

    /// The accept loops have stopped.
    func markExiting() { slot?.setState(.exiting) }

    /// ``FastCGIServer/onRequest``.
    func requestHook(loop: Int, method: String, path: String, begin: Bool) {
        guard let slot, let scoreboard else { return }
        if begin {
            scoreboard.countAccepted()
            slot.beginRequest(lane: loop, method: method, path: path)
            return
        }
        let duration = slot.endRequest(lane: loop)
        if slowThreshold > 0, duration > slowThreshold {
            scoreboard.countSlowRequest()
            logger.warning(
                "slow request",
                metadata: [
                    "model": "\(Self.modelName(inPath: path) ?? "-")", "method": "\(method)", "path": "\(path)",
                    "duration_ms": "\(Double(duration / 1000) / 1000)",
                    "threshold_ms": "\(Double(slowThreshold / 1000) / 1000)",
                ])
        }
        if requestLimit > 0, slot.requests >= requestLimit, slot.state == .ready {
            slot.setState(.exiting)
            logger.info("served \(slot.requests) requests (max_requests): stopping to be replaced")
            requestStop()
        }
    }

    /// The model a KServe route names: `/v2/models/{m}/...`, `/v1/models/{m}:predict`; nil otherwise.
    static func modelName(inPath path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].isEmpty, parts[1] == "v1" || parts[1] == "v2", parts[2] == "models" else {
            return nil
        }
        let segment = parts[3]
        let name = parts[1] == "v1" ? segment.split(separator: ":", maxSplits: 1).first ?? segment : segment
        return name.isEmpty ? nil : String(name)
    }

    /// The status route for ``RESTRouter``'s `extraRoutes`: `GET <status_path>[?full]`.
    func statusRoute(_ request: HTTPRequest) -> HTTPResponse? {
        guard !statusPath.isEmpty, request.path == statusPath else { return nil }
        guard request.method == "GET" || request.method == "HEAD" else {
            return .error(KServeError(.methodNotAllowed, "Method \(request.method) is not allowed on \(statusPath); use GET."))
        }
        guard let scoreboard else {
            return .error(KServeError(.unavailable, "No pool scoreboard: this worker was not started by kserve-master."))
        }
        let full = request.query.split(separator: "&").contains { $0 == "full" || $0.hasPrefix("full=") }
        var status = PoolStatus(scoreboard: scoreboard, listenFD: listenFD, source: "worker", full: full)
        status.settings = settings
        return .json(status.json(full: full), headers: [("Cache-Control", "no-store")])
    }

    /// The pool gauges and counters for `/metrics`.
    func prometheus() -> String {
        guard let scoreboard else { return "" }
        return PoolStatus(scoreboard: scoreboard, listenFD: listenFD, source: "worker", full: false).prometheus()
    }
}

/// A flag set once, read from any thread.
final class ManagedAtomicFlag: Sendable {
    private let value = ManagedAtomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
