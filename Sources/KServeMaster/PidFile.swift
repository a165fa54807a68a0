import Glibc

/// `<run>/kserve-master.pid`, held with an exclusive flock for the master's whole life: a second master on the
/// same run folder is refused even before it looks at the socket, and a pid file left by a master that died is
/// simply taken over (the kernel dropped its lock).
struct PidFile {
    let path: String
    let fd: Int32

    /// Locks and writes the pid file, or throws naming the master that holds it.
    static func acquire(_ path: String) throws -> PidFile {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw MasterError("cannot open the pid file \(path): \(POSIX.errorText())") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let busy = errno == EWOULDBLOCK
            let text = POSIX.errorText()
            close(fd)
            if busy {
                let owner = POSIX.readSmallFile(path)?.trimmingCharacters(in: " \n") ?? "?"
                throw MasterError(
                    "another kserve-master (pid \(owner)) is running with this run folder (\(path) is locked); "
                        + "stop it first, or give this one another [server] run_dir")
            }
            throw MasterError("cannot lock the pid file \(path): \(text)")
        }
        guard ftruncate(fd, 0) == 0, POSIX.writeAll(fd, "\(getpid())\n") else {
            let text = POSIX.errorText()
            close(fd)
            throw MasterError("cannot write the pid file \(path): \(text)")
        }
        return PidFile(path: path, fd: fd)
    }

    /// Removes the file, then drops the lock.
    func release() {
        unlink(path)
        close(fd)
    }
}

extension String {
    /// The string without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
