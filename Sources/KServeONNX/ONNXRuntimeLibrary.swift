import CONNXRuntime
import Glibc
import KServeConfig
import KServeProtocol
import Synchronization

/// The ONNX Runtime C library, loaded once per process with `dlopen` (never linked at build time).
///
/// Search order, first hit wins:
/// 1. the path set with ``ONNXRuntimeLibrary/configure(explicitPath:)`` (the `[server] onnxruntime_library` config
///    key), else the `KSERVE_ONNXRUNTIME_LIBRARY` environment variable; when either is set, it is the only file tried;
/// 2. `libonnxruntime.so` next to the executable, then in `../lib` relative to it;
/// 3. the build tree's copy, `.build/onnxruntime/libonnxruntime.so`, which `make deps` extracts from the pinned
///    PyPI wheel (the package root is known at compile time, so a release binary finds it with no environment);
/// 4. `libonnxruntime.so` on the system loader path (`LD_LIBRARY_PATH`, `/etc/ld.so.conf`).
///
/// Without a library the server still starts: every ONNX model stays not ready, and its reason names the paths
/// tried and how to get the library.
public final class ONNXRuntimeLibrary: Sendable {
    /// The environment variable naming the library file.
    public static let environmentVariable = "KSERVE_ONNXRUNTIME_LIBRARY"

    /// The C function table (version ``KS_ORT_API_VERSION``); immutable, owned by the library.
    nonisolated(unsafe) let api: UnsafePointer<KSOrtApi>
    /// The process-wide environment every session is created in.
    nonisolated(unsafe) let env: OpaquePointer
    /// CPU memory info for tensors that wrap request bytes.
    nonisolated(unsafe) let cpuMemory: OpaquePointer
    /// The library's default allocator (names, string tensors).
    nonisolated(unsafe) let allocator: OpaquePointer
    /// The file that was loaded.
    public let path: String
    /// The library's own version string (e.g. "1.23.2").
    public let version: String

    private init(api: UnsafePointer<KSOrtApi>, env: OpaquePointer, cpuMemory: OpaquePointer, allocator: OpaquePointer,
                 path: String, version: String) {
        self.api = api
        self.env = env
        self.cpuMemory = cpuMemory
        self.allocator = allocator
        self.path = path
        self.version = version
    }

    private static let state = Mutex<State>(State())

    private struct State {
        var explicitPath: String?
        var loaded: Result<ONNXRuntimeLibrary, KServeError>?
    }

    /// Sets the library file to try first (the config key). Takes effect if no session was created yet.
    public static func configure(explicitPath: String?) {
        state.withLock { $0.explicitPath = explicitPath?.isEmpty == true ? nil : explicitPath }
    }

    /// The loaded library, loading it on first use.
    /// - Throws: ``KServeError`` naming every path tried and how to get the library.
    public static func shared() throws(KServeError) -> ONNXRuntimeLibrary {
        let result = state.withLock { (s: inout State) -> Result<ONNXRuntimeLibrary, KServeError> in
            if let loaded = s.loaded { return loaded }
            let r = load(candidates: candidatePaths(explicit: s.explicitPath))
            s.loaded = r
            return r
        }
        return try result.get()
    }

    /// The files tried, in order. A path named by the config key or the environment variable is the only one
    /// tried: a configured library that is missing is a mistake to report, not to paper over with another copy.
    static func candidatePaths(explicit: String?) -> [String] {
        if let explicit { return [explicit] }
        if let env = getenv(environmentVariable), env.pointee != 0 { return [cString(env)] }
        var paths: [String] = []
        if let exe = ExecutablePath.directory {
            paths.append(exe + "/libonnxruntime.so")
            paths.append(exe + "/../lib/libonnxruntime.so")
        }
        paths.append(buildTreeLibrary)
        paths.append("libonnxruntime.so")  // the system loader path
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// `<package root>/.build/onnxruntime/libonnxruntime.so`, from this source file's compile-time path.
    static var buildTreeLibrary: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Sources/KServeONNX/<file>
        return parts.joined(separator: "/") + "/.build/onnxruntime/libonnxruntime.so"
    }

    private static func load(candidates: [String]) -> Result<ONNXRuntimeLibrary, KServeError> {
        var tried: [String] = []
        for path in candidates {
            // A relative name with no slash goes to the system loader; anything else must exist first, so that the
            // message says "no such file" rather than the loader's wording for every path.
            if path.contains("/") && access(path, F_OK) != 0 {
                tried.append("\(path) (no such file)")
                continue
            }
            var error = [CChar](repeating: 0, count: 1024)
            guard let base = ks_ort_open(path, &error, error.count) else {
                tried.append("\(path) (\(cString(error)))")
                continue
            }
            let version = base.pointee.getVersionString.map { cString($0()) } ?? "unknown"
            guard let getApi = base.pointee.getApi, let api = getApi(UInt32(KS_ORT_API_VERSION)) else {
                return .failure(KServeError(
                    .internalError,
                    "ONNX Runtime \(version) at \(path) is too old: it does not provide C API version \(KS_ORT_API_VERSION) (ONNX Runtime 1.13 or newer is needed)"))
            }
            do throws(KServeError) {
                return .success(try initialize(api: api, path: path, version: version))
            } catch {
                return .failure(error)
            }
        }
        return .failure(KServeError(
            .internalError,
            "the ONNX Runtime library (libonnxruntime.so) was not found; tried: \(tried.joined(separator: "; ")). "
                + "Run `make deps` (it extracts the library from the pinned onnxruntime wheel on PyPI), or set "
                + "onnxruntime_library in the config's [server] section or \(environmentVariable) to the file's path"))
    }

    private static func initialize(api: UnsafePointer<KSOrtApi>, path: String, version: String) throws(KServeError) -> ONNXRuntimeLibrary {
        var env: OpaquePointer?
        try check(api, api.pointee.createEnv?(Int32(KS_ORT_LOG_ERROR), "kserve", &env), "creating the ONNX Runtime environment")
        var memory: OpaquePointer?
        try check(api, api.pointee.createCpuMemoryInfo?(Int32(KS_ORT_DEVICE_ALLOCATOR), Int32(KS_ORT_MEM_DEFAULT), &memory),
                  "creating the CPU memory info")
        var allocator: OpaquePointer?
        try check(api, api.pointee.getAllocatorWithDefaultOptions?(&allocator), "getting the default allocator")
        guard let env, let memory, let allocator else {
            throw KServeError(.internalError, "ONNX Runtime \(version) at \(path) returned no environment")
        }
        return ONNXRuntimeLibrary(api: api, env: env, cpuMemory: memory, allocator: allocator, path: path, version: version)
    }

    /// Throws the status's message (and releases it) when `status` is not NULL (success).
    static func check(_ api: UnsafePointer<KSOrtApi>, _ status: OpaquePointer?, _ what: @autoclosure () -> String,
                      code: KServeError.Code = .internalError) throws(KServeError) {
        guard let status else { return }
        let message = api.pointee.getErrorMessage.map { cString($0(status)) } ?? "unknown error"
        api.pointee.releaseStatus?(status)
        throw KServeError(code, "\(what()): \(message)")
    }

    func check(_ status: OpaquePointer?, _ what: @autoclosure () -> String, code: KServeError.Code = .internalError) throws(KServeError) {
        try Self.check(api, status, what(), code: code)
    }
}

/// A C string as a `String` (`""` for NULL).
func cString(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
}

/// A NUL-terminated C buffer as a `String`.
func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
