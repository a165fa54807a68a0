import CSystemShims
import Glibc
import KServeConfig
import Logging

/// The master's event loop: spawns the children, reaps them, respawns with backoff, runs the stop sequence.
///
/// Single-threaded by design: everything happens on the thread that calls ``run()`` (posix_spawn, waitpid and
/// the PR_SET_PDEATHSIG of the workers all relate to that thread), woken by the signal self-pipe or a timeout.
final class Supervisor {
    /// What a slot runs.
    enum Role: Equatable {
        case worker(Int)
        case nginx
        case grpc

        var name: String {
            switch self {
            case .worker(let id): return "worker \(id)"
            case .nginx: return "nginx"
            case .grpc: return "gRPC server"
            }
        }

        var isWorker: Bool {
            if case .worker = self { return true }
            return false
        }
    }

    /// One supervised child position: a worker slot (stable id across respawns) or nginx.
    struct Slot {
        let role: Role
        var pid: pid_t?
        var startedAt: Double = 0
        /// The delay before the next respawn if the child dies quickly again.
        var backoff: Double = Supervisor.initialBackoff
        var respawnAt: Double?
        var starts = 0
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

    static let initialBackoff = 0.1
    static let maximumBackoff = 10.0
    /// A child that lived this long resets its backoff.
    static let stableUptime = 10.0
    /// nginx or the gRPC server exiting with an error this soon after its first start means it cannot start
    /// (config, port in use): the server stops instead of retrying forever.
    static let frontEndStartupWindow = 5.0
    /// Longest wait of a fast stop before SIGKILL.
    static let fastStopTimeout = 3.0
    /// How long to wait for children after SIGKILL before giving up.
    static let killWait = 5.0

    let config: ServerConfig
    let arguments: [String]
    let listenFD: Int32
    let nginx: NginxLaunch?
    let signals: SignalPipe
    var logger: Logger

    private(set) var slots: [Slot]
    private(set) var phase: Phase = .running
    private var exitStatus: Int32 = 0
    private let executable: String
    private let environment: [String]
    private let masterPID = getpid()

    init(
        config: ServerConfig, arguments: [String], listenFD: Int32, nginx: NginxLaunch?, signals: SignalPipe,
        logger: Logger
    ) {
        self.config = config
        self.arguments = arguments
        self.listenFD = listenFD
        self.nginx = nginx
        self.signals = signals
        self.logger = logger
        var slots = (0..<config.server.workers).map { Slot(role: .worker($0)) }
        if nginx != nil { slots.append(Slot(role: .nginx)) }
        if config.grpc.enable { slots.append(Slot(role: .grpc)) }
        self.slots = slots
        executable = POSIX.readLink("/proc/self/exe") ?? "/proc/self/exe"
        environment = childEnvironment()
    }

    /// Runs until every child is gone after a stop. Returns the process exit status.
    func run() -> Int32 {
        let now = monotonicSeconds()
        for index in slots.indices { start(index, now: now) }
        while true {
            if case .stopping = phase, liveCount == 0 { break }
            var pfd = pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, pollTimeout(now: monotonicSeconds()))
            for sig in signals.drain() { handle(signal: sig) }
            reap()
            if !tick(now: monotonicSeconds()) { break }
        }
        return exitStatus
    }

    var liveCount: Int { slots.reduce(0) { $0 + ($1.pid == nil ? 0 : 1) } }

    // MARK: - Starting children

