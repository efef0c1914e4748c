// swift-tools-version:6.1
// Micro-benchmarks of Sources/Kernels at the model's shapes, with
// google/swift-benchmark. A package of its own so that neither the main build
// nor CI compiles the benchmark framework. From the repository root:
//
//   swift run -c release --package-path bench/kernels KernelBench
//   swift run -c release --package-path bench/kernels KernelBench --filter gemm --min-time 0.5
//
// It prints swift-benchmark's table (ns per iteration of `reps` calls), then
// per kernel call: ns, GFLOP/s and the share of one core's FMA peak, measured
// on the kernels' ISA (the widest the CPU has; MAKEMORE_ISA=avx2 forces AVX2).
// The kernels come from the main package with its own flags; this harness is
// built for AVX2 like the rest of it.
import Foundation
import PackageDescription

let targetCPU = "haswell"

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
