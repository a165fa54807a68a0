import CSystemShims
import Glibc
import KServeConfig
import KServeScoreboard
import Logging

/// The master's event loop: spawns the children, reaps them, respawns with backoff, recycles, runs the watchdog,
/// the rolling reload, scaling (TTIN/TTOU), log reopening and the stop sequence.
///
/// Single-threaded by design: everything happens on the thread that calls ``run()`` (posix_spawn, waitpid and
/// the PR_SET_PDEATHSIG of the children all relate to that thread), woken by the signal self-pipe or a timer.
/// While idle it wakes once a second (twice when `request_timeout` is short) to sample the scoreboard.
final class Supervisor {
    enum Role: Equatable {
        case worker
        case nginx
        case grpc
    }

    /// One supervised child position. A worker keeps its scoreboard slot (`KSERVE_WORKER_ID`) across respawns;
    /// a worker added by a reload or TTIN gets a free slot.
    struct Child {
        let role: Role
        /// Scoreboard slot of a worker; -1 for nginx and the gRPC server.
        let id: Int
        /// The config generation (snapshot) it runs.
        var generation: UInt64
        var pid: pid_t?
        var startedAt: Double = 0
        var backoff: Backoff
        var respawnAt: Double?
        var starts = 0
        /// The master asked it to exit for good (reload, TTOU): never restarted; SIGKILL at this time.
        var retireDeadline: Double?
        /// The master asked it to exit and come back (a changed `[grpc]` section): restarted at once.
        var restartRequested = false
        /// The watchdog sent SIGTERM; SIGKILL at this time.
        var watchdogKillAt: Double?
        /// SIGKILL was sent (by a deadline above).
        var killed = false
        /// The worker reached `ready` in the scoreboard (one that dies before is a boot failure).
        var wasReady = false

        init(role: Role, id: Int, generation: UInt64, backoffMaximum: Double) {
            self.role = role
            self.id = id
            self.generation = generation
            self.backoff = Backoff(maximum: backoffMaximum)
        }

        var name: String {
            switch role {
            case .worker: return "worker \(id)"
            case .nginx: return "nginx"
            case .grpc: return "gRPC server"
            }
        }

        var isWorker: Bool { role == .worker }
        var isRetiring: Bool { retireDeadline != nil }
    }

    /// Progress of a stop.
    struct StopState {
        var graceful: Bool
        /// SIGKILL for whatever is still running at this time.
        var deadline: Double
        var killed = false
        /// After SIGKILL, stop waiting at this time.
        var giveUpAt = Double.infinity
        /// Whether the workers got their stop signal (a graceful stop waits for nginx to drain first).
        var workersSignalled = false
    }

    enum Phase {
        case running
        case stopping(StopState)
    }

    /// A rolling reload: new workers first, each old one stopped once a new one is ready.
    struct Reload {
        /// Slots of the previous generations still to stop.
        var old: Set<Int>
        /// The new worker being waited on (until its scoreboard slot says ready).
        var waitingFor: Int?
    }

    /// A child that lived this long gets its backoff reset.
    static let stableUptime = 10.0
    /// nginx or the gRPC server exiting with an error this soon after its first start means it cannot start
    /// (config, port in use): the server stops instead of retrying forever.
    static let frontEndStartupWindow = 5.0
    /// Longest wait of a fast stop before SIGKILL.
    static let fastStopTimeout = 3.0
    /// How long to wait for children after SIGKILL before giving up.
    static let killWait = 5.0
    /// Between the watchdog's SIGTERM and its SIGKILL.
    static let watchdogGrace = 1.0
    /// The watchdog acts this long after `request_timeout`, so that nginx has answered 504 first.
    static let watchdogMargin = 0.5
    /// The master's copy of the status page is rewritten at least this often (nginx serves it when no worker
    /// answers).
    static let statusRefresh = 2.0
    /// The most workers TTIN adds up to.
    static let maximumWorkers = 1024

    private(set) var config: ServerConfig
    let arguments: [String]
    let listenFD: Int32
    let nginx: NginxLaunch?
    let signals: SignalPipe
    let scoreboard: Scoreboard
    let stateDirectory: String
    let configSource: ConfigSource
    var logger: Logger

    private(set) var children: [Child] = []
    private(set) var phase: Phase = .running
    private(set) var target: Int
    private var reload: Reload?
    private var generation: UInt64 = 1
    /// Config snapshot file per generation (none when the config was built in code).
    private var snapshots: [UInt64: String] = [:]
    private var exitStatus: Int32 = 0
    private var statusDirty = true
    private var statusWrittenAt = 0.0
    private let executable: String
    private let environment: [String]
    private let masterPID = getpid()