    private func start(_ index: Int, now: Double) {
        slots[index].respawnAt = nil
        let role = slots[index].role
        do {
            let pid: pid_t
            switch role {
            case .worker(let id):
                let env = environment + [
                    "\(KServeProcessContract.roleVariable)=\(KServeProcessContract.workerRole)",
                    "\(KServeProcessContract.listenFDVariable)=\(KServeProcessContract.listenFD)",
                    "\(KServeProcessContract.workerIDVariable)=\(id)",
                    "\(KServeProcessContract.masterPIDVariable)=\(masterPID)",
                ]
                // /proc/self/exe resolves in the child to the master's own image, even if the file on disk was
                // replaced or deleted since: workers always run the same code as their master.
                pid = try Spawner.spawn(
                    path: "/proc/self/exe", arguments: arguments.isEmpty ? [executable] : arguments,
                    environment: env, descriptors: [(listenFD, KServeProcessContract.listenFD)],
                    closeFrom: KServeProcessContract.listenFD + 1)
            case .nginx:
                guard let nginx else { return }
                pid = try Spawner.spawn(
                    path: nginx.binary, arguments: nginx.arguments(test: false), environment: environment,
                    descriptors: [], closeFrom: 3)
            case .grpc:
                let env = environment + [
                    "\(KServeProcessContract.roleVariable)=\(KServeProcessContract.grpcRole)",
                    "\(KServeProcessContract.masterPIDVariable)=\(masterPID)",
                ]
                pid = try Spawner.spawn(
                    path: "/proc/self/exe", arguments: arguments.isEmpty ? [executable] : arguments,
                    environment: env, descriptors: [], closeFrom: 3)
            }
            slots[index].pid = pid
            slots[index].startedAt = now
            slots[index].starts += 1
            var metadata: Logger.Metadata = ["child_pid": "\(pid)"]
            if role == .nginx { metadata["listen"] = "\(config.http.host):\(config.http.port)" }
            if role == .grpc { metadata["listen"] = "\(config.grpc.host):\(config.grpc.port)" }
            if slots[index].starts == 1 {
                logger.info("started \(role.name)", metadata: metadata)
            } else {
                logger.notice("restarted \(role.name)", metadata: metadata)
            }
        } catch {
            // posix_spawn itself failed (EAGAIN, ENOMEM, ...): retry later, never in a tight loop.
            let delay = nextBackoff(index, uptime: 0)
            slots[index].respawnAt = now + delay
            logger.error("cannot start \(role.name): \(error); retrying in \(format(delay)) s")
        }
    }

    /// The delay for this respawn, and the doubled delay for the next one.
    private func nextBackoff(_ index: Int, uptime: Double) -> Double {
        if uptime >= Self.stableUptime { slots[index].backoff = Self.initialBackoff }
        let delay = slots[index].backoff
        slots[index].backoff = min(delay * 2, Self.maximumBackoff)
        return delay
    }

    // MARK: - Signals

