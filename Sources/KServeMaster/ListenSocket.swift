import Glibc
import KServeConfig

/// The FastCGI listening socket the master owns and hands to every worker as descriptor 3.
struct ListenSocket {
    /// The master's copy: >= 10 and close-on-exec, so it never leaks into a child except through the explicit dup2.
    let fd: Int32
    let path: String
    /// Identity of the socket file this master bound, so that it only ever unlinks its own.
    let device: UInt
    let inode: UInt

    /// What is at the socket path before we bind.
    enum Existing: Equatable {
        case nothing
        /// A socket file nobody listens on (connect() is refused): left by a master that died.
        case stale
        /// Another process accepts connections on it.
        case live
        case notASocket
        case unreachable(String)
    }

    /// Probes the path with connect(): a successful (or backlog-full) connect means another server is alive.
    static func probe(_ path: String) -> Existing {
        guard let type = POSIX.fileType(path) else { return .nothing }
        guard type == S_IFSOCK else { return .notASocket }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .unreachable(POSIX.errorText()) }
        defer { close(fd) }
        guard var address = makeAddress(path) else { return .unreachable("path too long") }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc == 0 { return .live }
        switch errno {
        case EAGAIN: return .live  // listening, backlog full
        case ECONNREFUSED: return .stale
        default: return .unreachable(POSIX.errorText())
        }
    }

    /// Refuses to replace a live socket, removes a stale one, then binds, sets mode 0660 and listens.
    static func open(path: String, backlog: Int) throws -> (socket: ListenSocket, removedStale: Bool) {
        guard path.utf8.count <= maxUnixSocketPathLength else {
            throw MasterError(
                "the socket path \(path) is \(path.utf8.count) bytes; at most \(maxUnixSocketPathLength) fit in "
                    + "a Unix socket address")
        }
        var removedStale = false
        switch probe(path) {
        case .nothing:
            break
        case .stale:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw MasterError("cannot remove the stale socket \(path): \(POSIX.errorText())")
            }
            removedStale = true
        case .live:
            throw MasterError(
                "another server is serving \(path) (a connect() to it succeeded); stop that kserve-master first, "
                    + "or give this one another [server] socket / run_dir")
        case .notASocket:
            throw MasterError("\(path) exists and is not a socket; refusing to replace it")
        case .unreachable(let reason):
            throw MasterError("cannot check whether \(path) is in use: \(reason)")
        }

        let raw = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw MasterError("socket(AF_UNIX) failed: \(POSIX.errorText())") }
        var ok = false
        defer { if !ok { close(raw) } }
        guard var address = makeAddress(path) else { throw MasterError("the socket path \(path) is too long") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw MasterError("cannot bind \(path): \(POSIX.errorText())") }
        var st = stat()
        guard chmod(path, 0o660) == 0, stat(path, &st) == 0 else {
            let text = POSIX.errorText()
            unlink(path)
            throw MasterError("cannot set mode 0660 on \(path): \(text)")
        }
        guard listen(raw, Int32(clamping: backlog)) == 0 else {
            let text = POSIX.errorText()
            unlink(path)
            throw MasterError("cannot listen on \(path): \(text)")
        }
        let high = fcntl(raw, F_DUPFD_CLOEXEC, 10)
        guard high >= 0 else {
            let text = POSIX.errorText()
            unlink(path)
            throw MasterError("cannot move the socket descriptor above 9: \(text)")
        }
        close(raw)
        ok = true
        return (ListenSocket(fd: high, path: path, device: UInt(st.st_dev), inode: UInt(st.st_ino)), removedStale)
    }

    /// Closes the master's copy and unlinks the socket file if it is still the one this master bound.
    func closeAndRemove() {
        close(fd)
        var st = stat()
        if stat(path, &st) == 0, UInt(st.st_dev) == device, UInt(st.st_ino) == inode {
            unlink(path)
        }
    }

    private static func makeAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
