import KServe

/// The sample model kinds built into `kserve-master`: `echo`, `sleep`, `fp16-output`, `fp16-input`, `broken`,
/// `stream`, `crash`, `transformer` (identity pre/postprocess in front of a remote predictor), `echo-headers`,
/// `standardized-mlp` (Swift preprocessing, then an ONNX network in ONNX Runtime).
public enum SampleKinds {
    /// Registers every sample kind on a server.
    public static func register(on server: ModelServer) {
        server.registerKind("echo") { entry in
            try entry.expectOnly([])
            return EchoModel(name: entry.name)
        }
        server.registerKind("sleep") { entry in
            try entry.expectOnly(["delay_ms"])
            return SleepModel(name: entry.name, delayMilliseconds: try entry.nonNegativeInt("delay_ms", default: 100))
        }
        server.registerKind("fp16-output") { entry in
            try entry.expectOnly([])
            return FP16OutputModel(name: entry.name)
        }
        server.registerKind("fp16-input") { entry in
            try entry.expectOnly([])
            return FP16InputModel(name: entry.name)
        }
        server.registerKind("broken") { entry in
            try entry.expectOnly([])
            return BrokenModel(name: entry.name)
        }
        server.registerKind("crash") { entry in
            try entry.expectOnly([])
            return CrashModel(name: entry.name)
        }
        server.registerKind("transformer") { entry in
            // Identity preprocess / postprocess; the default predict and explain forward to the entry's
            // predictor_host / explainer_host (the server reads those keys before this factory runs).
            try entry.expectOnly([])
            return Model(name: entry.name)
        }
        server.registerKind("echo-headers") { entry in
            try entry.expectOnly([])
            return HeaderEchoModel(name: entry.name)
        }
        server.registerKind("standardized-mlp") { entry in
            try entry.expectOnly(["path", "mean", "std"])
            guard let path = entry.options["path"]?.stringValue, !path.isEmpty else {
                throw entry.optionError("path", "required: the ONNX network's .onnx file")
            }
            let mean = try entry.floats("mean"), std = try entry.floats("std")
            guard mean.count == std.count else { throw entry.optionError("std", "needs as many entries as mean (\(mean.count))") }
            guard std.allSatisfy({ $0 != 0 && $0.isFinite }) else { throw entry.optionError("std", "entries must be finite and non-zero") }
            let base = server.config.baseDirectory
            let absolute = path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base + path : base + "/" + path)
            return StandardizedMLP(name: entry.name, path: absolute, mean: mean, std: std)
        }
        server.registerKind("stream") { entry in
            try entry.expectOnly(["count", "interval_ms"])
            return StreamModel(
                name: entry.name, count: try entry.nonNegativeInt("count", default: 5),
                intervalMilliseconds: try entry.nonNegativeInt("interval_ms", default: 100))
        }
    }
}

extension ModelConfig {
    /// Fails with a ``ConfigError`` naming the first option this kind does not know.
    func expectOnly(_ known: Set<String>) throws {
        for key in options.keys.sorted() where !known.contains(key) {
            let allowed = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
            throw optionError(key, "unknown option for kind \"\(kind)\" (allowed: \(allowed))")
        }
    }

    /// An integer option >= 0, or `fallback` when absent.
    func nonNegativeInt(_ key: String, default fallback: Int) throws -> Int {
        guard let value = options[key] else { return fallback }
        guard let i = value.intValue, i >= 0 else {
            throw optionError(key, "expected a non-negative integer")
        }
        return i
    }
}
