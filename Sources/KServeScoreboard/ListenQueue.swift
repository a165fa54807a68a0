import CSystemShims
import Glibc

/// The real accept queue of the pool's Unix socket, read from the kernel with sock_diag (`UDIAG_SHOW_RQLEN`).
///
/// php-fpm measures its listen queue only for TCP and always reports 0 on a Unix socket; `ss -xl` shows the
/// right figure, and this is the same netlink query.
public enum ListenQueue {
    /// The connections waiting to be accepted on the listening socket `fd`, and its listen() backlog.
    /// - Returns: nil when the kernel does not answer (no unix_diag support, or `fd` is not a listening socket).
    public static func probe(fd: Int32) -> (length: UInt64, backlog: UInt64)? {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        var queued: UInt32 = 0
        var backlog: UInt32 = 0
        guard kserve_unix_listen_queue(UInt64(st.st_ino), &queued, &backlog) == 0 else { return nil }
        return (UInt64(queued), UInt64(backlog))
    }
}