    private func handle(signal sig: Int32) {
        switch sig {
        case SIGTERM, SIGINT:
            switch phase {
            case .running:
                logger.notice("\(POSIX.signalName(sig)): stopping gracefully (grace period \(format(config.server.gracePeriod)) s)")
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
            logger.notice("SIGHUP: reloading is not supported yet; ignored")
        default:
            logger.notice("\(POSIX.signalName(sig)) ignored")
        }
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
        var deadline = now + (graceful ? config.server.gracePeriod : min(config.server.gracePeriod, Self.fastStopTimeout))
        if case .stopping(let previous) = phase { deadline = min(deadline, previous.deadline) }
        var stop = StopState(graceful: graceful, deadline: deadline)
        for index in slots.indices {
            slots[index].respawnAt = nil
            guard let pid = slots[index].pid else { continue }
            switch slots[index].role {
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
    }

    /// Whether nginx or the gRPC server is still running.
    private var frontEndRunning: Bool { slots.contains { !$0.role.isWorker && $0.pid != nil } }

    /// SIGTERM (graceful) or SIGQUIT (fast) to every running worker.
    private func signalWorkers(graceful: Bool) {
        for slot in slots {
            if case .worker = slot.role, let pid = slot.pid { kill(pid, graceful ? SIGTERM : SIGQUIT) }
        }
    }

    // MARK: - Reaping and timers

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid == 0 { return }
            if pid < 0 {
                if errno == EINTR { continue }
                return  // ECHILD: no children left
            }
            guard let index = slots.firstIndex(where: { $0.pid == pid }) else {
                logger.debug("reaped an unknown child", metadata: ["child_pid": "\(pid)"])
                continue
            }
            exited(index, pid: pid, status: status)
        }
    }

    private func exited(_ index: Int, pid: pid_t, status: Int32) {
        let now = monotonicSeconds()
        let role = slots[index].role
        let uptime = now - slots[index].startedAt
        slots[index].pid = nil
        let how = POSIX.describeWaitStatus(status)
        let metadata: Logger.Metadata = ["child_pid": "\(pid)", "uptime_s": "\(format(uptime))"]
        if case .stopping(var stop) = phase {
            logger.info("\(role.name) exited: \(how)", metadata: metadata)
            if !role.isWorker, !stop.workersSignalled, !frontEndRunning {
                signalWorkers(graceful: stop.graceful)
                stop.workersSignalled = true
                phase = .stopping(stop)
            }
            return
        }
        let exitCode = kserve_wifexited(status) != 0 ? kserve_wexitstatus(status) : nil
        if case .worker = role, exitCode == KServeProcessContract.workerBootFailureExitCode {
            logger.critical("\(role.name) could not start (\(how)); stopping the server", metadata: metadata)
            exitStatus = 1
            beginStop(graceful: true)
            return
        }
        if !role.isWorker, slots[index].starts == 1, uptime < Self.frontEndStartupWindow, exitCode != 0 {
            logger.critical("\(role.name) could not start (\(how)); its message is above; stopping the server", metadata: metadata)
            exitStatus = 1
            beginStop(graceful: true)
            return
        }
        let delay = nextBackoff(index, uptime: uptime)
        slots[index].respawnAt = now + delay
        logger.error("\(role.name) exited unexpectedly (\(how)); restarting in \(format(delay)) s", metadata: metadata)
    }

    /// Timers: due respawns while running; SIGKILL and give-up deadlines while stopping. Returns false to end
    /// the loop.
    private func tick(now: Double) -> Bool {
        switch phase {
        case .running:
            for index in slots.indices {
                if slots[index].pid == nil, let at = slots[index].respawnAt, at <= now { start(index, now: now) }
            }
            return true
        case .stopping(var stop):
            if liveCount == 0 { return false }
            if !stop.killed, now >= stop.deadline {
                let names = slots.filter { $0.pid != nil }.map(\.role.name).joined(separator: ", ")
                logger.warning("still running after the stop deadline, sending SIGKILL: \(names)")
                for slot in slots { if let pid = slot.pid { kill(pid, SIGKILL) } }
                stop.killed = true
                stop.giveUpAt = now + Self.killWait
                phase = .stopping(stop)
            } else if stop.killed, now >= stop.giveUpAt {
                let pids = slots.compactMap(\.pid).map(String.init).joined(separator: ", ")
                logger.error("children did not exit after SIGKILL (pids \(pids)); giving up waiting")
                exitStatus = 1
                return false
            }
            return true
        }
    }

    /// Milliseconds until the next timer (respawn or stop deadline), at most 1 s.
    private func pollTimeout(now: Double) -> Int32 {
        var next = now + 1
        switch phase {
        case .running:
            for slot in slots { if let at = slot.respawnAt { next = min(next, at) } }
        case .stopping(let stop):
            next = min(next, stop.killed ? stop.giveUpAt : stop.deadline)
        }
        return Int32(max(0, ((next - now) * 1000).rounded(.up)))
    }
}

/// Seconds with up to 3 decimals.
func format(_ seconds: Double) -> String {
    let ms = (seconds * 1000).rounded()
    if ms.truncatingRemainder(dividingBy: 1000) == 0 { return String(Int(ms / 1000)) }
    return String(ms / 1000)
}
