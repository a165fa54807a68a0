import Atomics
import Glibc
import KServeModel
import KServeProtocol

/// The pool-wide desired model states (``ModelStateStore``): a JSON file `{"model": true|false}` replaced
/// atomically, and a generation counter in a shared mapping that every worker reads before each request.
final class SharedModelStates: ModelStateStore, @unchecked Sendable {
    // @unchecked: immutable after init; the file is guarded by an flock across processes.
    private let statePath: String
    private let lockPath: String
    private let mapping: SharedMapping

    init?(directory: String) {
        makeDirectories(directory)
        statePath = "\(directory)/models.json"
        lockPath = "\(directory)/models.lock"
        guard let m = SharedMapping(path: "\(directory)/models.generation", size: 4096) else { return nil }
        mapping = m
    }

    private var counter: UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: mapping.base.assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    var generation: UInt64 { counter.load(ordering: .acquiring) }

    func desiredStates() -> [String: Bool] {
        guard let bytes = readWholeFile(statePath), case .object(let o)? = try? JSONValue.parse(bytes[...]) else { return [:] }
        var states: [String: Bool] = [:]
        for (k, v) in o.members { if case .bool(let b) = v { states[k] = b } }
        return states
    }

    func publish(model: String, loaded: Bool) {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        if fd >= 0 { flock(fd, LOCK_EX) }
        defer { if fd >= 0 { flock(fd, LOCK_UN); close(fd) } }
        var object = JSONObject()
        for (k, v) in desiredStates().sorted(by: { $0.key < $1.key }) { object[k] = .bool(v) }
        object[model] = .bool(loaded)
        _ = writeFileAtomically(statePath, JSONValue.object(object).serialized())
        counter.wrappingIncrement(ordering: .releasing)
    }
}
