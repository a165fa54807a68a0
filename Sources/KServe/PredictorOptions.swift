import KServeConfig
import KServeModel

/// The `[[models]]` keys that configure forwarding to a remote predictor or explainer (any kind whose model is a
/// ``Model``). They are read, validated and removed from the entry before the kind's factory sees its options.
enum PredictorOptions {
    static let keys: Set<String> = [
        "predictor_host", "predictor_protocol", "predictor_use_ssl", "predictor_request_timeout_seconds",
        "predictor_request_retries", "enable_predictor_health_check", "predictor_health_check_timeout_seconds",
        "predictor_health_check_cache_seconds", "explainer_host",
    ]

    /// Reads and removes the predictor keys of `entry`; `nil` when it has none.
    /// - Throws: ``ConfigError`` naming the file, the model and the key for a bad value.
    static func extract(from entry: inout ModelConfig) throws -> PredictorConfig? {
        let present = entry.options.keys.filter { keys.contains($0) }
        guard !present.isEmpty else { return nil }
        var config = PredictorConfig()
        let options = entry.options
        for key in present { entry.options[key] = nil }

        func host(_ key: String) throws -> String? {
            guard let value = options[key] else { return nil }
            guard let text = value.stringValue else { throw entry.optionError(key, "expected a string host[:port]") }
            let trimmed = text.trimmingSpaces
            if trimmed.isEmpty { return nil }  // KServe's default: not set
            if trimmed.contains("://") {
                throw entry.optionError(
                    key, "expected host[:port] without a scheme, got \(quotedText(trimmed)) (use predictor_use_ssl for https)")
            }
            if trimmed.contains(where: { $0 == "/" || $0 == " " || $0 == "?" || $0 == "#" }) {
                throw entry.optionError(key, "expected host[:port], got \(quotedText(trimmed))")
            }
            return trimmed
        }
        func bool(_ key: String) throws -> Bool? {
            guard let value = options[key] else { return nil }
            guard let b = value.boolValue else { throw entry.optionError(key, "expected true or false") }
            return b
        }
        func seconds(_ key: String, allowZero: Bool) throws -> Double? {
            guard let value = options[key] else { return nil }
            guard let s = value.doubleValue, s.isFinite, allowZero ? s >= 0 : s > 0, s <= 86_400 * 7 else {
                throw entry.optionError(key, "expected a number of seconds \(allowZero ? ">= 0" : "> 0") (at most a week)")
            }
            return s
        }

        config.predictorHost = try host("predictor_host")
        config.explainerHost = try host("explainer_host")
        if let value = options["predictor_protocol"] {
            guard let text = value.stringValue, let p = PredictorProtocol(rawValue: text) else {
                throw entry.optionError(
                    "predictor_protocol",
                    "expected one of " + PredictorProtocol.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
            }
            config.predictorProtocol = p
        }
        if let b = try bool("predictor_use_ssl") { config.useSSL = b }
        if let b = try bool("enable_predictor_health_check") { config.enableHealthCheck = b }
        if let s = try seconds("predictor_request_timeout_seconds", allowZero: false) { config.requestTimeoutSeconds = s }
        if let s = try seconds("predictor_health_check_timeout_seconds", allowZero: false) {
            config.healthCheckTimeoutSeconds = s
        }
        if let s = try seconds("predictor_health_check_cache_seconds", allowZero: true) { config.healthCheckCacheSeconds = s }
        if let value = options["predictor_request_retries"] {
            guard let n = value.intValue, (0...100).contains(n) else {
                throw entry.optionError("predictor_request_retries", "expected an integer from 0 to 100")
            }
            config.requestRetries = n
        }
        return config
    }
}

private func quotedText(_ s: String) -> String { "\"\(s)\"" }

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
