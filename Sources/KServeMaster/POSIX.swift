import CSystemShims
import Glibc

/// Small POSIX helpers for the master (all synchronous, no Foundation).
enum POSIX {
    /// The strerror text.
    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Makes sure descriptors 0, 1 and 2 are open (on /dev/null), so that no socket or pipe the master opens
    /// later lands on a standard descriptor that children inherit.
    static func ensureStandardDescriptors() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0, null != fd {
                _ = dup2(null, fd)
                close(null)
            }
        }
    }

    /// `mkdir -p` with `mode` for the folders it creates. Returns false with errno set on failure.
    static func makeDirectories(_ path: String, mode: mode_t) -> Bool {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 {
                guard errno == EEXIST else { return false }
                var st = stat()
                guard stat(current, &st) == 0 else { return false }
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    errno = ENOTDIR
                    return false
                }
            }
        }
        return true
    }

    /// The file type bits of `path` (without following a final symlink), or nil if it does not exist.
    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }

    /// Writes the whole buffer, retrying on EINTR and short writes.
    @discardableResult
    static func writeAll(_ fd: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return true }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return write(fd, base + offset, buffer.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Reads a small file (pid files, /proc entries) as text, or nil.
    static func readSmallFile(_ path: String, limit: Int = 64 << 10) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(fd, base + total, limit - total)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            total += n
        }
        return String(decoding: buffer[0..<total], as: UTF8.self)
    }

    /// Writes `text` to `path` atomically (temporary file + rename) with `mode`.
    static func writeFileAtomically(_ path: String, _ text: String, mode: mode_t) throws {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw MasterError("cannot write \(temporary): \(errorText())") }
        let ok = writeAll(fd, text)
        let saved = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            throw MasterError("cannot write \(temporary): \(errorText(saved))")
        }
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw MasterError("cannot rename \(temporary) to \(path): \(errorText(e))")
        }
    }

    /// The target of a symlink (readlink), or nil.
    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether a process with this pid exists and is not a zombie (kill(pid, 0) succeeds or fails with EPERM,
    /// and /proc/<pid>/stat does not say Z: an orphan's zombie lingers when PID 1 does not reap).
    static func processExists(_ pid: pid_t) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = readSmallFile("/proc/\(pid)/stat", limit: 4096),
            let close = stat.lastIndex(of: ")")
        else { return true }
        let state = stat[close...].dropFirst().drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }

    /// Finds an executable: a name with a `/` is taken as is; a bare name is searched in PATH, then in the sbin
    /// folders (Debian's nginx lives in /usr/sbin, which is not in every user's PATH).
    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        for folder in folders where !folder.isEmpty {
            let candidate = folder + "/" + name
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// The process environment as `NAME=value` strings.
    static func environment() -> [String] {
        var result: [String] = []
        var index = 0
        while let entry = environ[index] {
            result.append(String(cString: entry))
            index += 1
        }
        return result
    }

    /// A readable form of a waitpid status: `exit status 1`, `killed by SIGKILL`, `killed by SIGSEGV, core dumped`.
    static func describeWaitStatus(_ status: Int32) -> String {
        if kserve_wifexited(status) != 0 { return "exit status \(kserve_wexitstatus(status))" }
        if kserve_wifsignaled(status) != 0 {
            let sig = kserve_wtermsig(status)
            return "killed by \(signalName(sig))" + (kserve_wcoredump(status) != 0 ? ", core dumped" : "")
        }
        return "wait status \(status)"
    }

    /// SIGTERM, SIGKILL, ... (or SIG<n>).
    static func signalName(_ sig: Int32) -> String {
        switch sig {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGQUIT: return "SIGQUIT"
        case SIGILL: return "SIGILL"
        case SIGTRAP: return "SIGTRAP"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGKILL: return "SIGKILL"
        case SIGUSR1: return "SIGUSR1"
        case SIGSEGV: return "SIGSEGV"
        case SIGUSR2: return "SIGUSR2"
        case SIGPIPE: return "SIGPIPE"
        case SIGALRM: return "SIGALRM"
        case SIGTERM: return "SIGTERM"
        case SIGCHLD: return "SIGCHLD"
        case SIGTTIN: return "SIGTTIN"
        case SIGTTOU: return "SIGTTOU"
        default: return "SIG\(sig)"
        }
    }
}

/// A monotonic clock reading in seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
