/// Why a tree model file could not be loaded or a prediction could not be made.
///
/// Load errors say what is wrong with the file (`truncated UBJSON at byte 1234`, `tree 3: left_children[7] = 99 is
/// out of range`); the serving layer adds the file name. Prediction errors are the caller's fault (wrong feature
/// count, a bad iteration range) and read like a client error.
public struct TreeModelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A human-readable description of the problem.
    public var message: String

    /// Creates an error with a message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
