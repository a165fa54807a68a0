import Glibc
import KServeProtocol

/// A consistent-enough snapshot of the ``Scoreboard`` for the status page and the Prometheus gauges.
///
/// Field names follow php-fpm's status page (`start time`, `accepted conn`, `listen queue`, ...) with "workers"
/// for "processes", plus what this pool adds (respawns, recycles, timeouts, failures, reloads, front ends).
public struct PoolStatus: Sendable {
    /// One live worker.
    public struct Worker: Sendable {
        public var id: Int
        public var pid: pid_t
        public var generation: UInt64
        /// `Starting`, `Idle`, `Busy` or `Exiting` (php-fpm capitalises its states too).
        public var state: String
        public var busy: Bool
        public var requests: UInt64
        /// The limit the worker drew (`max_requests` + jitter), 0 = none.
        public var requestLimit: UInt64
        public var startTime: UInt64
        public var startSince: UInt64
        public var requestMethod: String?
        public var requestURI: String?
        /// Microseconds the current request has been running (0 when idle).
        public var requestDuration: UInt64
        /// Microseconds the last finished request took.
        public var lastRequestDuration: UInt64
        /// Resident set size in bytes (from /proc/<pid>/statm), when known.
        public var rss: UInt64?
    }

    /// Who wrote the snapshot: `worker` (live, answered through a worker) or `master` (the master's copy,
    /// served by nginx while no worker answers).
    public var source: String
    public var startTime: UInt64
    public var startSince: UInt64
    public var accepted: UInt64
    /// Connections waiting in the socket's accept queue now (nil when the kernel cannot say).
    public var listenQueue: UInt64?
    public var maxListenQueue: UInt64
    /// The socket's listen() backlog.
    public var listenQueueLength: UInt64
    public var idle = 0
    public var active = 0
    public var starting = 0
    public var exiting = 0
    public var total = 0
    public var maxActive: UInt64
    public var target: UInt64
    public var respawns: UInt64
    public var recycles: UInt64
    public var timeouts: UInt64
    public var failures: UInt64
    public var lastFailure: (time: UInt64, text: String)?
    public var slowRequests: UInt64
    public var generation: UInt64
    public var reloads: UInt64
    public var reloading: Bool
    public var nginx: (pid: UInt64, restarts: UInt64)
    public var grpc: (pid: UInt64, restarts: UInt64)
    public var workers: [Worker] = []
    /// Settings shown on the page after the counters (`max_asyncio_workers`, `max_threads`), in order.
    public var settings: [(key: String, value: JSONValue)] = []

    /// Reads the scoreboard.
    /// - Parameters:
    ///   - scoreboard: The pool's scoreboard.
    ///   - listenFD: The listening socket, to measure its accept queue (and record the maximum), or nil.
    ///   - source: `worker` or `master`.
    ///   - full: Whether to list the workers with their RSS.
    public init(scoreboard: Scoreboard, listenFD: Int32?, source: String, full: Bool) {
        let nowNs = monotonicNanoseconds()
        self.source = source
        startTime = scoreboard.startTime
        startSince = nowNs >= scoreboard.startMonotonic ? (nowNs - scoreboard.startMonotonic) / 1_000_000_000 : 0
        var backlog = scoreboard.listenBacklog
        if let listenFD, let probe = ListenQueue.probe(fd: listenFD) {
            listenQueue = probe.length
            backlog = probe.backlog
            scoreboard.observeListenQueue(probe.length)
        }
        listenQueueLength = backlog
        accepted = scoreboard.accepted
        target = scoreboard.targetWorkers
        respawns = scoreboard.respawns
        recycles = scoreboard.recycles
        timeouts = scoreboard.timeouts
        failures = scoreboard.failures
        lastFailure = scoreboard.lastFailure
        slowRequests = scoreboard.slowRequests
        generation = scoreboard.generation
        reloads = scoreboard.reloads
        reloading = scoreboard.reloading
        nginx = (scoreboard.nginxPID, scoreboard.nginxRestarts)
        grpc = (scoreboard.grpcPID, scoreboard.grpcRestarts)
        for slot in scoreboard.liveSlots() {
            let state = slot.state
            let busy = slot.isBusy
            let name: String
            switch state {
            case .starting: name = "Starting"; starting += 1
            case .ready where busy: name = "Busy"; active += 1
            case .ready: name = "Idle"; idle += 1
            case .exiting: name = "Exiting"; exiting += 1
            case .empty: continue
            }
            total += 1
            guard full else { continue }
            let current = busy ? slot.currentRequest : nil
            let pid = slot.pid
            let started = slot.startMonotonic
            workers.append(
                Worker(
                    id: slot.index, pid: pid, generation: slot.generation, state: name, busy: busy,
                    requests: slot.requests, requestLimit: slot.requestLimit, startTime: slot.startTime,
                    startSince: nowNs >= started ? (nowNs - started) / 1_000_000_000 : 0,
                    requestMethod: current?.method, requestURI: current?.path,
                    requestDuration: current.map { nowNs >= $0.start ? (nowNs - $0.start) / 1000 : 0 } ?? 0,
                    lastRequestDuration: slot.lastDuration / 1000, rss: Self.residentBytes(pid)))
        }
        scoreboard.observeActive(UInt64(active))
        maxActive = max(scoreboard.maxActive, UInt64(active))
        maxListenQueue = max(scoreboard.maxListenQueue, listenQueue ?? 0)
    }

