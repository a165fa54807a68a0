import Glibc

/// A file mapped shared into memory, used for state that every worker process reads and writes.
final class SharedMapping: @unchecked Sendable {
    // @unchecked: the mapping is fixed for the life of the object; callers synchronise access to the bytes.
    let base: UnsafeMutableRawPointer
    let size: Int

    /// Maps `path` (created with `size` bytes when new or shorter).
    init?(path: String, size: Int) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        if Int(st.st_size) < size, ftruncate(fd, off_t(size)) != 0 { return nil }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        base = p
        self.size = size
    }

    deinit { munmap(base, size) }
}

/// Creates a directory and its parents (mode 0750); ignores existing ones.
func makeDirectories(_ path: String) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        _ = mkdir(current, 0o750)
    }
}

/// Reads a whole file, or `nil`.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return out
}

/// Writes a file atomically (temp file + rename).
func writeFileAtomically(_ path: String, _ bytes: [UInt8]) -> Bool {
    let tmp = path + ".tmp.\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
    guard fd >= 0 else { return false }
    let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
    close(fd)
    return ok && rename(tmp, path) == 0
}

/// Removes a file or a directory tree (no symlink following).
func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            removeTree("\(path)/\(name)")
        }
        closedir(dir)
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// The pool's shared-state folder (`<run>/state-<master pid>`): metrics slots and desired model states.
public enum PoolStateDirectory {
    /// The folder for the master with `masterPID`.
    public static func path(runDirectory: String, masterPID: Int32) -> String {
        "\(runDirectory)/state-\(masterPID)"
    }

    /// Creates this master's folder, removing the folders of masters that are no longer running.
    public static func prepare(runDirectory: String, masterPID: Int32) {
        if let dir = opendir(runDirectory) {
            var stale: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.hasPrefix("state-"), let pid = Int32(name.dropFirst(6)) else { continue }
                if pid == masterPID || kill(pid, 0) != 0 { stale.append(name) }
            }
            closedir(dir)
            for name in stale { removeTree("\(runDirectory)/\(name)") }
        }
        makeDirectories(path(runDirectory: runDirectory, masterPID: masterPID) + "/metrics")
    }

    /// Removes this master's folder at exit.
    public static func remove(runDirectory: String, masterPID: Int32) {
        removeTree(path(runDirectory: runDirectory, masterPID: masterPID))
    }
}
