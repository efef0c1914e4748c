// swift-tools-version:6.1
// Micro-benchmarks of Sources/Kernels at the model's shapes, with
// google/swift-benchmark. A package of its own so that neither the main build
// nor CI compiles the benchmark framework. From the repository root:
//
//   swift run -c release --package-path bench/kernels KernelBench
//   swift run -c release --package-path bench/kernels KernelBench --filter gemm --min-time 0.5
//
// It prints swift-benchmark's table (ns per iteration of `reps` calls), then
// per kernel call: ns, GFLOP/s and the share of one core's peak
// (MAKEMORE_PEAK_GFLOPS, default 80: Zen 4, 2 × 256-bit FMA pipes = 32 FLOP/cycle at ~2.5 GHz).
import Foundation
import PackageDescription

let targetCPU = ProcessInfo.processInfo.environment["MAKEMORE_TARGET_CPU"] ?? "native"

let package = Package(
    name: "makemore-kernel-bench",
    dependencies: [
        .package(name: "makemore-swift", path: "../.."),
        .package(url: "https://github.com/google/swift-benchmark", from: "0.1.2"),
    ],
    targets: [
        .executableTarget(
            name: "KernelBench",
            dependencies: [
                .product(name: "Kernels", package: "makemore-swift"),
                .product(name: "Benchmark", package: "swift-benchmark"),
            ],
            swiftSettings: [
                .unsafeFlags(["-target-cpu", targetCPU]),
                .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
