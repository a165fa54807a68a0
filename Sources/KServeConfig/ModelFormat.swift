#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShims

/// The model formats a KServe ServingRuntime names (`supportedModelFormats`), and the kind that serves each.
public enum ModelFormat: String, Sendable, Hashable, CaseIterable {
    case onnx, xgboost, lightgbm

    /// The `[[models]]` kind serving this format.
    public var kind: String { rawValue }

    /// The file extensions that mark this format in a model folder.
    public var fileExtensions: [String] {
        switch self {
        case .onnx: return [".onnx"]
        case .xgboost: return [".json", ".ubj", ".bst"]
        case .lightgbm: return [".txt"]
        }
    }

    /// The formats whose files are in `path` (a file, or a folder and Triton's `<version>/` subfolders), with the
    /// files seen, for messages.
    static func candidates(at path: String) -> (formats: [ModelFormat], files: [String]) {
        var files: [String] = []
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR {
            files = [String(path.split(separator: "/").last ?? "")]
        } else {
            for name in DirectoryListing.names(path) {
                let full = path.hasSuffix("/") ? path + name : path + "/" + name
                var fst = stat()
                guard stat(full, &fst) == 0 else { continue }
                if (fst.st_mode & S_IFMT) == S_IFREG {
                    files.append(name)
                } else if (fst.st_mode & S_IFMT) == S_IFDIR, !name.isEmpty, name.allSatisfy(\.isNumber) {
                    files += DirectoryListing.names(full).map { name + "/" + $0 }
                }
            }
        }
        files.sort()
        let formats = allCases.filter { f in files.contains { file in f.fileExtensions.contains { file.hasSuffix($0) } } }
        return (formats, files)
    }

    /// Whether `path` is an existing folder with no visible entries.
    public static func isEmptyFolder(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return false }
        return DirectoryListing.names(path).isEmpty
    }

    /// Whether `name` can be a model folder's name: letters, digits, `.`, `_`, `-`, not starting with `.`.
    public static func isSafeModelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != ".", name.utf8.count <= 255 else { return false }
        return name.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "." || $0 == "_" || $0 == "-"
        }
    }

    /// The format of the model at `path`, or `explicit` when given (`--model_format`).
    /// - Throws: ``ConfigError`` (key `--model_dir` or `--model_format`) when the folder is missing, holds no
    ///   file of a known format, or holds several formats: the message lists the files found and the known formats.
    public static func detect(at path: String, explicit: String?) throws -> ModelFormat {
        let known = allCases.map(\.rawValue).joined(separator: ", ")
        if let explicit {
            guard let f = ModelFormat(rawValue: explicit.lowercased()) else {
                throw ConfigError(
                    file: "command line", key: "--model_format",
                    reason: "unknown model format \(quoted(explicit)); this server serves \(known)")
            }
            return f
        }
        guard access(path, F_OK) == 0 else {
            throw ConfigError(
                file: "command line", key: "--model_dir",
                reason: "\(quoted(path)) does not exist (\(String(cString: strerror(errno))))")
        }
        let (formats, files) = candidates(at: path)
        let listing = files.isEmpty ? "no files" : "files: " + files.prefix(20).joined(separator: ", ")
        guard let first = formats.first else {
            throw ConfigError(
                file: "command line", key: "--model_dir",
                reason: "no model of a known format in \(quoted(path)) (\(listing)); known formats: \(known) "
                    + "(*.onnx, XGBoost *.json/*.ubj/*.bst, LightGBM *.txt)")
        }
        guard formats.count == 1 else {
            throw ConfigError(
                file: "command line", key: "--model_dir",
                reason: "\(quoted(path)) holds files of several formats (\(formats.map(\.rawValue).joined(separator: ", "))); "
                    + "\(listing); pass --model_format with one of \(known)")
        }
        return first
    }
}

/// Reading a folder's entry names (the one `opendir` / `readdir` loop of the project).
public enum DirectoryListing {
    /// Every entry except `.` and `..`, hidden ones included; `nil` when the folder cannot be opened (`errno` says why).
    public static func entries(_ folder: String) -> [String]? {
        guard let dir = opendir(folder) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The entries that are not hidden (no leading `.`); empty when the folder cannot be opened.
    public static func names(_ folder: String) -> [String] {
        (entries(folder) ?? []).filter { !$0.hasPrefix(".") }
    }
}

/// The running executable's location (`/proc/self/exe`), for files installed beside it.
public enum ExecutablePath {
    /// The folder of the running executable, or `nil` when `/proc/self/exe` cannot be read.
    public static var directory: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}

/// How many CPUs this process may use: the cgroup CPU limit (`cpu.max`, v1 `cpu.cfs_quota_us`), then the
/// affinity mask, then the online CPUs; at least 1. `workers = "auto"` uses it.
public enum CPUBudget {
    /// The CPU count (rounded up from a fractional cgroup quota).
    public static func available(cgroupRoot: String = "/sys/fs/cgroup") -> Int {
        var count = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let affinity = Int(kserve_affinity_cpu_count())
        if affinity > 0 { count = affinity }
        if let limit = cgroupLimit(root: cgroupRoot) { count = min(count, limit) }
        return max(1, count)
    }

    /// The cgroup quota in whole CPUs (rounded up), or nil when unlimited or unknown.
    static func cgroupLimit(root: String) -> Int? {
        if let text = readSmall(root + "/cpu.max") {
            return quota(cpuMax: text)
        }
        if let q = readSmall(root + "/cpu/cpu.cfs_quota_us").flatMap({ Int($0.trimmed) }),
           let p = readSmall(root + "/cpu/cpu.cfs_period_us").flatMap({ Int($0.trimmed) }), q > 0, p > 0 {
            return (q + p - 1) / p
        }
        return nil
    }

    /// `cpu.max` ("200000 100000", or "max 100000") in whole CPUs.
    static func quota(cpuMax text: String) -> Int? {
        let parts = text.trimmed.split(separator: " ")
        guard parts.count == 2, let q = Int(parts[0]), let p = Int(parts[1]), q > 0, p > 0 else { return nil }
        return (q + p - 1) / p
    }

    private static func readSmall(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, Int32(buffer.count), f) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
