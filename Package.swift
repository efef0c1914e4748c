// swift-tools-version:6.1
import PackageDescription
import Foundation

// Build flags by what a module does.
//
// The hot modules (the kernels and the step engine) build with -Ounchecked
// and a fixed vector ISA: without -target-cpu, SIMD16<Float>.addingProduct
// lowers to a libm `fmaf` call (~80x slower). The kernels are built twice,
// for AVX2 + FMA (`haswell`: every x86-64 server of the last decade) and for
// AVX-512 (`skylake-avx512`: the subset Intel since Skylake-SP and AMD since
// Zen 4 share), and the engine picks one at run time, so one binary runs on
// any of them at full width (see Sources/Engine/KernelSet.swift).
//
// Everything else (files, config, the command line, MPI, the pool) builds
// at -O for baseline x86-64 and keeps its bounds checks and preconditions;
// the CLI checks the CPU before it runs any AVX code.
func hot(_ cpu: String) -> [SwiftSetting] {
    [.unsafeFlags(["-target-cpu", cpu]), .unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
}
let avx2 = hot("haswell")
let avx512 = hot("skylake-avx512")

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
    .target(name: "MPIBackend", dependencies: ["CMPI", "Makemore", "Parallel"]),
]

let package = Package(
    name: "makemore-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "makemore", targets: ["makemore"]),
        // For bench/kernels, the kernel micro-benchmarks (a separate package, so the
        // main build and CI never compile a benchmark framework).
        .library(name: "Kernels", targets: ["KernelSupport", "Kernels", "KernelsAVX512", "Engine", "Parallel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CNuma",
            pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]
        ),
        .target(name: "_KernelsShim"),
        .target(name: "KernelSupport", dependencies: ["_KernelsShim"], swiftSettings: avx2),
        // Sources/KernelsAVX512 is a link to Sources/Kernels: the same files, the other ISA.
        .target(name: "Kernels", dependencies: ["KernelSupport", "_KernelsShim"], swiftSettings: avx2),
        .target(name: "KernelsAVX512", dependencies: ["KernelSupport", "_KernelsShim"], swiftSettings: avx512),
        .target(name: "Parallel", dependencies: ["CNuma"]),
        .target(name: "Engine", dependencies: ["KernelSupport", "Kernels", "KernelsAVX512", "Parallel", "_KernelsShim"],
                swiftSettings: avx2),
        .target(
            name: "Makemore",
            dependencies: [
                "Engine", "Kernels", "Parallel",
                .product(name: "Yams", package: "Yams"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // `makemore bench`: the grid runner, its results, table and scaling models.
        .target(
            name: "Bench",
            dependencies: ["Makemore", "Engine", "Kernels", "Parallel", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "makemore",
            dependencies: [
                "Makemore", "Bench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + (mpi ? ["MPIBackend"] : []),
            swiftSettings: mpi ? [.define("MAKEMORE_MPI")] : []
        ),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "KernelsAVX512"], swiftSettings: avx2),
        .testTarget(name: "ParallelTests", dependencies: ["Parallel"]),
        .testTarget(
            name: "MakemoreTests",
            dependencies: ["Makemore", "Bench", "Engine", "Parallel"],
            swiftSettings: avx2
        ),
    ] + mpiTargets,
    swiftLanguageModes: [.v5]
)
