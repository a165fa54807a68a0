/// A configuration or command-line error that stops the server from starting.
///
/// The ``description`` names the file (or `command line`), the key and the problem, for example
/// `conf/kserve.conf: [server] workers: expected a positive integer, got "two"`.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The config file as the user named it, or `"command line"`; `nil` when there is no source to name.
    public var file: String?
    /// The key, with its section: `[server] workers`, `[[models]] #2 ("sleep") delay_ms`, `--http_port`.
    public var key: String?
    /// What is wrong, and what was expected.
    public var reason: String

    /// Creates an error.
    /// - Parameters:
    ///   - file: The config file as the user named it, or `"command line"`.
    ///   - key: The key with its section.
    ///   - reason: What is wrong.
    public init(file: String? = nil, key: String? = nil, reason: String) {
        self.file = file
        self.key = key
        self.reason = reason
    }

    /// `file: key: reason`, leaving out the parts that are `nil`.
    public var description: String {
        [file, key, reason].compactMap { $0 }.joined(separator: ": ")
    }
}
