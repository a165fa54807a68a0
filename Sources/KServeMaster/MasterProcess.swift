import CSystemShims
import Glibc
public import KServeConfig
import KServeScoreboard
public import Logging

/// The master process: owns the FastCGI socket, spawns and supervises the workers and nginx, handles signals.
///
/// It never serves a request itself. ``run()`` does, in order:
/// 1. moves its stdout and stderr to `[server] log_file` when one is set (children inherit them);
/// 2. creates the run folder (mode 0750) and takes `<run>/kserve-master.pid` (locked with flock for the
///    master's life, so a second master on the same folder is refused);
/// 3. creates the pool state folder `<run>/state-<pid>/` with the scoreboard (one slot per worker, pool counters)
///    and a snapshot of the config file (`config-1.toml`) that the children parse instead of the file itself;
/// 4. refuses to replace a socket another live server accepts on (a `connect()` succeeds), removes a stale one,
///    then binds the Unix socket, sets mode 0660 and listens with `[server] listen_backlog`;
/// 5. renders `nginx/kserve.conf.template` and `nginx/kserve-locations.conf` into the run folder and checks
///    them with `nginx -t`;
/// 6. spawns `[server] workers` workers by re-executing its own binary (`/proc/self/exe`) with its own
///    arguments and ``KServeProcessContract``'s environment, the socket as descriptor 3 and every other
///    descriptor closed; then starts nginx (`daemon off`, through the parent-death exec guard so that it dies
///    with the master) and the gRPC front end (`KSERVE_ROLE=grpc`) when `[grpc] enable`;
/// 7. supervises them (``Supervisor``): respawn with exponential backoff (0.1 s doubling up to
///    `[server] respawn_backoff_max` while a child keeps dying within 10 s of its start; never a halt because a
///    worker failed to boot), recycling after `max_requests`, the `request_timeout` watchdog, rolling reloads.
///    nginx or the gRPC server failing within 5 s of their first start stops the server with status 1.
///
/// Signals: SIGTERM/SIGINT stop gracefully: first the front ends (SIGQUIT to nginx, SIGTERM to the gRPC server),
/// which stop taking requests and finish those they hold while the workers keep serving them (also those still
/// queued on the socket); once they have exited, SIGTERM to the workers, which finish their current request;
/// SIGKILL for whatever is left `[server] grace_period` seconds after the signal. SIGQUIT, or a second
/// SIGTERM/SIGINT, stops fast (SIGTERM to nginx, SIGQUIT to the gRPC server and the workers, SIGKILL after at most
/// 3 s). Then the socket, the state folder and the pid file are removed. SIGHUP re-reads and validates the
/// config and replaces the workers one by one, new before old (a bad config is logged and changes nothing).
/// SIGUSR1 reopens the log file (master, workers, nginx). SIGTTIN / SIGTTOU add or remove a worker (at least 1).
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
    /// Checks a config beyond the file itself (e.g. constructs its models) before a reload is accepted.
    public let validate: (@Sendable (ServerConfig) throws -> Void)?

    /// Creates the master.
    /// - Parameters:
    ///   - config: The validated configuration.
    ///   - arguments: The full argv to give the workers (normally `CommandLine.arguments`).
    ///   - logger: The logger; the master adds `pid` and `role` metadata.
    ///   - unknownArguments: Arguments to report as ignored (KServe's `parse_known_args` leftovers).
    ///   - validate: Extra checks a reloaded config must pass (the model server constructs its models).
    public init(
        config: ServerConfig, arguments: [String], logger: Logger, unknownArguments: [String] = [],
        validate: (@Sendable (ServerConfig) throws -> Void)? = nil
    ) {
        self.config = config
        self.arguments = arguments
        self.logger = logger
        self.unknownArguments = unknownArguments
        self.validate = validate
    }

    /// Starts the pool and supervises it until a stop signal (or a fatal start-up failure).
    /// - Returns: The exit status for the process: 0 after a requested stop, 1 after a fatal child failure.
    /// - Throws: ``MasterError`` when the server cannot start (run folder, live socket, nginx config, ...);
    ///   nothing is left running or bound in that case.
    public func run() throws -> Int32 {
        POSIX.ensureStandardDescriptors()
        if let path = config.logFilePath, kserve_redirect_output(path) != 0 {
            throw MasterError("cannot open the log file \(path) ([server] log_file): \(POSIX.errorText())")
        }
        var log = logger
        log[metadataKey: "pid"] = "\(getpid())"
        log[metadataKey: "role"] = "master"
        for line in KServeCommandLine.unknownFlagWarnings(unknownArguments) { log.warning("\(line)") }

        // Signals first, so that a SIGTERM during start-up becomes an orderly stop, not a leaked socket.
        let signals = try SignalPipe.install()
        let runDirectory = config.runDirectory
        guard POSIX.makeDirectories(runDirectory, mode: config.usesPrivateRunDirectory ? 0o700 : 0o750) else {
            throw MasterError("cannot create the run folder \(runDirectory) ([server] run_dir): \(POSIX.errorText())")
        }
        if config.usesPrivateRunDirectory {
            // The default folder lives in a shared temp folder: it must be this user's own and private.
            var st = stat()
            guard lstat(runDirectory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == getuid() else {
                throw MasterError(
                    "the run folder \(runDirectory) exists but is not a folder owned by this user; remove it or set --run_dir")
            }
            if st.st_mode & 0o077 != 0 { _ = chmod(runDirectory, 0o700) }
        }
        let pidFile = try PidFile.acquire(runDirectory + "/kserve-master.pid")
        let masterPID = getpid()
        PoolStateDirectory.prepare(runDirectory: runDirectory, masterPID: masterPID)
        let stateDirectory = PoolStateDirectory.path(runDirectory: runDirectory, masterPID: masterPID)
        var socket: ListenSocket?
        defer {
            socket?.closeAndRemove()
            unlink(NginxConfig(config: config).statusSnapshotPath)
            PoolStateDirectory.remove(runDirectory: runDirectory, masterPID: masterPID)
            pidFile.release()
        }
        guard let scoreboard = Scoreboard.create(path: Scoreboard.path(stateDirectory: stateDirectory)) else {
            throw MasterError("cannot create the scoreboard in \(stateDirectory): \(POSIX.errorText())")
        }
        let source = ConfigSource(arguments: arguments, current: config, validate: validate)
        var snapshot: String?
        if let text = source.currentText() {
            let path = stateDirectory + "/config-1.toml"
            try POSIX.writeFileAtomically(path, text, mode: 0o640)
            snapshot = path
        }
        let nginx = try prepareNginx(log: log)
        let (opened, removedStale) = try ListenSocket.open(path: config.socketPath, backlog: config.server.listenBacklog)
        socket = opened
        if removedStale {
            log.notice("removed a stale socket left by a previous master", metadata: ["socket": "\(opened.path)"])
        }
        log.info(
            "listening",
            metadata: [
                "socket": "\(opened.path)", "backlog": "\(config.server.listenBacklog)",
                "workers": "\(config.server.workers)", "threads": "\(config.server.threads)",
                "run_dir": "\(runDirectory)",
            ])
        let supervisor = Supervisor(
            config: config, arguments: arguments, listenFD: opened.fd, nginx: nginx, signals: signals,
            scoreboard: scoreboard, stateDirectory: stateDirectory, configSource: source, initialSnapshot: snapshot,
            logger: log)
        let status = supervisor.run()
        log.info("stopped", metadata: ["status": "\(status)"])
        return status
    }

    /// `kserve-master -t`: checks what the config file alone cannot: the nginx templates render (every placeholder
    /// known) and the nginx binary exists. Writes nothing.
    /// - Throws: ``MasterError`` naming the template or the binary.
    public func testConfiguration() throws {
        _ = try NginxConfig(config: config).renderTexts(config: config, runningAsRoot: geteuid() == 0)
        if config.http.nginx {
            let name = config.http.nginxBinary
            let resolved = name.contains("/") ? PathUtilitiesLite.resolve(name, against: config.baseDirectory) : name
            guard POSIX.findExecutable(resolved) != nil else {
                throw MasterError("nginx (\(resolved), [http] nginx_binary) was not found in PATH or the sbin folders")
            }
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
                    + "\(config.nginxTemplatePath ?? "built into the binary (set [http] nginx_template to use a file)")")
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

    func arguments(test: Bool, mainConfig: String? = nil) -> [String] {
        [binary] + (test ? ["-t", "-q"] : [])
            + ["-p", files.prefix + "/", "-c", mainConfig ?? files.mainConfigPath, "-e", "stderr"]
    }

    /// Starts nginx through the parent-death exec guard (CSystemShims): the child is this binary, which sets
    /// PR_SET_PDEATHSIG(SIGTERM) and execs nginx, so nginx stops when the master dies, even by SIGKILL.
    func spawn(environment: [String], masterPID: pid_t) throws -> pid_t {
        guard binary.hasPrefix("/") else {
            return try Spawner.spawn(
                path: binary, arguments: arguments(test: false), environment: environment, descriptors: [],
                closeFrom: 3)
        }
        return try Spawner.spawn(
            path: "/proc/self/exe", arguments: arguments(test: false),
            environment: environment + ["\(KServeProcessContract.execGuardVariable)=\(SIGTERM):\(masterPID):\(binary)"],
            descriptors: [], closeFrom: 3)
    }
}

/// A config read for a reload: the parsed config and the exact text it came from (nil for a config built in
/// code), which becomes the snapshot the new workers parse.
struct LoadedConfig {
    let config: ServerConfig
    let text: String?
}

/// Where the master (re-)reads its config: the `-c` file and the flags of its own command line.
struct ConfigSource: Sendable {
    /// The config file as named on the command line, or nil for a config built in code.
    let path: String?
    let overrides: CommandLineOverrides
    let current: ServerConfig
    let validate: (@Sendable (ServerConfig) throws -> Void)?

    init(arguments: [String], current: ServerConfig, validate: (@Sendable (ServerConfig) throws -> Void)?) {
        if let parsed = try? KServeCommandLine.parse(Array(arguments.dropFirst())) {
            path = parsed.configPath
            var overrides = parsed.overrides
            overrides.action = .serve
            self.overrides = overrides
        } else {
            path = current.configFile
            overrides = CommandLineOverrides()
        }
        self.current = current
        self.validate = validate
    }

    /// The config file's text now (the start-up snapshot), or nil.
    func currentText() -> String? {
        guard let path else { return nil }
        return try? Self.read(path)
    }

    /// Reads, parses and validates the config file (with the same flags as at start).
    /// - Throws: ``ConfigError`` naming the file, the key and the reason, or the validator's error.
    func load() throws -> LoadedConfig {
        guard let path else {
            try validate?(current)
            return LoadedConfig(config: current, text: nil)
        }
        let text = try Self.read(path)
        let config = try ServerConfig.parse(toml: text, path: path, overrides: overrides)
        try validate?(config)
        return LoadedConfig(config: config, text: text)
    }

    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConfigError(file: path, reason: "cannot read the config file: \(POSIX.errorText())") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw ConfigError(file: path, reason: "cannot read the config file: \(POSIX.errorText())") }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > 16 << 20 { throw ConfigError(file: path, reason: "the config file is larger than 16 MiB") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, reason: "the config file is not valid UTF-8")
        }
        return text
    }
}

/// The inherited environment without the variables the master sets for its children.
func childEnvironment() -> [String] {
    let owned = [
        KServeProcessContract.roleVariable, KServeProcessContract.listenFDVariable,
        KServeProcessContract.workerIDVariable, KServeProcessContract.masterPIDVariable,
        KServeProcessContract.configSnapshotVariable, KServeProcessContract.execGuardVariable,
        KServeProcessContract.parentDeathSignalVariable, "LISTEN_FDS", "LISTEN_PID",
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
