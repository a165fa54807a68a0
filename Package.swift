// swift-tools-version:6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "kserve-swift",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KServe", targets: ["KServe"]),
        .library(name: "KServeONNX", targets: ["KServeONNX"]),
        .executable(name: "kserve-master", targets: ["kserve-master"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // C modules: libfcgi (system library) and the POSIX shims Swift cannot see (posix_spawn closefrom, prctl).
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .target(name: "CSystemShims"),

        // The Open Inference Protocol data model and codecs (JSON, binary extension, v1). No I/O.
        .target(name: "KServeProtocol", swiftSettings: upcoming, linkerSettings: [.linkedLibrary("m")]),
        // The model API (BaseKServeModel, Model), ModelRepository and the transport-free DataPlane + Router.
        .target(
            name: "KServeModel",
            dependencies: ["KServeProtocol", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming),
        // The TOML config and the KServe-compatible command line.
        .target(
            name: "KServeConfig",
            dependencies: [
                "KServeProtocol", "CSystemShims",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        // The pool's shared scoreboard (one slot per worker, pool counters), status page, accept-queue probe.
        .target(
            name: "KServeScoreboard",
            dependencies: ["KServeProtocol", "CSystemShims", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: upcoming),
        // Generated OIP + health protobuf messages (protoc, committed) and the SDK's from_grpc / to_grpc conversions.
        .target(
            name: "KServeProtobuf",
            dependencies: ["KServeProtocol", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"],
            swiftSettings: upcoming),
        // The gRPC process: gRPC over swift-nio-http2 for inference.GRPCInferenceService + grpc.health.v1, relaying
        // every call's message bytes to the workers as a FastCGI client of the same Unix socket (event loops only).
        // The grpc-swift-2 stubs generated here are the clients' (KServeRemote, the bench load generator).
        .target(
            name: "KServeGRPC",
            dependencies: [
                "KServeProtobuf", "KServeProtocol", "KServeConfig", "CSystemShims",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        // A transformer's way out: the pooled client its default predict / explain / readiness use to reach a remote
        // predictor or explainer (AsyncHTTPClient for v1 / v2 REST, a grpc-swift-2 client for grpc-v2).
        .target(
            name: "KServeRemote",
            dependencies: [
                "KServeModel", "KServeProtocol", "KServeProtobuf", "KServeGRPC",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        // One FastCGI worker process: accept loops over libfcgi, request adapter, shared-memory metrics.
        .target(
            name: "KServeWorker",
            dependencies: [
                "KServeModel", "KServeConfig", "KServeScoreboard", "KServeProtobuf", "CFastCGI", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: upcoming),
        // The master: socket, spawning workers by re-exec, nginx rendering and supervision, signals.
        .target(
            name: "KServeMaster",
            dependencies: [
                "KServeConfig", "KServeScoreboard", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        // The SDK users import: ModelServer plus re-exports of the model API and the protocol types.
        .target(
            name: "KServe",
            dependencies: [
                "KServeProtocol", "KServeModel", "KServeConfig", "KServeWorker", "KServeMaster", "KServeGRPC", "KServeRemote",
                "CSystemShims", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        // Our own declarations of the ONNX Runtime C API subset we call, and its dlopen loader (never linked).
        .target(name: "CONNXRuntime"),
        // Kind `onnx` and the SDK's ONNXSession over ONNX Runtime (library found and loaded at run time).
        .target(name: "KServeONNX", dependencies: ["KServe", "KServeConfig", "KServeProtocol", "CONNXRuntime"], swiftSettings: upcoming),
        // Sample model kinds: echo, fp16-output, fp16-input, sleep, broken, ..., standardized-mlp (Swift + ONNX).
        .target(name: "KServeSamples", dependencies: ["KServe", "KServeONNX"], swiftSettings: upcoming),
        // Pure-Swift XGBoost (JSON/UBJ) and LightGBM (text) loaders and bit-exact predictors. No I/O beyond reading the file.
        .target(name: "KServeTrees", swiftSettings: upcoming),
        // Model kinds xgboost and lightgbm (xgbserver / lgbserver equivalents) over KServeTrees.
        .target(name: "KServeTreeModels", dependencies: ["KServe", "KServeTrees"], swiftSettings: upcoming),
        .executableTarget(
            name: "kserve-master",
            dependencies: ["KServe", "KServeSamples", "KServeTreeModels", "KServeONNX"],
            swiftSettings: upcoming),
        // An example of a user's own server: models registered in code, an exception handler, an engine model.
        .executableTarget(name: "kserve-example-server", dependencies: ["KServe"], swiftSettings: upcoming),
        // Codec throughput benchmark (make bench-codec), prints MB/s.
        .executableTarget(name: "kserve-codec-bench", dependencies: ["KServeProtocol"], swiftSettings: upcoming),
        // libFuzzer target for the v2 request decoders and the BYTES decoder (make fuzz); replays files otherwise.
        .executableTarget(name: "kserve-fuzz", dependencies: ["KServeProtocol"], exclude: ["Inputs"], swiftSettings: upcoming),
        // Tree runtime benchmark (Tests/bench/tree_bench.py first): load, 1-row and 1000-row predict vs Python.
        .executableTarget(name: "kserve-tree-bench", dependencies: ["KServeTrees", "KServeProtocol"], swiftSettings: upcoming),

        // gRPC load generator for make bench (fixed concurrency, bounded time and count), prints JSON.
        .executableTarget(
            name: "kserve-grpc-loadgen",
            dependencies: [
                "KServeProtobuf",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: upcoming),

        .testTarget(
            name: "KServeProtobufTests",
            dependencies: ["KServeProtobuf", "KServeProtocol", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: upcoming),
        .testTarget(
            name: "KServeGRPCTests",
            dependencies: [
                "KServeGRPC", "KServeProtobuf", "KServeProtocol",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: upcoming),
        .testTarget(name: "KServeProtocolTests", dependencies: ["KServeProtocol"], swiftSettings: upcoming),
        .testTarget(
            name: "KServeRemoteTests", dependencies: ["KServeRemote", "KServeModel", "KServeProtocol"],
            swiftSettings: upcoming),
        .testTarget(name: "KServeModelTests", dependencies: ["KServeModel", "KServeSamples"], swiftSettings: upcoming),
        .testTarget(name: "KServeConfigTests", dependencies: ["KServeConfig"], swiftSettings: upcoming),
        .testTarget(name: "KServeMasterTests", dependencies: ["KServeMaster", "KServeConfig"], swiftSettings: upcoming),
        .testTarget(name: "KServeScoreboardTests", dependencies: ["KServeScoreboard"], swiftSettings: upcoming),
        .testTarget(
            name: "KServeWorkerTests",
            dependencies: [
                "KServeWorker", "KServeModel", "KServeProtobuf", "CFastCGI",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "KServeONNXTests", dependencies: ["KServeONNX", "KServeProtocol", "KServe"], exclude: ["Fixtures"],
            swiftSettings: upcoming),
        .testTarget(
            name: "KServeTreesTests", dependencies: ["KServeTrees", "KServeProtocol"], exclude: ["Fixtures"],
            swiftSettings: upcoming),
    ]
)
