// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Descent",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Core", targets: ["Core"]),
        .library(name: "Wire", targets: ["Wire"]),
        .executable(name: "coordinator", targets: ["Coordinator"]),
        .executable(name: "worker", targets: ["Worker"]),
        .executable(name: "descent-bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: Libraries
        .target(
            name: "Core",
            dependencies: ["CBLAS", "CElementary", "CGather", "CZlib"]
        ),
        .target(
            name: "Wire",
            dependencies: ["Core", "CZeroMQ", "CCRC32C", "CSharedMemory"]
        ),

        // MARK: Executables
        .executableTarget(
            name: "Coordinator",
            dependencies: [
                "Core", "Wire", "CSharedMemory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "Worker",
            dependencies: [
                "Core", "Wire", "CSharedMemory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "Core", "CBLAS", "CSharedMemory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: C shims
        .target(name: "CCRC32C"),
        // Optimised even in debug builds so that the exhaustive tests run in seconds; no
        // contraction into FMA, so that no host computes other bits.
        .target(name: "CElementary", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),
        .target(name: "CGather"),
        .target(name: "CSharedMemory"),
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // MARK: Tests
        .testTarget(name: "CoreTests", dependencies: ["Core", "CElementaryCheck"]),
        // The exhaustive checks' loop, optimised even in debug builds so that they take seconds.
        .target(
            name: "CElementaryCheck",
            dependencies: ["CElementary"],
            path: "Tests/CElementaryCheck",
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Core", "CSharedMemory"]),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: ["Coordinator", "Core", "Wire", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "RoleTests",
            dependencies: ["Coordinator", "Worker", "Core", "Wire", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["Core"], exclude: ["Reference"]),
    ]
)
