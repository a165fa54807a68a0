/// A failure that keeps the master from starting (or makes it stop): the message says what and what to do.
public struct MasterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, with the path or process involved.
    public var message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