    /// The status page body: `{"pool": "kserve", "start time": ..., ...}`; with `full`, a `workers` array.
    public func json(full: Bool) -> JSONValue {
        func n(_ v: UInt64) -> JSONValue { .int(Int64(clamping: v)) }
        func n(_ v: Int) -> JSONValue { .int(Int64(v)) }
        var o = JSONObject()
        o["pool"] = .string("kserve")
        o["process manager"] = .string("static")
        o["source"] = .string(source)
        o["start time"] = n(startTime)
        o["start since"] = n(startSince)
        o["accepted conn"] = n(accepted)
        o["listen queue"] = listenQueue.map(n) ?? .null
        o["max listen queue"] = n(maxListenQueue)
        o["listen queue len"] = n(listenQueueLength)
        o["idle workers"] = n(idle)
        o["active workers"] = n(active)
        o["starting workers"] = n(starting)
        o["exiting workers"] = n(exiting)
        o["total workers"] = n(total)
        o["max active workers"] = n(maxActive)
        o["target workers"] = n(target)
        o["respawns"] = n(respawns)
        o["recycles"] = n(recycles)
        o["timeouts"] = n(timeouts)
        o["failures"] = n(failures)
        if let lastFailure {
            o["last failure"] = .object(["time": n(lastFailure.time), "reason": .string(lastFailure.text)])
        } else {
            o["last failure"] = .null
        }
        o["slow requests"] = n(slowRequests)
        o["generation"] = n(generation)
        o["reloads"] = n(reloads)
        o["reloading"] = .bool(reloading)
        o["nginx"] = .object(["pid": n(nginx.pid), "restarts": n(nginx.restarts)])
        for (key, value) in settings { o[key] = value }
        if grpc.pid != 0 || grpc.restarts != 0 {
            o["grpc"] = .object(["pid": n(grpc.pid), "restarts": n(grpc.restarts)])
        }
        if full {
            o["workers"] = .array(
                workers.map { w in
                    var e = JSONObject()
                    e["id"] = n(w.id)
                    e["pid"] = .int(Int64(w.pid))
                    e["generation"] = n(w.generation)
                    e["state"] = .string(w.state)
                    e["start time"] = n(w.startTime)
                    e["start since"] = n(w.startSince)
                    e["requests"] = n(w.requests)
                    e["max requests"] = n(w.requestLimit)
                    e["request method"] = w.requestMethod.map(JSONValue.string) ?? .null
                    e["request uri"] = w.requestURI.map(JSONValue.string) ?? .null
                    e["request duration"] = n(w.requestDuration)
                    e["last request duration"] = n(w.lastRequestDuration)
                    e["rss"] = w.rss.map(n) ?? .null
                    return .object(e)
                })
        }
        return .object(o)
    }

    /// ``json(full:)`` as text with a final newline.
    public func jsonText(full: Bool) -> String { json(full: full).jsonString() + "\n" }

    /// The same figures as Prometheus gauges and counters (text exposition format).
    public func prometheus() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: UInt64) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("kserve_pool_start_time_seconds", "gauge", "Unix time the pool started", startTime)
        metric("kserve_accepted_requests_total", "counter", "requests accepted by the workers", accepted)
        if let listenQueue {
            metric("kserve_listen_queue_length", "gauge", "connections waiting in the socket's accept queue", listenQueue)
        }
        metric("kserve_listen_queue_max", "gauge", "the longest accept queue seen", maxListenQueue)
        metric("kserve_listen_queue_backlog", "gauge", "the socket's listen() backlog", listenQueueLength)
        metric("kserve_workers_active", "gauge", "workers serving a request", UInt64(active))
        metric("kserve_workers_idle", "gauge", "workers waiting for a request", UInt64(idle))
        metric("kserve_workers_starting", "gauge", "workers loading their models", UInt64(starting))
        metric("kserve_workers_total", "gauge", "worker processes", UInt64(total))
        metric("kserve_workers_target", "gauge", "workers the master maintains", target)
        metric("kserve_workers_max_active", "gauge", "the most workers seen busy at once", maxActive)
        metric("kserve_worker_respawns_total", "counter", "workers restarted after an unexpected exit", respawns)
        metric("kserve_worker_recycles_total", "counter", "workers replaced after max_requests", recycles)
        metric("kserve_worker_timeouts_total", "counter", "workers killed after request_timeout", timeouts)
        metric("kserve_worker_failures_total", "counter", "unexpected worker exits (crashes, kills)", failures)
        metric("kserve_slow_requests_total", "counter", "requests slower than slow_request_threshold", slowRequests)
        metric("kserve_config_reloads_total", "counter", "accepted config reloads (SIGHUP)", reloads)
        metric("kserve_config_generation", "gauge", "the config generation (1 + reloads)", generation)
        return out
    }

    /// Resident set size of `pid` in bytes (`/proc/<pid>/statm`, second field, times the page size).
    static func residentBytes(_ pid: pid_t) -> UInt64? {
        let fd = open("/proc/\(pid)/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let fields = buffer[0..<n].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
