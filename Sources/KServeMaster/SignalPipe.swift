import CSystemShims
import Glibc

/// The master's self-pipe: C signal handlers write the signal number as one byte, the poll loop reads them.
struct SignalPipe {
    /// The read end (non-blocking, close-on-exec, >= 10).
    let fd: Int32

    /// The signals the master handles.
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU]

    /// Installs the handlers (once per process) and ignores SIGPIPE (children get default dispositions back
    /// through posix_spawn's SETSIGDEF).
    static func install() throws -> SignalPipe {
        _ = kserve_signal_set_ignored(SIGPIPE, 1)
        let fd = handled.withUnsafeBufferPointer {
            kserve_signal_pipe_install($0.baseAddress, Int32($0.count), 10)
        }
        guard fd >= 0 else { throw MasterError("cannot install the signal handlers: \(POSIX.errorText())") }
        return SignalPipe(fd: fd)
    }

    /// Every signal byte waiting in the pipe, in arrival order (duplicates kept).
    func drain() -> [Int32] {
        var signals: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                signals.append(contentsOf: buffer[0..<n].map { Int32($0) })
                continue
            }
            if n < 0 && errno == EINTR { continue }
            return signals
        }
    }
}
