// Throwaway speed check for Kernels/VectorMath.swift (not part of the
// package; timing thresholds do not belong in tests). Build and run from the
// repository root, with the package's release flags:
//
//   d=$(mktemp -d); FL="-Ounchecked -target-cpu native -wmo"
//   swiftc $FL -parse-as-library -emit-module -emit-library -static \
//     -module-name Kernels -emit-module-path $d/Kernels.swiftmodule \
//     -o $d/libKernels.a Sources/Kernels/*.swift
//   swiftc $FL -I $d -L $d -lKernels -o $d/bench bench/vector-math/main.swift
//   $d/bench
//
// Times tanhInPlace / expInPlace / glibc tanhf / expf over 64×32 floats
// (one batch-32 hidden layer at H=64), refilled from a source buffer before
// each pass; the refill alone is timed too. Best of 5 runs.
import Foundation
import Kernels

let n = 64 * 32
let reps = 20_000
var src = [Float](repeating: 0, count: n)
var rng = SystemRandomNumberGenerator()
for i in 0..<n {  // roughly N(0, 2): both tanh branches, exp results in a sane range
    let u1 = Float.random(in: 1e-7..<1, using: &rng), u2 = Float.random(in: 0..<1, using: &rng)
    src[i] = 2 * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * .pi * u2)
}
var buf = src
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
@inline(never) func sink(_ p: UnsafeMutablePointer<Float>) { if p[0] == 12345 { print("x") } }

@inline(never) func userLoopTanh(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) {
    // a caller-side loop in another module: vtanh must inline here
    var i = 0
    while i < n {
        let v = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(d + i).storeBytes(of: vtanh(v), as: SIMD16<Float>.self)
        i += 16
    }
}

func bench(_ name: String, _ body: (UnsafeMutablePointer<Float>) -> Void) -> Double {
    var best = Double.infinity
    buf.withUnsafeMutableBufferPointer { b in
        let p = b.baseAddress!
        for _ in 0..<5 {
            let t0 = now()
            for _ in 0..<reps {
                src.withUnsafeBufferPointer { s in p.update(from: s.baseAddress!, count: n) }
                body(p)
                sink(p)
            }
            let dt = Double(now() - t0) / Double(reps * n)
            best = min(best, dt)
        }
    }
    print(name.padding(toLength: 34, withPad: " ", startingAt: 0), String(format: "%.3f ns/element", best))
    return best
}
let copy = bench("copy only (refill overhead)") { _ in }
let t1 = bench("tanhInPlace") { tanhInPlace($0, count: n) }
let e1 = bench("expInPlace") { expInPlace($0, count: n) }
let u1 = bench("caller loop vtanh (src->dst)") { p in src.withUnsafeBufferPointer { userLoopTanh(p, $0.baseAddress!, n) } }
let t2 = bench("glibc tanhf loop") { p in for i in 0..<n { p[i] = tanhf(p[i]) } }
let e2 = bench("glibc expf loop") { p in for i in 0..<n { p[i] = expf(p[i]) } }
print(String(format: "net of copy: tanhInPlace %.3f, expInPlace %.3f, tanhf %.3f, expf %.3f ns/element",
             t1 - copy, e1 - copy, t2 - copy, e2 - copy))
print(String(format: "batch 32 x H 64 = 2048 tanh: %.2f us (vtanh) vs %.2f us (tanhf)", (t1 - copy) * 2048 / 1000, (t2 - copy) * 2048 / 1000))
