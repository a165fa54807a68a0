import KServeProtocol

/// Storage for monotonically increasing sample values, addressed by slot.
///
/// The worker implements it in shared memory so that a scrape from any worker sums every worker's samples
/// (KServe's metrics are per process: kserve/kserve#2979). ``InMemoryCounterStorage`` serves a single process.
public protocol CounterStorage: Sendable {
    /// The slot of a series key (a full Prometheus series such as `x_total{model_name="m"}`), allocating it.
    /// `nil` when the storage is full.
    func slot(for key: String) -> Int?
    /// Adds `value` to a slot.
    func add(_ value: Double, to slot: Int)
    /// Every series key and its value summed over all processes sharing the storage.
    func aggregate() -> [String: Double]
    /// Adds several values at once (one lock round trip for a whole histogram observation).
    func add(_ updates: [(value: Double, slot: Int)])
}

extension CounterStorage {
    public func add(_ updates: [(value: Double, slot: Int)]) {
        for u in updates where u.slot >= 0 { add(u.value, to: u.slot) }
    }
}

/// A process-local ``CounterStorage``.
public final class InMemoryCounterStorage: CounterStorage {
    private struct State: Sendable {
        var index: [String: Int] = [:]
        var keys: [String] = []
        var values: [Double] = []
    }
    private let state = Locked(State())
    public init() {}
    public func slot(for key: String) -> Int? {
        state.withLock { s in
            if let i = s.index[key] { return i }
            s.index[key] = s.keys.count
            s.keys.append(key)
            s.values.append(0)
            return s.keys.count - 1
        }
    }
    public func add(_ value: Double, to slot: Int) {
        state.withLock { s in if slot < s.values.count { s.values[slot] += value } }
    }
    public func aggregate() -> [String: Double] {
        state.withLock { s in Dictionary(uniqueKeysWithValues: zip(s.keys, s.values)) }
    }
}

/// KServe's metrics (`request_{preprocess,predict,postprocess,explain}_seconds` histograms by `model_name`),
/// request counters by model and status, and the counters behind Triton's `/stats`, over a ``CounterStorage``.
public final class ServerMetrics: ModelObserver {
    /// Histogram bucket bounds (KServe's defaults: prometheus_client's 0.005 ... 10).
    public static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
    static let histograms: [(name: String, help: String)] = [
        ("request_preprocess_seconds", "pre-process request latency"),
        ("request_predict_seconds", "predict request latency"),
        ("request_postprocess_seconds", "post-process request latency"),
        ("request_explain_seconds", "explain request latency"),
    ]
    static let requestsName = "kserve_requests_total"
    static let statsPrefix = "kserve_stats_"

    private struct HistogramSlots: Sendable { var buckets: [Int]; var sum: Int; var count: Int }
    private let storage: any CounterStorage
    private let slotCache = Locked<[String: [Int]]>([:])
    private let histogramCache = Locked<[String: HistogramSlots]>([:])
    private let expositions = Locked<[@Sendable () -> String]>([])

    /// Adds text (complete `# HELP`/`# TYPE`/sample lines) appended to every ``renderPrometheus()``, e.g. the
    /// worker pool's gauges from the scoreboard.
    public func addExposition(_ render: @escaping @Sendable () -> String) {
        expositions.withLock { $0.append(render) }
    }

    public init(storage: any CounterStorage) {
        self.storage = storage
    }

    /// The slots of a group of series, looked up by a cheap cache key; the series keys are built only once.
    private func slots(_ cacheKey: String, _ keys: () -> [String]) -> [Int] {
        if let s = slotCache.withLock({ $0[cacheKey] }) { return s }
        let s = keys().map { storage.slot(for: $0) ?? -1 }
        slotCache.withLock { $0[cacheKey] = s }
        return s
    }

    private func histogram(_ name: String, model: String) -> HistogramSlots {
        let cacheKey = name + "\u{0}" + model
        if let h = histogramCache.withLock({ $0[cacheKey] }) { return h }
        let label = "model_name=\"\(escapeLabel(model))\""
        let bucketKeys = Self.buckets.map { "\(name)_bucket{\(label),le=\"\(formatBound($0))\"}" } + ["\(name)_bucket{\(label),le=\"+Inf\"}"]
        let all = slots("h\u{0}" + cacheKey) { bucketKeys + ["\(name)_sum{\(label)}", "\(name)_count{\(label)}"] }
        let h = HistogramSlots(buckets: Array(all.prefix(bucketKeys.count)), sum: all[bucketKeys.count], count: all[bucketKeys.count + 1])
        histogramCache.withLock { $0[cacheKey] = h }
        return h
    }

    private func observe(_ name: String, model: String, seconds: Double) {
        let h = histogram(name, model: model)
        var updates: [(value: Double, slot: Int)] = []
        updates.reserveCapacity(3)
        // One bucket per observation (the first bound it is under, else +Inf), as prometheus_client stores them;
        // the exposition adds them up into Prometheus' cumulative buckets.
        let i = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
        updates.append((1, h.buckets[i]))
        updates.append((seconds, h.sum))
        updates.append((1, h.count))
        storage.add(updates)
    }

    @inline(__always) private func add(_ v: Double, _ slot: Int) { if slot >= 0 { storage.add(v, to: slot) } }

