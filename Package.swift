// swift-tools-version: 6.2
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "xapi-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "xapi-server", targets: ["xapi-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Layer 0: xenstored — knows nothing above it.
        .target(
            name: "Xenstore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming
        ),
        // Layer 0: the bytes of text wire formats — byte sinks, number and string spelling, and
        // the one JSON tree and writer (the codecs' JSON and Xenops' diagnostics alike).
        .target(name: "Wire", swiftSettings: upcoming),
        // Layer 0: the server's clock and its one timer service, injectable for tests.
        .target(name: "Timing", swiftSettings: upcoming),
        // Layer 1: xenopsd — drives simulated domains through Xenstore.
        .target(
            name: "Xenops",
            dependencies: [
                "Xenstore", "Timing", "Wire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming
        ),
        // Layer 1½: the simulated machine below Xenops (domains, dom0 backends, guests), behind
        // Xenops' `Hypervisor` protocol, so another backend or another host plugs in the same way.
        .target(
            name: "Simulator",
            dependencies: [
                "Xenops", "Xenstore", "Timing",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        // Layer 1: the object database — datamodel, values, generations, events, persistence.
        .target(
            name: "XapiDB",
            dependencies: [
                "Timing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: upcoming
        ),
        // Layer 1: the XenAPI's wire formats, both directions: XML-RPC and JSON(-RPC) ↔ `Value`.
        .target(
            name: "Codec",
            dependencies: ["XapiDB", "Wire"],
            swiftSettings: upcoming
        ),
        // Layer 2: the XenAPI itself, over XapiDB and Xenops.
        .target(
            name: "Xapi",
            dependencies: [
                "XapiDB", "Xenops", "Codec", "Timing", "Wire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming
        ),
        // Layer 3: HTTP, wire codecs, routing to Xapi.
        .target(
            name: "RPCServer",
            dependencies: [
                "Xapi", "XapiDB", "Codec", "Wire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "xapi-server",
            dependencies: [
                "RPCServer", "Xapi", "XapiDB", "Xenops", "Simulator", "Xenstore", "Wire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        // Benchmarks (run with -c release); see BENCHMARKS.md.
        .executableTarget(
            name: "codec-bench",
            dependencies: ["Codec", "XapiDB"],
            path: "bench/codec",
            swiftSettings: upcoming
        ),
        // The RPC path without HTTP (decode, dispatch, record, encode), in process.
        .executableTarget(
            name: "rpc-path-bench",
            dependencies: ["RPCServer", "Xapi", "XapiDB", .product(name: "Logging", package: "swift-log")],
            path: "bench/rpc/path",
            swiftSettings: upcoming
        ),
        // xenstored alone on a unix socket (tests, benchmarks against C xenstored).
        .executableTarget(
            name: "xenstored",
            dependencies: [
                "Xenstore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        // bench/xenops: Updates.get cost and signal throughput of the engine.
        .executableTarget(
            name: "xenops-bench",
            dependencies: ["Xenops", "Simulator", "Xenstore", .product(name: "Logging", package: "swift-log")],
            path: "bench/xenops/XenopsBench",
            swiftSettings: upcoming
        ),
        // Benchmark client for bench/xenstore: raw sockets only, so it measures the server.
        .executableTarget(name: "xenstore-bench", path: "bench/xenstore/client", swiftSettings: upcoming),
        .testTarget(
            name: "XenstoreTests",
            dependencies: ["Xenstore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: upcoming
        ),
        .testTarget(name: "XenopsTests", dependencies: ["Xenops", "Simulator", "Xenstore", "Timing", "Wire"], swiftSettings: upcoming),
        .testTarget(name: "XapiDBTests", dependencies: ["XapiDB", "Timing"], swiftSettings: upcoming),
        .testTarget(name: "TimingTests", dependencies: ["Timing"], swiftSettings: upcoming),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "XapiDB", "Wire"], swiftSettings: upcoming),
        .testTarget(name: "XapiTests", dependencies: ["Xapi", "Xenops", "Simulator", "Xenstore", "Timing", "Wire"], swiftSettings: upcoming),
        .testTarget(
            name: "RPCServerTests",
            dependencies: [
                "RPCServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        // The stack's ceiling for bench/rpc: a bare NIO server answering a fixed 200.
        .executableTarget(
            name: "http-ceiling",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "bench/http-ceiling",
            swiftSettings: upcoming
        ),
        // Load generator for bench/events and bench/e2e.
        .executableTarget(
            name: "xapi-load",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/load",
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)
