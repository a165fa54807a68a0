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
        .executable(name: "kserve-master", targets: ["kserve-master"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
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
                "KServeProtocol",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        // The pool's shared scoreboard (one slot per worker, pool counters), status page, accept-queue probe.
        .target(
            name: "KServeScoreboard",
            dependencies: ["KServeProtocol", "CSystemShims", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: upcoming),
        // One FastCGI worker process: accept loops over libfcgi, request adapter, shared-memory metrics.
        .target(
            name: "KServeWorker",
            dependencies: [
                "KServeModel", "KServeConfig", "KServeScoreboard", "CFastCGI", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            exclude: ["GRPC"],  // TEMP until KServeProtobuf lands
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
            dependencies: ["KServeProtocol", "KServeModel", "KServeConfig", "KServeWorker", "KServeMaster"],
            swiftSettings: upcoming),
        // Sample model kinds: echo, fp16-output, fp16-input, sleep, broken.
        .target(name: "KServeSamples", dependencies: ["KServe"], swiftSettings: upcoming),
        // Pure-Swift XGBoost (JSON/UBJ) and LightGBM (text) loaders and bit-exact predictors. No I/O beyond reading the file.
        .target(name: "KServeTrees", swiftSettings: upcoming),
        // Model kinds xgboost and lightgbm (xgbserver / lgbserver equivalents) over KServeTrees.
        .target(name: "KServeTreeModels", dependencies: ["KServe", "KServeTrees"], swiftSettings: upcoming),
        .executableTarget(
            name: "kserve-master",
            dependencies: ["KServe", "KServeSamples", "KServeTreeModels"],
            swiftSettings: upcoming),
        // Codec throughput benchmark (make bench-codec), prints MB/s.
        .executableTarget(name: "kserve-codec-bench", dependencies: ["KServeProtocol"], swiftSettings: upcoming),
        // libFuzzer target for the v2 request decoders and the BYTES decoder (make fuzz); replays files otherwise.
        .executableTarget(name: "kserve-fuzz", dependencies: ["KServeProtocol"], exclude: ["Inputs"], swiftSettings: upcoming),
        // Tree runtime benchmark (Tests/bench/tree_bench.py first): load, 1-row and 1000-row predict vs Python.
        .executableTarget(name: "kserve-tree-bench", dependencies: ["KServeTrees", "KServeProtocol"], swiftSettings: upcoming),

        .testTarget(name: "KServeProtocolTests", dependencies: ["KServeProtocol"], swiftSettings: upcoming),
        .testTarget(name: "KServeModelTests", dependencies: ["KServeModel", "KServeSamples"], swiftSettings: upcoming),
        .testTarget(name: "KServeConfigTests", dependencies: ["KServeConfig"], swiftSettings: upcoming),
        .testTarget(name: "KServeMasterTests", dependencies: ["KServeMaster", "KServeConfig"], swiftSettings: upcoming),
        .testTarget(name: "KServeScoreboardTests", dependencies: ["KServeScoreboard"], swiftSettings: upcoming),
        .testTarget(name: "KServeWorkerTests", dependencies: ["KServeWorker", "KServeModel"], swiftSettings: upcoming),
        .testTarget(
            name: "KServeTreesTests", dependencies: ["KServeTrees", "KServeProtocol"], exclude: ["Fixtures"],
            swiftSettings: upcoming),
    ]
)