    /// Records one call's phases (``ModelObserver``).
    public func record(model: String, timings: PhaseTimings, verb: InferenceVerb, requestID: String?) {
        observe("request_preprocess_seconds", model: model, seconds: timings.preprocess)
        if verb == .explain {
            observe("request_explain_seconds", model: model, seconds: timings.explain)
        } else {
            observe("request_predict_seconds", model: model, seconds: timings.predict)
        }
        observe("request_postprocess_seconds", model: model, seconds: timings.postprocess)
        let s = slots("c\u{0}" + model) {
            let label = "{model_name=\"\(escapeLabel(model))\"}"
            return [
                "\(Self.statsPrefix)compute_input_ns\(label)", "\(Self.statsPrefix)compute_infer_ns\(label)",
                "\(Self.statsPrefix)compute_output_ns\(label)", "\(Self.statsPrefix)execution_count\(label)",
            ]
        }
        add((timings.preprocess * 1e9).rounded(), s[0])
        add(((timings.predict + timings.explain) * 1e9).rounded(), s[1])
        add((timings.postprocess * 1e9).rounded(), s[2])
        add(1, s[3])
    }

    /// Counts one finished inference request (any verb) by model and HTTP status, with its duration.
    public func recordRequest(model: String, status: Int, seconds: Double) {
        let s = slots("r\u{0}\(status)\u{0}" + model) {
            let ml = "model_name=\"\(escapeLabel(model))\""
            let outcome = status < 400 ? "success" : "fail"
            return [
                "\(Self.requestsName){\(ml),status=\"\(status)\"}",
                "\(Self.statsPrefix)\(outcome)_count{\(ml)}", "\(Self.statsPrefix)\(outcome)_ns{\(ml)}",
            ]
        }
        add(1, s[0])
        add(1, s[1])
        add((seconds * 1e9).rounded(), s[2])
    }

    /// The Prometheus text exposition of every series, summed over all workers.
    public func renderPrometheus() -> String {
        let all = storage.aggregate()
        var out = ""
        for (name, help) in Self.histograms {
            let series = all.filter { $0.key.hasPrefix(name + "_") }
            guard !series.isEmpty else { continue }
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            // Group by label set (model), buckets ascending, then sum and count.
            var byModel: [String: [(String, Double)]] = [:]
            for (k, v) in series {
                let model = labelValue(k, "model_name") ?? ""
                byModel[model, default: []].append((k, v))
            }
            for model in byModel.keys.sorted() {
                let rows = byModel[model] ?? []
                let buckets = rows.filter { $0.0.hasPrefix(name + "_bucket") }.sorted { bucketOrder($0.0) < bucketOrder($1.0) }
                var cumulative = 0.0
                for (k, v) in buckets {
                    cumulative += v
                    out += "\(k) \(formatValue(cumulative))\n"
                }
                for suffix in ["_sum", "_count"] {
                    for (k, v) in rows where k.hasPrefix(name + suffix + "{") { out += "\(k) \(formatValue(v))\n" }
                }
            }
        }
        let requests = all.filter { $0.key.hasPrefix(Self.requestsName + "{") }
        if !requests.isEmpty {
            out += "# HELP \(Self.requestsName) inference requests by model and HTTP status\n# TYPE \(Self.requestsName) counter\n"
            for k in requests.keys.sorted() { out += "\(k) \(formatValue(requests[k] ?? 0))\n" }
        }
        for render in expositions.withLock({ $0 }) { out += render() }
        return out
    }

    /// Triton-style statistics for one model (`/v2/models/{m}/stats`), summed over all workers.
    public func statistics(model: String, version: String) -> JSONValue {
        let all = storage.aggregate()
        let label = "{model_name=\"\(escapeLabel(model))\"}"
        func v(_ name: String) -> Int64 { Int64(all["\(Self.statsPrefix)\(name)\(label)"] ?? 0) }
        func stat(_ count: Int64, _ ns: Int64) -> JSONValue { .object(["count": .int(count), "ns": .int(ns)]) }
        let success = v("success_count"), execution = v("execution_count")
        return .object(JSONObject([
            ("name", .string(model)), ("version", .string(version)),
            ("last_inference", .int(0)),
            ("inference_count", .int(success)), ("execution_count", .int(execution)),
            ("inference_stats", .object(JSONObject([
                ("success", stat(success, v("success_ns"))),
                ("fail", stat(v("fail_count"), v("fail_ns"))),
                ("queue", stat(success, 0)),
                ("compute_input", stat(execution, v("compute_input_ns"))),
                ("compute_infer", stat(execution, v("compute_infer_ns"))),
                ("compute_output", stat(execution, v("compute_output_ns"))),
                ("cache_hit", stat(0, 0)), ("cache_miss", stat(0, 0)),
            ]))),
            ("batch_stats", .array([])),
        ]))
    }
}

func escapeLabel(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        default: out.append(c)
        }
    }
    return out
}

func labelValue(_ key: String, _ label: String) -> String? {
    guard let r = key.firstRange(of: label + "=\"") else { return nil }
    var value = ""
    var escaped = false
    for c in key[r.upperBound...] {
        if escaped { value.append(c); escaped = false; continue }
        if c == "\\" { escaped = true; continue }
        if c == "\"" { break }
        value.append(c)
    }
    return value
}

private func bucketOrder(_ key: String) -> Double {
    guard let le = labelValue(key, "le") else { return .infinity }
    return le == "+Inf" ? .infinity : (Double(le) ?? .infinity)
}

private func formatBound(_ v: Double) -> String { "\(v)" }

private func formatValue(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) + ".0" }
    return "\(v)"
}
