// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "runwasm",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "runwasm", targets: ["runwasm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
    ],
    targets: [
        // CLI: @main and argument parsing only.
        .executableTarget(
            name: "runwasm",
            dependencies: [
                "Runtime", "OCI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Codable runtime-spec types and the validated plan: pure data.
        .target(name: "OCI"),
        // Lifecycle: state store, locking, hooks, logging, verbs.
        .target(
            name: "Runtime",
            dependencies: ["OCI", "Sandbox", "WasmHost", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Linux confinement: namespaces, mounts, pivot_root, console.
        .target(name: "Sandbox", dependencies: ["OCI", "CSandbox"]),
        // The few calls Swift must not or cannot make itself.
        .target(
            name: "CSandbox",
            linkerSettings: [.linkedLibrary("seccomp"), .linkedLibrary("cap")]
        ),
        // WasmKit + WASI: load, validate, instantiate, run.
        .target(
            name: "WasmHost",
            dependencies: [
                "CSandbox",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmParser", package: "WasmKit"),
                .product(name: "WasmKitWASI", package: "WasmKit"),
            ]
        ),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "WasmHost"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "OCI", "CSandbox",
                .product(name: "WAT", package: "WasmKit"),
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
