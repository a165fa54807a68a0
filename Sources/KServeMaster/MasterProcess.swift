import CSystemShims
import Glibc
public import KServeConfig
public import Logging

/// The master process: owns the FastCGI socket, spawns and supervises the workers and nginx, handles signals.
///
/// It never serves a request itself. ``run()`` does, in order:
/// 1. creates the run folder (mode 0750) and takes `<run>/kserve-master.pid` (locked with flock for the
///    master's life, so a second master on the same folder is refused);
/// 2. refuses to replace a socket another live server accepts on (a `connect()` succeeds), removes a stale one,
///    then binds the Unix socket, sets mode 0660 and listens with `[server] listen_backlog`;
/// 3. renders `nginx/kserve.conf.template` and `nginx/kserve-locations.conf` into the run folder and checks
///    them with `nginx -t`;
/// 4. spawns `[server] workers` workers by re-executing its own binary (`/proc/self/exe`) with its own
///    arguments and ``KServeProcessContract``'s environment, the socket as descriptor 3 and every other
///    descriptor closed; then starts nginx (`daemon off`) as a child, and the gRPC front end
///    (`KSERVE_ROLE=grpc`, same binary and arguments, no inherited socket) when `[grpc] enable`;
/// 5. supervises them in a `poll()` loop on a signal self-pipe: a child that dies unexpectedly is respawned,
///    after 0.1 s doubling to 10 s while it keeps dying within 10 s of its start. nginx or the gRPC server
///    failing within 5 s of its first start, or a worker exiting with
///    ``KServeProcessContract/workerBootFailureExitCode``, stops the server with status 1 instead of looping.
///
/// Signals: SIGTERM/SIGINT stop gracefully: first the front ends (SIGQUIT to nginx, SIGTERM to the gRPC server),
/// which stop taking requests and finish those they hold while the workers keep serving them (also those still
/// queued on the socket); once they have exited, SIGTERM to the workers, which finish their current request;
/// SIGKILL for whatever is left `[server] grace_period` seconds after the signal. SIGQUIT, or a second
/// SIGTERM/SIGINT, stops fast (SIGTERM to nginx, SIGQUIT to the gRPC server and the workers, SIGKILL after at most
/// 3 s). Then the socket and the pid file are removed. SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored for now.
/// Children run in process groups of their own, so a terminal's Ctrl-C reaches only the master, which then stops
/// them in this order.
public struct MasterProcess: Sendable {
    /// The validated configuration.
    public let config: ServerConfig
    /// The full argv (including argv[0]) the workers are started with, so that they parse the same config.
    public let arguments: [String]
    /// The master's logger (gets `pid` and `role=master` metadata).
    public let logger: Logger
    /// Command-line arguments the parser did not know (``CommandLineOverrides/unknown``); logged at start.
    public let unknownArguments: [String]

    /// Creates the master.
    /// - Parameters:
    ///   - config: The validated configuration.
    ///   - arguments: The full argv to give the workers (normally `CommandLine.arguments`).
    ///   - logger: The logger; the master adds `pid` and `role` metadata.
    ///   - unknownArguments: Arguments to report as ignored (KServe's `parse_known_args` leftovers).
    public init(config: ServerConfig, arguments: [String], logger: Logger, unknownArguments: [String] = []) {
        self.config = config
        self.arguments = arguments
        self.logger = logger
        self.unknownArguments = unknownArguments
    }

    /// Starts the pool and supervises it until a stop signal (or a fatal start-up failure).
    /// - Returns: The exit status for the process: 0 after a requested stop, 1 after a fatal child failure.
    /// - Throws: ``MasterError`` when the server cannot start (run folder, live socket, nginx config, ...);
    ///   nothing is left running or bound in that case.
    public func run() throws -> Int32 {
        POSIX.ensureStandardDescriptors()
        var log = logger
        log[metadataKey: "pid"] = "\(getpid())"
        log[metadataKey: "role"] = "master"
        if !unknownArguments.isEmpty {
            log.warning(
                "ignoring unknown command-line arguments",
                metadata: ["arguments": .string(unknownArguments.joined(separator: " "))])
        }

        // Signals first, so that a SIGTERM during start-up becomes an orderly stop, not a leaked socket.
        let signals = try SignalPipe.install()
        let runDirectory = config.runDirectory
        guard POSIX.makeDirectories(runDirectory, mode: 0o750) else {
            throw MasterError("cannot create the run folder \(runDirectory) ([server] run_dir): \(POSIX.errorText())")
        }
        let pidFile = try PidFile.acquire(runDirectory + "/kserve-master.pid")
        var socket: ListenSocket?
        do {
            let nginx = try prepareNginx(log: log)
            let (opened, removedStale) = try ListenSocket.open(
                path: config.socketPath, backlog: config.server.listenBacklog)
            socket = opened
            if removedStale { log.notice("removed a stale socket left by a previous master", metadata: ["socket": "\(opened.path)"]) }
            log.info(
                "listening",
                metadata: [
                    "socket": "\(opened.path)", "backlog": "\(config.server.listenBacklog)",
                    "workers": "\(config.server.workers)", "threads": "\(config.server.threads)",
                    "run_dir": "\(runDirectory)",
                ])
            let supervisor = Supervisor(
                config: config, arguments: arguments, listenFD: opened.fd, nginx: nginx, signals: signals, logger: log)
            let status = supervisor.run()
            opened.closeAndRemove()
            pidFile.release()
            log.info("stopped", metadata: ["status": "\(status)"])
            return status
        } catch {
            socket?.closeAndRemove()
            pidFile.release()
            throw error
        }
    }

