import Atomics
import Glibc
import KServeModel

/// Metrics shared by every worker: each worker owns one mapped file of counter slots in `<state>/metrics/`,
/// and a scrape in any worker sums the slots of every file with the same series key.
///
/// A file holds a 64-byte header (magic, number of used slots) and up to ``capacity`` slots of 256 bytes: a
/// NUL-terminated series key (at most 247 bytes) and a Double value stored as its bit pattern. The owning
/// worker is the only writer; readers in other processes see whole 8-byte values (aligned atomic loads).
/// Files of workers that exited stay in place, so totals never go down.
final class SharedCounterStorage: CounterStorage, @unchecked Sendable {
    // @unchecked: `mapping` is immutable; slot allocation and writes are serialised by `lock`.
    static let slotSize = 256
    static let keyCapacity = 248
    static let headerSize = 64
    static let capacity = 4096
    static let magic: UInt64 = 0x4B53_4D45_5452_4943  // "KSMETRIC"

    private let directory: String
    private let mapping: SharedMapping
    private let lock = Locked<[String: Int]>([:])

    /// Opens (creating) this process's counter file `<directory>/<name>.metrics`; `name` defaults to the pid.
    init?(directory: String, name: String = "\(getpid())") {
        makeDirectories(directory)
        self.directory = directory
        guard let m = SharedMapping(path: "\(directory)/\(name).metrics", size: Self.headerSize + Self.capacity * Self.slotSize) else {
            return nil
        }
        mapping = m
        m.base.storeBytes(of: Self.magic, as: UInt64.self)
        usedCount.store(0, ordering: .releasing)
    }

    private var usedCount: UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: mapping.base.advanced(by: 8).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    private func valueAtomic(_ slot: Int) -> UnsafeAtomic<UInt64> {
        let p = mapping.base.advanced(by: Self.headerSize + slot * Self.slotSize + Self.keyCapacity)
        return UnsafeAtomic(at: p.assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    func slot(for key: String) -> Int? {
        lock.withLock { index in
            if let i = index[key] { return i }
            let bytes = Array(key.utf8)
            guard bytes.count < Self.keyCapacity, index.count < Self.capacity else { return nil }
            let i = index.count
            let keyPointer = mapping.base.advanced(by: Self.headerSize + i * Self.slotSize)
            bytes.withUnsafeBytes { keyPointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            keyPointer.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
            valueAtomic(i).store(0, ordering: .relaxed)
            index[key] = i
            usedCount.store(UInt64(i + 1), ordering: .releasing)
            return i
        }
    }

    func add(_ value: Double, to slot: Int) {
        guard slot >= 0, slot < Self.capacity else { return }
        lock.withLock { _ in
            let atomic = valueAtomic(slot)
            let old = Double(bitPattern: atomic.load(ordering: .relaxed))
            atomic.store((old + value).bitPattern, ordering: .relaxed)
        }
    }

    func add(_ updates: [(value: Double, slot: Int)]) {
        lock.withLock { _ in
            for u in updates where u.slot >= 0 && u.slot < Self.capacity {
                let atomic = valueAtomic(u.slot)
                let old = Double(bitPattern: atomic.load(ordering: .relaxed))
                atomic.store((old + u.value).bitPattern, ordering: .relaxed)
            }
        }
    }

    func aggregate() -> [String: Double] {
        var totals: [String: Double] = [:]
        guard let dir = opendir(directory) else { return totals }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(".metrics") else { continue }
            Self.readFile("\(directory)/\(name)", into: &totals)
        }
        return totals
    }

    private static func readFile(_ path: String, into totals: inout [String: Double]) {
        let size = headerSize + capacity * slotSize
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return }
        defer { munmap(p, size) }
        guard p.load(as: UInt64.self) == magic else { return }
        let used = UnsafeAtomic<UInt64>(at: UnsafeMutableRawPointer(p).advanced(by: 8).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
            .load(ordering: .acquiring)
        for i in 0..<min(Int(used), capacity) {
            let slot = UnsafeRawPointer(p).advanced(by: headerSize + i * slotSize)
            let key = String(decoding: UnsafeRawBufferPointer(start: slot, count: keyCapacity).prefix { $0 != 0 }, as: UTF8.self)
            let value = Double(bitPattern: slot.load(fromByteOffset: keyCapacity, as: UInt64.self))
            totals[key, default: 0] += value
        }
    }
}
