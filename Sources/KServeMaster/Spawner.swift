import CSystemShims
import Glibc

/// posix_spawn with an explicit descriptor contract (never fork(): the master may have threads).
enum Spawner {
    /// Spawns `path` with `arguments` (argv, including argv[0]) and `environment` (`NAME=value`).
    ///
    /// In the child every signal is at its default with an empty mask, the child leads a new process group (so a
    /// terminal's Ctrl-C reaches only the master, which then stops everyone in order), each `(from, to)` pair of
    /// `descriptors` is dup2'ed, and every descriptor >= `closeFrom` is closed.
    /// - Returns: The child's pid.
    static func spawn(
        path: String, arguments: [String], environment: [String], descriptors: [(from: Int32, to: Int32)],
        closeFrom: Int32
    ) throws -> pid_t {
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        defer {
            argv.free()
            envp.free()
        }
        let from = descriptors.map(\.from)
        let to = descriptors.map(\.to)
        var pid: pid_t = 0
        let rc = from.withUnsafeBufferPointer { fromBuffer in
            to.withUnsafeBufferPointer { toBuffer in
                kserve_spawn(
                    &pid, path, argv.pointer, envp.pointer, fromBuffer.baseAddress, toBuffer.baseAddress,
                    Int32(descriptors.count), closeFrom, 1)
            }
        }
        guard rc == 0 else { throw MasterError("cannot start \(path): \(POSIX.errorText(rc))") }
        return pid
    }

    /// Runs a helper to completion (used for `nginx -t`), returning its wait status.
    static func run(path: String, arguments: [String], environment: [String]) throws -> Int32 {
        let pid = try spawn(
            path: path, arguments: arguments, environment: environment, descriptors: [], closeFrom: 3)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw MasterError("waitpid(\(pid)) failed: \(POSIX.errorText())") }
        }
        return status
    }
}

/// A NULL-terminated `char *[]` built from Swift strings; call ``free()`` when done.
struct CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { pointer[i] = strdup(s) }
        pointer[strings.count] = nil
    }

    func free() {
        for i in 0..<count { Glibc.free(pointer[i]) }
        pointer.deallocate()
    }
}