    /// Renders the nginx files, stops an nginx orphaned by a previous master, checks the config with `nginx -t`.
    /// - Returns: How to start nginx, or nil when `[http] nginx = false`.
    private func prepareNginx(log: Logger) throws -> NginxLaunch? {
        let files = NginxConfig(config: config)
        let root = geteuid() == 0
        guard config.http.nginx else {
            if try files.render(config: config, runningAsRoot: root) {
                log.info(
                    "[http] nginx = false: not starting nginx; include the rendered routes in your own nginx server block",
                    metadata: ["include": "\(files.locationsPath)"])
            } else {
                log.info("[http] nginx = false: not starting nginx")
            }
            return nil
        }
        let binaryName = config.http.nginxBinary
        let resolvedName = binaryName.contains("/")
            ? PathUtilitiesLite.resolve(binaryName, against: config.baseDirectory) : binaryName
        guard let binary = POSIX.findExecutable(resolvedName) else {
            throw MasterError(
                "nginx (\(resolvedName), [http] nginx_binary) was not found in PATH or the sbin folders; install it "
                    + "(apt-get install nginx) or set [http] nginx = false and run your own")
        }
        guard POSIX.makeDirectories(files.prefix, mode: 0o750) else {
            throw MasterError("cannot create \(files.prefix): \(POSIX.errorText())")
        }
        stopOrphanedNginx(files: files, log: log)
        try files.render(config: config, runningAsRoot: root)
        let launch = NginxLaunch(binary: binary, files: files)
        let status = try Spawner.run(
            path: binary, arguments: launch.arguments(test: true), environment: childEnvironment())
        guard kserve_wifexited(status) != 0, kserve_wexitstatus(status) == 0 else {
            throw MasterError(
                "nginx rejected the rendered config \(files.mainConfigPath) (nginx -t: "
                    + "\(POSIX.describeWaitStatus(status))); its message is above; the template is "
                    + "\(config.nginxTemplatePath)")
        }
        return launch
    }

    /// An nginx whose pid file is in our run folder and whose command line names our config was started by a
    /// master that died without stopping it (we hold the run folder's lock, so that master is gone): stop it,
    /// or it would keep the HTTP port.
    private func stopOrphanedNginx(files: NginxConfig, log: Logger) {
        guard let text = POSIX.readSmallFile(files.pidFile), let pid = pid_t(text.trimmingCharacters(in: " \n")),
            pid > 1, POSIX.processExists(pid),
            let commandLine = POSIX.readSmallFile("/proc/\(pid)/cmdline"),
            commandLine.contains(files.mainConfigPath)
        else { return }
        log.warning("stopping an nginx left running by a previous master", metadata: ["nginx_pid": "\(pid)"])
        kill(pid, SIGTERM)
        let deadline = monotonicSeconds() + 5
        while POSIX.processExists(pid), monotonicSeconds() < deadline { usleep(50_000) }
        if POSIX.processExists(pid) {
            kill(pid, SIGKILL)
            usleep(100_000)
        }
    }
}

/// How to run nginx on the rendered config.
struct NginxLaunch {
    let binary: String
    let files: NginxConfig

    func arguments(test: Bool) -> [String] {
        [binary] + (test ? ["-t", "-q"] : []) + ["-p", files.prefix + "/", "-c", files.mainConfigPath, "-e", "stderr"]
    }
}

/// The inherited environment without the variables the master sets for its children.
func childEnvironment() -> [String] {
    let owned = [
        KServeProcessContract.roleVariable, KServeProcessContract.listenFDVariable,
        KServeProcessContract.workerIDVariable, KServeProcessContract.masterPIDVariable, "LISTEN_FDS", "LISTEN_PID",
        "LISTEN_FDNAMES",
    ]
    return POSIX.environment().filter { entry in
        let name = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
        return !owned.contains(name)
    }
}

extension PathUtilitiesLite {
    /// `path` if absolute, else `base/path` (lexically).
    static func resolve(_ path: String, against base: String) -> String {
        path.hasPrefix("/") ? path : base + "/" + path
    }
}
