public import KServeProtocol

/// One `[[models]]` entry of the config file.
///
/// ```toml
/// [[models]]
/// name = "sleep"
/// kind = "sleep"        # which built-in or registered model kind serves it
/// version = "1"         # optional, default "1"
/// delay_ms = 100        # anything else is a kind-specific option
/// inputs = [{ name = "input-0", datatype = "FP32", shape = [-1, 16] }]
/// ```
public struct ModelConfig: Sendable, Hashable {
    /// The model name used in the routes (`/v2/models/{name}`).
    public var name: String
    /// The model kind (`echo`, `sleep`, a user-registered kind, ...).
    public var kind: String
    /// The version served by `/v2/models/{name}/versions/{version}/...`; default `"1"`.
    public var version: String
    /// Declared input metadata (`GET /v2/models/{name}`), or `nil` to let the model provide it.
    public var inputs: [TensorMetadata]?
    /// Declared output metadata, or `nil` to let the model provide it.
    public var outputs: [TensorMetadata]?
    /// Every other key of the entry, for the model kind to validate (`delay_ms`, `path`, ...).
    public var options: [String: ConfigValue]
    /// The config file as the user named it, for ``optionError(_:_:)``; `nil` for models built in code.
    public var sourceFile: String?

    /// Creates a model entry.
    public init(
        name: String, kind: String, version: String = "1", inputs: [TensorMetadata]? = nil,
        outputs: [TensorMetadata]? = nil, options: [String: ConfigValue] = [:], sourceFile: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.version = version
        self.inputs = inputs
        self.outputs = outputs
        self.options = options
        self.sourceFile = sourceFile
    }

    /// An error about one of this model's options that names the file, the model and the key, for model kinds
    /// that validate their options: `conf/kserve.conf: [[models]] "sleep" delay_ms: expected ...`.
    /// - Parameters:
    ///   - key: The option key.
    ///   - reason: What is wrong.
    public func optionError(_ key: String, _ reason: String) -> ConfigError {
        ConfigError(file: sourceFile, key: "[[models]] \(quoted(name)) \(key)", reason: reason)
    }
}
