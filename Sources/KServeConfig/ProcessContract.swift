/// The contract between the master and the processes it spawns: environment variable names, the listen
/// descriptor and exit codes. Both sides import it from here so that they cannot drift apart.
///
/// A worker is the same executable re-run with the master's own arguments (so it parses the same config) and
/// this environment added: `KSERVE_ROLE=worker`, `KSERVE_LISTEN_FD=3`, `KSERVE_WORKER_ID=<slot>` (0-based, stable
/// across respawns of the slot), `KSERVE_MASTER_PID=<pid>`. Descriptor 3 is the FastCGI listen socket (no
/// FD_CLOEXEC); every descriptor above 3 is closed; all signals are at their defaults with an empty mask.
public enum KServeProcessContract {
    /// The role variable; absent (or `master`) in the master.
    public static let roleVariable = "KSERVE_ROLE"
    /// `KSERVE_ROLE` value of a FastCGI worker.
    public static let workerRole = "worker"
    /// `KSERVE_ROLE` value of the gRPC front end (started when `[grpc] enable`; it gets no listen descriptor,
    /// only `KSERVE_MASTER_PID`, and reaches the workers through the socket path).
    public static let grpcRole = "grpc"
    /// The variable that names the inherited listen descriptor.
    public static let listenFDVariable = "KSERVE_LISTEN_FD"
    /// The descriptor number of the inherited FastCGI listen socket.
    public static let listenFD: Int32 = 3
    /// The variable holding the worker's slot number (0-based).
    public static let workerIDVariable = "KSERVE_WORKER_ID"
    /// The variable holding the master's pid (a worker exits when its parent is no longer this pid).
    public static let masterPIDVariable = "KSERVE_MASTER_PID"
    /// The variable naming the config snapshot a child must parse instead of re-reading the `-c` file: the
    /// master copies each config it validated (at start and at every accepted reload) into its state folder, so
    /// that a worker respawned later runs the config its generation was validated with, never an edited file
    /// that was not reloaded (or failed validation).
    public static let configSnapshotVariable = "KSERVE_CONFIG_SNAPSHOT"
    /// The variable of the parent-death exec guard (`<signal>:<parent pid>:<program>`, see CSystemShims):
    /// how nginx, which does not set PR_SET_PDEATHSIG itself, dies with its master.
    public static let execGuardVariable = "KSERVE_EXEC_GUARD"
    /// The variable asking a child to set its parent-death signal on its main thread before `main`
    /// (`<signal>:<master pid>`, see CSystemShims): workers get SIGQUIT (exit at once), the gRPC server SIGTERM.
    public static let parentDeathSignalVariable = "KSERVE_PARENT_DEATH_SIGNAL"
    /// Set for the gRPC process when nginx fronts the gRPC port (`[grpc] through_nginx`): the Unix socket it listens
    /// on instead of `[grpc] host:port` (nginx passes it every call but `ModelInfer`).
    public static let grpcUnixSocketVariable = "KSERVE_GRPC_UNIX_SOCKET"
    /// Exit status of a worker that cannot start at all (bad inherited descriptor, FastCGI init failure, ...):
    /// the master logs it as a boot failure and respawns the slot with backoff (it never halts the pool).
    /// Model load failures are not this: such a model stays registered as not ready.
    public static let workerBootFailureExitCode: Int32 = 3
}
