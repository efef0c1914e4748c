// swift-tools-version:6.1
import PackageDescription
import Foundation

// The hot modules need the host's vector ISA: without `-target-cpu`,
// SIMD16<Float>.addingProduct lowers to a libm `fmaf` call (~80x slower).
// MAKEMORE_TARGET_CPU overrides it for cross builds (e.g. skylake-avx512).
let targetCPU = ProcessInfo.processInfo.environment["MAKEMORE_TARGET_CPU"] ?? "native"
let hotFlags: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", targetCPU]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

// MAKEMORE_MPI=1 adds the Open MPI backend (needs libopenmpi-dev): the
// `CMPI` system library, the `MPIBackend` target and, in `makemore`, the
// MAKEMORE_MPI define that lets `train` run as one rank of mpirun. Without
// it nothing about MPI is compiled and Open MPI need not be installed.
// Build it apart from the normal build: `make build-mpi`.
let mpi = ProcessInfo.processInfo.environment["MAKEMORE_MPI"].map { $0 == "1" || $0 == "yes" } ?? false
let mpiTargets: [Target] = !mpi ? [] : [
    .systemLibrary(
        name: "CMPI",
        pkgConfig: "ompi-c",
        providers: [.apt(["libopenmpi-dev"])]
    ),
    .target(name: "MPIBackend", dependencies: ["CMPI", "Makemore", "Parallel"], swiftSettings: hotFlags),
]

let package = Package(
    name: "makemore-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "makemore", targets: ["makemore"]),
        // For bench/kernels, the kernel micro-benchmarks (a separate package, so the
        // main build and CI never compile a benchmark framework).
        .library(name: "Kernels", targets: ["Kernels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CNuma",
            pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]
        ),
        .target(name: "_KernelsShim"),
        .target(name: "Kernels", dependencies: ["_KernelsShim"], swiftSettings: hotFlags),
        .target(name: "Parallel", dependencies: ["CNuma"], swiftSettings: hotFlags),
        .target(
            name: "Makemore",
            dependencies: [
                "Kernels", "Parallel",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: hotFlags
        ),
        .executableTarget(
            name: "makemore",
            dependencies: [
                "Makemore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + (mpi ? ["MPIBackend"] : []),
            swiftSettings: hotFlags + (mpi ? [.define("MAKEMORE_MPI")] : [])
        ),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: hotFlags),
        .testTarget(name: "ParallelTests", dependencies: ["Parallel"], swiftSettings: hotFlags),
        .testTarget(
            name: "MakemoreTests",
            dependencies: ["Makemore"],
            swiftSettings: hotFlags
        ),
    ] + mpiTargets,
    swiftLanguageModes: [.v5]
)