    init(
        config: ServerConfig, arguments: [String], listenFD: Int32, nginx: NginxLaunch?, signals: SignalPipe,
        scoreboard: Scoreboard, stateDirectory: String, configSource: ConfigSource, initialSnapshot: String?,
        logger: Logger
    ) {
        self.config = config
        self.arguments = arguments
        self.listenFD = listenFD
        self.nginx = nginx
        self.signals = signals
        self.scoreboard = scoreboard
        self.stateDirectory = stateDirectory
        self.configSource = configSource
        self.logger = logger
        target = config.server.workers
        if let initialSnapshot { snapshots[1] = initialSnapshot }
        executable = POSIX.readLink("/proc/self/exe") ?? "/proc/self/exe"
        environment = childEnvironment()
    }

    /// Runs until every child is gone after a stop. Returns the process exit status.
    func run() -> Int32 {
        let now = monotonicSeconds()
        scoreboard.generation = generation
        scoreboard.targetWorkers = UInt64(target)
        scoreboard.listenBacklog = UInt64(config.server.listenBacklog)
        for _ in 0..<target { _ = addWorker(now: now) }
        if nginx != nil { addFrontEnd(.nginx, now: now) }
        if config.grpc.enable { addFrontEnd(.grpc, now: now) }
        while true {
            if case .stopping = phase, liveCount == 0 { break }
            if statusDirty || monotonicSeconds() - statusWrittenAt >= Self.statusRefresh { writeStatusSnapshot() }
            var pfd = pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, pollTimeout(now: monotonicSeconds()))
            for sig in signals.drain() { handle(signal: sig) }
            reap()
            if !tick(now: monotonicSeconds()) { break }
        }
        scoreboard.reloading = false
        writeStatusSnapshot()
        return exitStatus
    }

    var liveCount: Int { children.reduce(0) { $0 + ($1.pid == nil ? 0 : 1) } }

    // MARK: - Starting children

    /// Adds a worker in a free scoreboard slot and starts it. Returns its slot.
    @discardableResult
    private func addWorker(now: Double) -> Int {
        let used = Set(children.filter(\.isWorker).map(\.id))
        let id = (0..<Scoreboard.capacity).first { !used.contains($0) } ?? 0
        children.append(
            Child(role: .worker, id: id, generation: generation, backoffMaximum: config.server.respawnBackoffMax))
        start(children.count - 1, now: now)
        return id
    }

    private func addFrontEnd(_ role: Role, now: Double) {
        children.append(
            Child(role: role, id: -1, generation: generation, backoffMaximum: config.server.respawnBackoffMax))
        start(children.count - 1, now: now)
    }

    private func index(ofWorker id: Int) -> Int? {
        children.firstIndex { $0.isWorker && $0.id == id }
    }

    private func start(_ index: Int, now: Double) {
        children[index].respawnAt = nil
        children[index].wasReady = false
        children[index].killed = false
        children[index].watchdogKillAt = nil
        children[index].restartRequested = false
        let child = children[index]
        var snapshotEnvironment: [String] = []
        let generationToRun = child.isWorker ? child.generation : generation
        if let snapshot = snapshots[generationToRun] {
            snapshotEnvironment = ["\(KServeProcessContract.configSnapshotVariable)=\(snapshot)"]
        }
        do {
            let pid: pid_t
            var grpcListen = ""  // the gRPC process's address, for the log line
            switch child.role {
            case .worker:
                scoreboard.claim(child.id, generation: child.generation)
                let env = Self.withWorkerMallocTuning(environment) + snapshotEnvironment + [
                    "\(KServeProcessContract.roleVariable)=\(KServeProcessContract.workerRole)",
                    "\(KServeProcessContract.listenFDVariable)=\(KServeProcessContract.listenFD)",
                    "\(KServeProcessContract.workerIDVariable)=\(child.id)",
                    "\(KServeProcessContract.masterPIDVariable)=\(masterPID)",
                    "\(KServeProcessContract.parentDeathSignalVariable)=\(SIGQUIT):\(masterPID)",
                ]
                // /proc/self/exe resolves in the child to the master's own image, even if the file on disk was
                // replaced or deleted since: workers always run the same code as their master.
                do {
                    pid = try Spawner.spawn(
                        path: "/proc/self/exe", arguments: arguments.isEmpty ? [executable] : arguments,
                        environment: env, descriptors: [(listenFD, KServeProcessContract.listenFD)],
                        closeFrom: KServeProcessContract.listenFD + 1)
                } catch {
                    scoreboard.release(child.id)
                    throw error
                }
                scoreboard.assign(child.id, pid: pid)
            case .nginx:
                guard let nginx else { return }
                pid = try nginx.spawn(environment: environment, masterPID: masterPID)
                scoreboard.nginxPID = UInt64(pid)
            case .grpc:
                let fronted = NginxConfig.grpcThroughNginx(config)
                let env = environment + snapshotEnvironment + [
                    "\(KServeProcessContract.roleVariable)=\(KServeProcessContract.grpcRole)",
                    "\(KServeProcessContract.masterPIDVariable)=\(masterPID)",
                    "\(KServeProcessContract.parentDeathSignalVariable)=\(SIGTERM):\(masterPID)",
                    // nginx holds the port and passes the calls it does not send to the workers to this socket.
                    "\(KServeProcessContract.grpcUnixSocketVariable)=\(fronted ? config.grpcBackendSocketPath : "")",
                ]
                pid = try Spawner.spawn(
                    path: "/proc/self/exe", arguments: arguments.isEmpty ? [executable] : arguments,
                    environment: env, descriptors: [], closeFrom: 3)
                scoreboard.grpcPID = UInt64(pid)
                grpcListen = fronted
                    ? "unix:\(config.grpcBackendSocketPath) (nginx on \(config.grpc.host):\(config.grpc.port))"
                    : "\(config.grpc.host):\(config.grpc.port)"
            }
            children[index].pid = pid
            children[index].startedAt = now
            children[index].starts += 1
            if !child.isWorker { children[index].generation = generationToRun }
            statusDirty = true
            var metadata: Logger.Metadata = ["child_pid": "\(pid)"]
            if child.role == .nginx { metadata["listen"] = "\(config.http.host):\(config.http.port)" }
            if child.role == .grpc { metadata["listen"] = "\(grpcListen)" }
            if child.isWorker, generation > 1 { metadata["generation"] = "\(child.generation)" }
            if children[index].starts == 1 {
                logger.info("started \(child.name)", metadata: metadata)
            } else {
                logger.notice("restarted \(child.name)", metadata: metadata)
            }
        } catch {
            // posix_spawn itself failed (EAGAIN, ENOMEM, ...): retry later, never in a tight loop.
            let delay = children[index].backoff.delay(afterUptime: 0, stableUptime: Self.stableUptime)
            children[index].respawnAt = now + delay
            logger.error("cannot start \(child.name): \(error); retrying in \(format(delay)) s")
        }
    }

    /// Asks a child to exit for good (SIGTERM; SIGKILL after `grace_period`); one not running is dropped.
    private func retire(_ index: Int, reason: String, now: Double) {
        guard let pid = children[index].pid else {
            if children[index].isWorker { scoreboard.release(children[index].id) }
            children.remove(at: index)
            statusDirty = true
            return
        }
        guard !children[index].isRetiring else { return }
        children[index].retireDeadline = now + config.server.gracePeriod
        children[index].respawnAt = nil
        if children[index].isWorker { scoreboard.slot(children[index].id).setState(.exiting) }
        kill(pid, children[index].role == .nginx ? SIGQUIT : SIGTERM)
        statusDirty = true
        logger.info("stopping \(children[index].name) (\(reason))", metadata: ["child_pid": "\(pid)"])
    }

    // MARK: - Signals

    private func handle(signal sig: Int32) {
        switch sig {
        case SIGTERM, SIGINT:
            switch phase {
            case .running:
                logger.notice(
                    "\(POSIX.signalName(sig)): stopping gracefully (grace period \(format(config.server.gracePeriod)) s)")
                beginStop(graceful: true)
            case .stopping(let stop) where stop.graceful:
                logger.notice("\(POSIX.signalName(sig)) during the graceful stop: stopping now")
                beginStop(graceful: false)
            case .stopping:
                break
            }
        case SIGQUIT:
            if case .stopping(let stop) = phase, !stop.graceful { break }
            logger.notice("SIGQUIT: stopping now")
            beginStop(graceful: false)
        case SIGCHLD:
            break  // reaped right after
        case SIGHUP:
            guard case .running = phase else { break }
            reloadConfiguration()
        case SIGUSR1:
            reopenLogs()
        case SIGTTIN, SIGTTOU:
            guard case .running = phase else { break }
            let before = target
            target = sig == SIGTTIN ? min(target + 1, Self.maximumWorkers) : max(target - 1, 1)
            scoreboard.targetWorkers = UInt64(target)
            statusDirty = true
            logger.notice("\(POSIX.signalName(sig)): workers \(before) -> \(target)")
        default:
            logger.notice("\(POSIX.signalName(sig)) ignored")
        }
    }

    /// SIGUSR1: reopens `[server] log_file` on the master's stdout and stderr, and forwards the signal to the
    /// workers (which do the same) and nginx (which reopens its error log).
    private func reopenLogs() {
        if let path = config.logFilePath, kserve_redirect_output(path) != 0 {
            logger.error("SIGUSR1: cannot reopen the log file \(path) ([server] log_file): \(POSIX.errorText())")
        }
        for child in children where child.role != .grpc {
            if let pid = child.pid { kill(pid, SIGUSR1) }
        }
        logger.notice("SIGUSR1: log files reopened", metadata: ["log_file": "\(config.logFilePath ?? "stderr")"])
    }

    /// SIGHUP: reads and validates the config; on success starts a rolling replacement of every worker.
    private func reloadConfiguration() {
        logger.notice("SIGHUP: reloading the configuration")
        let now = monotonicSeconds()
        let loaded: LoadedConfig
        var nginxChanged = false
        do {
            loaded = try configSource.load()
            let fixed = Self.restartOnlyChanges(from: config, to: loaded.config)
            if !fixed.isEmpty {
                throw ConfigError(
                    file: loaded.config.configFile, key: fixed.joined(separator: ", "),
                    reason: "cannot change while the server runs; restart it to apply")
            }
            if let nginx {
                nginxChanged = try nginx.files.rerender(config: loaded.config, runningAsRoot: geteuid() == 0) { path in
                    let status = try Spawner.run(
                        path: nginx.binary, arguments: nginx.arguments(test: true, mainConfig: path),
                        environment: self.environment)
                    guard kserve_wifexited(status) != 0, kserve_wexitstatus(status) == 0 else {
                        throw MasterError("nginx rejected the new rendered config (its message is above)")
                    }
                }
            } else {
                let files = NginxConfig(config: loaded.config)
                if try files.rerender(config: loaded.config, runningAsRoot: geteuid() == 0, test: nil) {
                    logger.notice("re-rendered \(files.locationsPath): reload your own nginx to apply it")
                }
            }
        } catch {
            logger.error("reload rejected, the pool keeps running unchanged: \(error)")
            return
        }
        let previous = config
        config = loaded.config
        generation += 1
        if let text = loaded.text {
            let path = stateDirectory + "/config-\(generation).toml"
            do {
                try POSIX.writeFileAtomically(path, text, mode: 0o640)
                snapshots[generation] = path
            } catch {
                logger.warning("cannot write the config snapshot \(path): \(error); new workers read the file")
            }
        }
        if nginxChanged, let pid = children.first(where: { $0.role == .nginx })?.pid {
            logger.notice("the rendered nginx config changed: reloading nginx (SIGHUP)")
            kill(pid, SIGHUP)
        }
        if config.server.listenBacklog != previous.server.listenBacklog {
            if listen(listenFD, Int32(clamping: config.server.listenBacklog)) != 0 {
                logger.warning("cannot change the listen backlog: \(POSIX.errorText())")
            }
        }
        if config.logFilePath != previous.logFilePath, let path = config.logFilePath,
            kserve_redirect_output(path) != 0
        {
            logger.error("cannot open the log file \(path) ([server] log_file): \(POSIX.errorText())")
        }
        for index in children.indices { children[index].backoff.maximum = config.server.respawnBackoffMax }
        target = config.server.workers
        scoreboard.generation = generation
        scoreboard.targetWorkers = UInt64(target)
        scoreboard.listenBacklog = UInt64(config.server.listenBacklog)
        scoreboard.count(.reload)
        scoreboard.reloading = true
        statusDirty = true

        // The gRPC front end follows its section.
        if config.grpc != previous.grpc || config.server.logLevel != previous.server.logLevel {
            if let index = children.firstIndex(where: { $0.role == .grpc }) {
                if !config.grpc.enable {
                    retire(index, reason: "[grpc] enable = false", now: now)
                } else if let pid = children[index].pid {
                    children[index].restartRequested = true
                    kill(pid, SIGTERM)
                }
            } else if config.grpc.enable {
                addFrontEnd(.grpc, now: now)
            }
        }

        // Workers not running (waiting for a respawn) are simply dropped; the others are replaced one by one.
        var old = Set<Int>()
        for index in children.indices.reversed() where children[index].isWorker && !children[index].isRetiring {
            if children[index].pid == nil {
                scoreboard.release(children[index].id)
                children.remove(at: index)
            } else {
                old.insert(children[index].id)
            }
        }
        reload = Reload(old: old, waitingFor: nil)
        logger.notice(
            "reload accepted (generation \(generation)): replacing \(old.count) worker(s), new before old, with \(target)")
    }

    /// glibc's per-thread cache of freed small blocks for the workers: 200 blocks per size instead of 7.
    ///
    /// A request allocates and frees more than 7 blocks of some sizes (strings, arrays, the task, JSON values);
    /// past the seventh they went back to the arena, and the next large allocation (libfcgi's 8 KB stream buffers
    /// of every request) consolidated them again. Measured (release, v1 small JSON, 16 connections, four
    /// alternating pairs): worker CPU per request 33-37 µs against 36-42 µs, throughput +4-10%; RSS after 120,000
    /// requests unchanged. A `glibc.malloc.tcache_count` the user put in `GLIBC_TUNABLES` is kept.
    static func withWorkerMallocTuning(_ environment: [String]) -> [String] {
        let setting = "glibc.malloc.tcache_count=200"
        guard let index = environment.firstIndex(where: { $0.hasPrefix("GLIBC_TUNABLES=") }) else {
            return environment + ["GLIBC_TUNABLES=\(setting)"]
        }
        if environment[index].contains("glibc.malloc.tcache_count=") { return environment }
        var out = environment
        out[index] += out[index] == "GLIBC_TUNABLES=" ? setting : ":" + setting
        return out
    }

    /// The keys whose change needs a restart (the socket, the run folder, and whether the master runs nginx).
    static func restartOnlyChanges(from old: ServerConfig, to new: ServerConfig) -> [String] {
        var keys: [String] = []
        if old.runDirectory != new.runDirectory { keys.append("[server] run_dir") }
        if old.socketPath != new.socketPath { keys.append("[server] socket") }
        if old.http.nginx != new.http.nginx { keys.append("[http] nginx") }
        if old.http.nginxBinary != new.http.nginxBinary { keys.append("[http] nginx_binary") }
        // Who holds the gRPC port (nginx or the gRPC process) cannot change hands while both run.
        if NginxConfig.grpcThroughNginx(old) != NginxConfig.grpcThroughNginx(new) && old.grpc.enable && new.grpc.enable {
            keys.append("[grpc] through_nginx")
        }
        return keys
    }

    /// Starts (or escalates) a stop.
    ///
    /// Graceful: first the front ends, which stop taking new requests and finish the ones they hold while the
    /// workers keep serving them (also those still queued on the socket): SIGQUIT to nginx, SIGTERM to the gRPC
    /// server. Once every front end has exited, SIGTERM to the workers, which finish their current request.
    /// Without front ends the workers get SIGTERM at once. Fast: SIGTERM to nginx, SIGQUIT to the gRPC server
    /// and the workers. Either way SIGKILL follows at the deadline (`grace_period`, at most 3 s when fast).
    private func beginStop(graceful: Bool) {
        let now = monotonicSeconds()
        var deadline =
            now + (graceful ? config.server.gracePeriod : min(config.server.gracePeriod, Self.fastStopTimeout))
        if case .stopping(let previous) = phase { deadline = min(deadline, previous.deadline) }
        var stop = StopState(graceful: graceful, deadline: deadline)
        reload = nil
        scoreboard.reloading = false
        for index in children.indices {
            children[index].respawnAt = nil
            guard let pid = children[index].pid else { continue }
            switch children[index].role {
            case .nginx: kill(pid, graceful ? SIGQUIT : SIGTERM)
            case .grpc: kill(pid, graceful ? SIGTERM : SIGQUIT)
            case .worker: break
            }
        }
        if !graceful || !frontEndRunning {
            signalWorkers(graceful: graceful)
            stop.workersSignalled = true
        }
        phase = .stopping(stop)
        statusDirty = true
    }

    /// Whether nginx or the gRPC server is still running.
    private var frontEndRunning: Bool { children.contains { !$0.isWorker && $0.pid != nil } }

    /// SIGTERM (graceful) or SIGQUIT (fast) to every running worker.
    private func signalWorkers(graceful: Bool) {
        for child in children where child.isWorker {
            if let pid = child.pid { kill(pid, graceful ? SIGTERM : SIGQUIT) }
        }
    }

    // MARK: - Reaping

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid == 0 { return }
            if pid < 0 {
                if errno == EINTR { continue }
                return  // ECHILD: no children left
            }
            guard let index = children.firstIndex(where: { $0.pid == pid }) else {
                logger.debug("reaped an unknown child", metadata: ["child_pid": "\(pid)"])
                continue
            }
            exited(index, pid: pid, status: status)
        }
    }

    private func exited(_ index: Int, pid: pid_t, status: Int32) {
        let now = monotonicSeconds()
        var child = children[index]
        let uptime = now - child.startedAt
        child.pid = nil
        statusDirty = true
        var requests: UInt64 = 0
        switch child.role {
        case .worker:
            let slot = scoreboard.slot(child.id)
            if slot.state == .ready || slot.state == .exiting { child.wasReady = true }
            requests = slot.requests
            scoreboard.release(child.id)
        case .nginx:
            scoreboard.nginxPID = 0
            // nginx leads its own process group; workers of an nginx master that was killed outlive it and keep
            // the HTTP port: stop them, so that the next nginx can bind.
            if kill(-pid, SIGTERM) == 0 { logger.notice("stopped the workers left by nginx (process group \(pid))") }
        case .grpc: scoreboard.grpcPID = 0
        }
        let how = POSIX.describeWaitStatus(status)
        let metadata: Logger.Metadata = ["child_pid": "\(pid)", "uptime_s": "\(format(uptime))"]

        if case .stopping(var stop) = phase {
            children[index] = child
            logger.info("\(child.name) exited: \(how)", metadata: metadata)
            if !child.isWorker, !stop.workersSignalled, !frontEndRunning {
                signalWorkers(graceful: stop.graceful)
                stop.workersSignalled = true
                phase = .stopping(stop)
            }
            return
        }
        if child.isRetiring {
            logger.info("\(child.name) stopped: \(how)", metadata: metadata)
            children.remove(at: index)
            return
        }
        if child.isWorker, reload?.old.contains(child.id) == true {
            let message = "\(child.name) of the previous generation exited during the reload (\(how)); not "
                + "restarted, its replacement is on the way"
            logger.warning("\(message)", metadata: metadata)
            reload?.old.remove(child.id)
            children.remove(at: index)
            return
        }
        let exitCode = kserve_wifexited(status) != 0 ? kserve_wexitstatus(status) : nil
        if child.restartRequested {
            logger.info("\(child.name) exited for a restart: \(how)", metadata: metadata)
            child.respawnAt = now
        } else if child.watchdogKillAt != nil {
            logger.notice("\(child.name), stopped by the watchdog, exited: \(how); replacing it", metadata: metadata)
            child.respawnAt = now
            scoreboard.count(.respawn)
        } else if child.isWorker, exitCode == 0, child.wasReady {
            // The worker stopped by itself between requests: max_requests (or someone's SIGTERM).
            logger.info("\(child.name) recycled after \(requests) requests; replacing it", metadata: metadata)
            scoreboard.count(.recycle)
            child.backoff.reset()
            child.respawnAt = now
        } else {
            if !child.isWorker, child.starts == 1, uptime < Self.frontEndStartupWindow, let code = exitCode, code != 0 {
                children[index] = child
                logger.critical(
                    "\(child.name) could not start (\(how)); its message is above; stopping the server",
                    metadata: metadata)
                exitStatus = 1
                beginStop(graceful: true)
                return
            }
            let delay = child.backoff.delay(afterUptime: uptime, stableUptime: Self.stableUptime)
            child.respawnAt = now + delay
            let when = child.isWorker && !child.wasReady ? " while starting" : ""
            var detail = how
            if exitCode == KServeProcessContract.workerBootFailureExitCode, child.isWorker { detail += ", boot failure" }
            switch child.role {
            case .worker:
                scoreboard.count(.failure)
                scoreboard.count(.respawn)
                scoreboard.recordFailure("\(child.name) (pid \(pid)) \(detail)\(when) after \(format(uptime)) s")
            case .nginx: scoreboard.count(.nginxRestart)
            case .grpc: scoreboard.count(.grpcRestart)
            }
            logger.error(
                "\(child.name) exited unexpectedly\(when) (\(detail)); restarting in \(format(delay)) s",
                metadata: metadata)
        }
        children[index] = child
    }

    // MARK: - Timers

    /// Due respawns, deadlines, readiness, the watchdog, the reload and the worker count while running; SIGKILL
    /// and give-up deadlines while stopping. Returns false to end the loop.
    private func tick(now: Double) -> Bool {
        switch phase {
        case .running:
            enforceDeadlines(now: now)
            noteReadiness()
            runWatchdog(now: now)
            for index in children.indices {
                if children[index].pid == nil, let at = children[index].respawnAt, at <= now { start(index, now: now) }
            }
            if reload != nil {
                advanceReload(now: now)
            } else {
                maintainWorkerCount(now: now)
            }
            sample()
            return true
        case .stopping(var stop):
            if liveCount == 0 { return false }
            if !stop.killed, now >= stop.deadline {
                let names = children.filter { $0.pid != nil }.map(\.name).joined(separator: ", ")
                logger.warning("still running after the stop deadline, sending SIGKILL: \(names)")
                for child in children { if let pid = child.pid { kill(pid, SIGKILL) } }
                stop.killed = true
                stop.giveUpAt = now + Self.killWait
                phase = .stopping(stop)
            } else if stop.killed, now >= stop.giveUpAt {
                let pids = children.compactMap(\.pid).map(String.init).joined(separator: ", ")
                logger.error("children did not exit after SIGKILL (pids \(pids)); giving up waiting")
                exitStatus = 1
                return false
            }
            return true
        }
    }

    /// SIGKILL for retiring children past `grace_period` and for workers the watchdog signalled.
    private func enforceDeadlines(now: Double) {
        for index in children.indices {
            guard let pid = children[index].pid, !children[index].killed else { continue }
            let deadline = [children[index].retireDeadline, children[index].watchdogKillAt].compactMap { $0 }.min()
            if let deadline, now >= deadline {
                logger.warning("\(children[index].name) did not stop in time; sending SIGKILL", metadata: ["child_pid": "\(pid)"])
                kill(pid, SIGKILL)
                children[index].killed = true
            }
        }
    }

    private func noteReadiness() {
        for index in children.indices where children[index].isWorker && !children[index].wasReady {
            guard children[index].pid != nil else { continue }
            if scoreboard.slot(children[index].id).state == .ready {
                children[index].wasReady = true
                statusDirty = true
            }
        }
    }

    /// The watchdog: a worker whose oldest request in progress is older than `request_timeout` (+ a margin, so
    /// that nginx has already answered 504) gets SIGTERM, then SIGKILL ``watchdogGrace`` later, and is replaced.
    private func runWatchdog(now: Double) {
        let timeout = config.server.requestTimeout
        guard timeout > 0 else { return }
        let limit = UInt64((timeout + Self.watchdogMargin) * 1e9)
        let nowNs = monotonicNanoseconds()
        for index in children.indices where children[index].isWorker && children[index].watchdogKillAt == nil {
            guard let pid = children[index].pid else { continue }
            let slot = scoreboard.slot(children[index].id)
            guard let start = slot.oldestRequestStart, nowNs > start, nowNs - start > limit else { continue }
            let seconds = Double(nowNs - start) / 1e9
            let request = slot.currentRequest.map { "\($0.method) \($0.path)" } ?? "a request"
            let message = "\(children[index].name) has been serving \(request) for \(format(seconds)) s "
                + "([server] request_timeout = \(format(timeout)) s): stopping it (SIGTERM, SIGKILL in "
                + "\(format(Self.watchdogGrace)) s) and starting a replacement"
            logger.error("\(message)", metadata: ["child_pid": "\(pid)"])
            kill(pid, SIGTERM)
            children[index].watchdogKillAt = now + Self.watchdogGrace
            slot.setState(.exiting)
            scoreboard.count(.timeout)
            scoreboard.recordFailure(
                "\(children[index].name) (pid \(pid)) killed by the watchdog after \(format(seconds)) s in \(request)")
            statusDirty = true
        }
    }

    /// One reload step: when the new worker is ready, stop one old worker; then start the next new one; once
    /// there are enough new workers, stop the old ones left.
    private func advanceReload(now: Double) {
        guard var r = reload else { return }
        r.old = r.old.filter { id in index(ofWorker: id).map { !children[$0].isRetiring } ?? false }
        if let waiting = r.waitingFor {
            if let index = index(ofWorker: waiting), !children[index].isRetiring {
                if children[index].wasReady {
                    r.waitingFor = nil
                    if let oldID = r.old.sorted().first, let oldIndex = self.index(ofWorker: oldID) {
                        r.old.remove(oldID)
                        retire(oldIndex, reason: "replaced by worker \(waiting) of generation \(generation)", now: now)
                    }
                }
            } else {
                r.waitingFor = nil
            }
        }
        if r.waitingFor == nil {
            let fresh = children.filter { $0.isWorker && !$0.isRetiring && !r.old.contains($0.id) }.count
            if fresh < target {
                r.waitingFor = addWorker(now: now)
            } else {
                for oldID in r.old.sorted() {
                    if let oldIndex = index(ofWorker: oldID) {
                        retire(oldIndex, reason: "reload to \(target) workers", now: now)
                    }
                }
                r.old = []
                reload = nil
                scoreboard.reloading = false
                statusDirty = true
                logger.notice("reload complete: \(fresh) worker(s) of generation \(generation)")
                return
            }
        }
        reload = r
    }

    /// Starts or stops workers to match the target (TTIN, TTOU).
    private func maintainWorkerCount(now: Double) {
        let active = children.indices.filter { children[$0].isWorker && !children[$0].isRetiring }
        if active.count < target {
            for _ in active.count..<target { addWorker(now: now) }
        } else if active.count > target {
            // The most recently added go first; one not running is just dropped.
            for index in active.suffix(active.count - target).reversed() {
                retire(index, reason: "fewer workers (\(target))", now: now)
            }
        }
    }

    /// Samples the accept queue and the busy workers for the maxima in the status page.
    private func sample() {
        if let queue = ListenQueue.probe(fd: listenFD) { scoreboard.observeListenQueue(queue.length) }
        var busy: UInt64 = 0
        for child in children where child.isWorker && child.pid != nil {
            if scoreboard.slot(child.id).isBusy { busy += 1 }
        }
        scoreboard.observeActive(busy)
    }

    /// Writes the status page as the master sees it (`<run>/status.json`); nginx serves it while no worker can.
    private func writeStatusSnapshot() {
        statusDirty = false
        statusWrittenAt = monotonicSeconds()
        var status = PoolStatus(scoreboard: scoreboard, listenFD: listenFD, source: "master", full: true)
        status.settings = config.statusPageSettings
        let path = NginxConfig(config: config).statusSnapshotPath
        do {
            try POSIX.writeFileAtomically(path, status.jsonText(full: true), mode: 0o640)
        } catch {
            logger.debug("cannot write the status snapshot: \(error)")
        }
    }

    /// Milliseconds until the next timer, at most 1 s (less while a reload waits or the watchdog is on).
    private func pollTimeout(now: Double) -> Int32 {
        var next = now + 1
        switch phase {
        case .running:
            for child in children {
                if let at = child.respawnAt { next = min(next, at) }
                if child.pid != nil, !child.killed {
                    if let at = child.retireDeadline { next = min(next, at) }
                    if let at = child.watchdogKillAt { next = min(next, at) }
                }
            }
            if reload != nil { next = min(next, now + 0.05) }
            let timeout = config.server.requestTimeout
            if timeout > 0 {
                next = min(next, now + max(0.05, timeout / 2))
                let limit = timeout + Self.watchdogMargin
                for child in children where child.isWorker && child.pid != nil && child.watchdogKillAt == nil {
                    if let start = scoreboard.slot(child.id).oldestRequestStart {
                        next = min(next, Double(start) / 1e9 + limit + 0.01)
                    }
                }
            }
        case .stopping(let stop):
            next = min(next, stop.killed ? stop.giveUpAt : stop.deadline)
            for child in children where child.pid != nil && !child.killed {
                if let at = child.retireDeadline { next = min(next, at) }
            }
        }
        return Int32(max(0, ((next - now) * 1000).rounded(.up)))
    }
}

/// The exponential restart delay of one child: 0.1 s, doubling up to `maximum` while it keeps dying soon after
/// its start; reset once it lived ``Supervisor/stableUptime``.
struct Backoff: Equatable {
    static let initial = 0.1
    var maximum: Double
    private(set) var next = Backoff.initial

    init(maximum: Double) {
        self.maximum = maximum
    }

    /// The delay before restarting a child that lived `uptime` seconds; doubles the following one.
    mutating func delay(afterUptime uptime: Double, stableUptime: Double) -> Double {
        if uptime >= stableUptime { next = Self.initial }
        let delay = min(next, maximum)
        next = min(delay * 2, maximum)
        return delay
    }

    mutating func reset() { next = Self.initial }
}

/// Seconds with up to 3 decimals.
func format(_ seconds: Double) -> String {
    let ms = (seconds * 1000).rounded()
    if ms.truncatingRemainder(dividingBy: 1000) == 0 { return String(Int(ms / 1000)) }
    return String(ms / 1000)
}
