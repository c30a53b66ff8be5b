// swift-tools-version:6.1
// A bare WasmKit run loop for scripts/bench: the same engine settings as runwasm, with no
// container around it. Not part of runwasm.
import PackageDescription

let package = Package(
    name: "bench-runner",
    dependencies: [.package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2")],
    targets: [
        .executableTarget(
            name: "bench-runner",
            dependencies: [
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmKitWASI", package: "WasmKit"),
            ])
    ],
    swiftLanguageModes: [.v5]
)
