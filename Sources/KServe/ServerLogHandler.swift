import Glibc
import KServeModel
import Logging

/// The log handler of every server process: swift-log's `StreamLogHandler` line format
/// (`2026-11-26T02:21:28+0000 info kserve.worker: pid=6928 worker=1 [KServeWorker] model m loaded`), written to
/// standard error (the log file the master opened) through ``KServeModel/LogSink``: whole lines, so lines from the
/// processes of the pool never interleave; a worker's routine lines are written in batches while it is busy.
///
/// It is built for two lines per request (the access line and KServe's latency line): the logger's own metadata is
/// rendered once when it is set, not sorted and joined again on every line, and the timestamp text is reused for the
/// whole second instead of calling `localtime_r` + `strftime` per line.
struct ServerLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadataProvider: Logger.MetadataProvider?
    var metadata: Logger.Metadata {
        didSet { renderedMetadata = Self.render(metadata) }
    }
    private var renderedMetadata = ""

    init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.metadata = [:]
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        let provided = metadataProvider?.get() ?? [:]
        let pretty: String
        if (explicit?.isEmpty ?? true) && provided.isEmpty {
            pretty = renderedMetadata
        } else {
            var merged = metadata
            merged.merge(provided) { _, new in new }
            if let explicit { merged.merge(explicit) { _, new in new } }
            pretty = Self.render(merged)
        }
        var text = LogTimestamp.now()
        text.reserveCapacity(text.utf8.count + label.utf8.count + pretty.utf8.count + source.utf8.count + 64)
        text += " "
        text += level.rawValue
        text += " "
        text += label
        text += ":"
        if !pretty.isEmpty {
            text += " "
            text += pretty
        }
        text += " ["
        text += source
        text += "] "
        text += message.description
        text += "\n"
        LogSink.write(Array(text.utf8), routine: level <= .info)
    }

    /// `key=value` pairs sorted by key, as `StreamLogHandler` prints them.
    static func render(_ metadata: Logger.Metadata) -> String {
        metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

/// The local-time timestamp of log lines (`%Y-%m-%dT%H:%M:%S%z`), formatted once per second.
enum LogTimestamp {
    private static let cache = Locked<(second: Int, text: String)>((-1, ""))

    static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        let second = ts.tv_sec
        if let hit = cache.withLock({ $0.second == second ? $0.text : nil }) { return hit }
        var t = time_t(second)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        cache.withLock { $0 = (second, text) }
        return text
    }
}
