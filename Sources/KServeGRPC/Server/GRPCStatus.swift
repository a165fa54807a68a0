import KServeProtobuf

/// A gRPC status code (grpc/doc/statuscodes.md). This server never answers UNKNOWN.
enum GRPCCode: Int, Sendable, CaseIterable {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case internalError = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    /// The name gRPC's own libraries print (`NOT_FOUND`), as the default access line shows it.
    var name: String { GRPCWireContract.statusName(rawValue) }
}

/// The outcome of a call that did not succeed: its code and the message the client reads (`grpc-message`).
struct GRPCStatus: Error, Sendable, CustomStringConvertible {
    var code: GRPCCode
    var message: String

    init(_ code: GRPCCode, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { "\(code.name): \(message)" }

    /// `grpc-message` as the gRPC spec encodes it (percent-encoded UTF-8).
    var encodedMessage: String { GRPCWireContract.encodeMessage(message) }
}

/// A `grpc-timeout` value (`<1-8 digits><unit>`, unit one of H M S m u n), or `nil` when it is not one.
func grpcTimeout(_ text: String) -> Duration? { GRPCWireContract.timeout(text) }
