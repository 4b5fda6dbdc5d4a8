// swift-tools-version: 6.1
import PackageDescription

// Module map: ../shared/ARCHITECTURE.md. Pure cores (BackplaneModel, DirectCardLink) never
// depend on NIOPosix, NIOSSL or anything else that does I/O; the dependency lists below show it.
let package = Package(
    name: "Backplane",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BackplaneModel", targets: ["BackplaneModel"]),
        .library(name: "DirectCardLink", targets: ["DirectCardLink"]),
        .library(name: "DirectCardLinkNIO", targets: ["DirectCardLinkNIO"]),
        .library(name: "ClusterStore", targets: ["ClusterStore"]),
        .library(name: "WorkloadBalancer", targets: ["WorkloadBalancer"]),
        .library(name: "Forecasting", targets: ["Forecasting"]),
        .library(name: "Sharding", targets: ["Sharding"]),
        .library(name: "CardOS", targets: ["CardOS"]),
        .library(name: "BusController", targets: ["BusController"]),
        .library(name: "RedisGateway", targets: ["RedisGateway"]),
        .executable(name: "backplane", targets: ["backplane"]),
        .executable(name: "backplane-bench", targets: ["backplane-bench"]),
        .executable(name: "backplane-shim", targets: ["backplane-shim"]),
        .library(name: "ShardSDK", targets: ["ShardSDK"]),
        .executable(name: "backplane-kv", targets: ["backplane-kv"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        .target(name: "BackplaneModel", exclude: ["README.md"]),
        // CRC32C with the CPU's instruction where it has one (SSE4.2 / ARMv8 CRC), table otherwise.
        .target(name: "CDCLChecksum"),
        // pidfd wrappers (Linux): signals and waits that reach one process, never a reused PID.
        .target(name: "CPidfd"),
        .target(
            name: "DirectCardLink",
            dependencies: [
                "BackplaneModel", "CDCLChecksum", "Sharding",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "DirectCardLinkNIO",
            dependencies: [
                "DirectCardLink", "BackplaneModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),
        // Predictive Model Engine: incremental per-series models and their backtest (pure).
        .target(name: "Forecasting", dependencies: ["BackplaneModel"], exclude: ["README.md"]),
        // Sharding (pure): the shard map (ranges of the key-hash space, epochs, split and merge),
        // shard placement by load, and the migration protocol as a state machine.
        .target(name: "Sharding", exclude: ["README.md"]),
        // AWB: placement decisions over an immutable view of the bus (pure).
        .target(name: "WorkloadBalancer", dependencies: ["BackplaneModel", "Forecasting"], exclude: ["README.md"]),
        // Bus CA, card certificates and TLS contexts (swift-certificates, swift-crypto, NIOSSL).
        .target(name: "BusSecurity", dependencies: [
            "BackplaneModel",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], exclude: ["README.md"]),
        // The shard SDK: what an app that holds shards implements, and its link to the card's
        // shard host (DCL over a Unix socket in its container).
        .target(name: "ShardSDK", dependencies: [
            "BackplaneModel", "DirectCardLink", "DirectCardLinkNIO",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], exclude: ["README.md"]),
        // The reference sharded app: an in-memory key-value store on the shard SDK.
        .target(name: "KeyValueApp", dependencies: ["ShardSDK", "Sharding", "BackplaneModel", "DirectCardLinkNIO", .product(name: "NIOCore", package: "swift-nio")], exclude: ["README.md"]),
        .executableTarget(name: "backplane-kv", dependencies: ["KeyValueApp", "ShardSDK"]),
        // A server speaking a subset of the Redis protocol (RESP2) that hands each key operation
        // to a KeyValueBackend; protocol logic pure (decoder, commands, connection state machine).
        .target(name: "RedisGateway", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], exclude: ["README.md"]),
        // The card agent: inventory, container runtimes (runc, process), later profiler and shard host.
        .target(name: "CardOS", dependencies: [
            "BackplaneModel", "DirectCardLink", "DirectCardLinkNIO", "CPidfd", "BusSecurity", "ShardSDK", "Sharding",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ], exclude: ["README.md"]),
        // The control plane's decisions (pure): card health and leases (phi-accrual detector),
        // adoption of what cards report. No I/O, no clock of its own.
        .target(name: "ControlPlane", dependencies: ["BackplaneModel"]),
        // The BMC: registry, reconciler, plan applier, enumeration, API.
        .target(name: "BusController", dependencies: [
            "BackplaneModel", "ControlPlane", "WorkloadBalancer", "Forecasting", "ClusterStore", "DirectCardLink", "DirectCardLinkNIO", "BusSecurity", "Sharding",
            .product(name: "Subprocess", package: "swift-subprocess"),  // the allocator's provisioner hook
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], exclude: ["README.md"]),
        // The command line, as a library so it is testable; `backplane` is only @main.
        .target(name: "BackplaneCLI", dependencies: [
            "BusController", "CardOS", "ClusterStore", "ControlPlane", "DirectCardLinkNIO", "BackplaneModel", "Forecasting", "WorkloadBalancer", "BusSecurity", "Sharding", "KeyValueApp", "RedisGateway",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], exclude: ["README.md"]),
        // The per-container supervisor: parent of `runc run`, records the exit, enforces the card's
        // lease (fences the container when it lapses) even while the card agent is dead or frozen.
        // Glibc only, so each one costs little memory.
        .executableTarget(name: "backplane-shim"),
        .executableTarget(name: "backplane", dependencies: [
            "BackplaneCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // etcd-shaped store: protocol, in-memory and SQLite (GRDB) backends.
        .target(
            name: "ClusterStore",
            dependencies: ["BackplaneModel", .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "backplane-bench",
            dependencies: [
                "DirectCardLink", "DirectCardLinkNIO", "BackplaneModel", "Forecasting", "WorkloadBalancer", "BusSecurity",
                "BusController", "CardOS", "ClusterStore", "KeyValueApp", "ShardSDK", "Sharding",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "BackplaneModelTests",
            dependencies: ["BackplaneModel", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "DirectCardLinkTests",
            dependencies: [
                "DirectCardLink", "BackplaneModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "WorkloadBalancerTests",
            dependencies: ["WorkloadBalancer", "BackplaneModel"]
        ),
        .testTarget(
            name: "CardOSTests",
            dependencies: ["CardOS", "BackplaneModel"]
        ),
        .testTarget(
            name: "BusControllerTests",
            dependencies: [
                "BusController", "ClusterStore", "WorkloadBalancer", "BackplaneModel", "CardOS", "DirectCardLinkNIO", "BusSecurity", "ShardSDK", "KeyValueApp", "Sharding",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "BackplaneCLITests",
            dependencies: ["BackplaneCLI", "CardOS", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "BusSecurityTests",
            dependencies: ["BusSecurity", "BackplaneModel", "DirectCardLinkNIO", "DirectCardLink",
                           .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        .testTarget(
            name: "ShardSDKTests",
            dependencies: ["ShardSDK", "KeyValueApp", "Sharding", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "ShardingTests",
            dependencies: ["Sharding", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "RedisGatewayTests",
            dependencies: [
                "RedisGateway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: ["ControlPlane", "BackplaneModel", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "ForecastingTests",
            dependencies: ["Forecasting", "BackplaneModel"]
        ),
        .testTarget(
            name: "ClusterStoreTests",
            dependencies: ["ClusterStore", "BackplaneModel"]
        ),
        .testTarget(
            name: "DirectCardLinkNIOTests",
            dependencies: [
                "DirectCardLinkNIO", "DirectCardLink", "BackplaneModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
