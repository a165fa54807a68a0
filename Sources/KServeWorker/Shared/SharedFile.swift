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
