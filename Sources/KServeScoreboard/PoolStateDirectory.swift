import Glibc

/// The pool's shared-state folder (`<run>/state-<master pid>`): the scoreboard, the config snapshots, metrics
/// slots and the desired model states. The master creates it before it starts any child and removes it at exit.
public enum PoolStateDirectory {
    /// The folder for the master with `masterPID`.
    public static func path(runDirectory: String, masterPID: Int32) -> String {
        "\(runDirectory)/state-\(masterPID)"
    }

    /// Creates this master's folder (with `metrics/`), removing the folders of masters that are no longer running.
    public static func prepare(runDirectory: String, masterPID: Int32) {
        if let dir = opendir(runDirectory) {
            var stale: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                guard name.hasPrefix("state-"), let pid = Int32(name.dropFirst(6)) else { continue }
                if pid == masterPID || kill(pid, 0) != 0 { stale.append(name) }
            }
            closedir(dir)
            for name in stale { removeTree("\(runDirectory)/\(name)") }
        }
        let folder = path(runDirectory: runDirectory, masterPID: masterPID) + "/metrics"
        var current = folder.hasPrefix("/") ? "" : "."
        for part in folder.split(separator: "/") {
            current += "/" + part
            _ = mkdir(current, 0o750)
        }
    }

    /// Removes this master's folder at exit.
    public static func remove(runDirectory: String, masterPID: Int32) {
        removeTree(path(runDirectory: runDirectory, masterPID: masterPID))
    }

    /// Removes a file or a directory tree (no symlink following).
    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                removeTree("\(path)/\(name)")
            }
            closedir(dir)
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
