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
        .target(name: "KServeProtocol", swiftSettings: upcoming),
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
        // One FastCGI worker process: accept loops over libfcgi, request adapter, shared-memory metrics.
        .target(
            name: "KServeWorker",
            dependencies: [
                "KServeModel", "KServeConfig", "CFastCGI", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            exclude: ["GRPC"],  // TEMP until KServeProtobuf lands
            swiftSettings: upcoming),
        // The master: socket, spawning workers by re-exec, nginx rendering and supervision, signals.
        .target(
            name: "KServeMaster",
            dependencies: [
                "KServeConfig", "CSystemShims",
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
        .executableTarget(
            name: "kserve-master",
            dependencies: ["KServe", "KServeSamples"],
            swiftSettings: upcoming),
        // Codec throughput benchmark (make bench-codec), prints MB/s.
        .executableTarget(name: "kserve-codec-bench", dependencies: ["KServeProtocol"], swiftSettings: upcoming),

        .testTarget(name: "KServeProtocolTests", dependencies: ["KServeProtocol"], swiftSettings: upcoming),
        .testTarget(name: "KServeModelTests", dependencies: ["KServeModel", "KServeSamples"], swiftSettings: upcoming),
        .testTarget(name: "KServeConfigTests", dependencies: ["KServeConfig"], swiftSettings: upcoming),
        .testTarget(name: "KServeMasterTests", dependencies: ["KServeMaster", "KServeConfig"], swiftSettings: upcoming),
        .testTarget(name: "KServeWorkerTests", dependencies: ["KServeWorker", "KServeModel"], swiftSettings: upcoming),
    ]
)
