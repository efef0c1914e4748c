import Foundation
import XCTest
@testable import Makemore

/// A small seeded model and batch for gradient tests.
func randomModel(_ shape: ModelShape, seed: UInt64) -> Model {
    let m = Model(shape: shape, seed: seed)
    // Non-trivial running statistics and BN parameters, so eval mode and the BN
    // backward are exercised away from their initial values.
    var rng = Xoshiro(seed: seed &+ 1)
    m.set(.bnmeanRunning, (0..<shape.nHidden).map { _ in Float(rng.gaussian() * 0.5) })
    m.set(.bnvarRunning, (0..<shape.nHidden).map { _ in Float(1 + rng.uniform()) })
    return m
}

func randomBatch(_ shape: ModelShape, rows n: Int, seed: UInt64) -> (x: [Int32], y: [Int32]) {
    var rng = Xoshiro(seed: seed)
    let x = (0..<(n * shape.blockSize)).map { _ in Int32(rng.below(shape.vocabSize)) }
    let y = (0..<n).map { _ in Int32(rng.below(shape.vocabSize)) }
    return (x, y)
}

/// max |a − b| / max(max |b|, floor): the error relative to the tensor's scale.
/// `floor` matters for tensors whose true gradient is ~0 (b1 under BatchNorm is
/// exactly 0 in exact arithmetic), where only an absolute comparison makes sense.
func relativeError(_ a: [Double], _ b: [Double], floor: Double = 1e-30) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, scale = floor
    for (u, v) in zip(a, b) { diff = max(diff, abs(u - v)); scale = max(scale, abs(v)) }
    return diff / scale
}

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func fixturePath(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("Tests/Fixtures/\(name)").path
}

/// A floor for `relativeError`: 1% of the largest gradient element of any tensor.
func gradientFloor(_ grads: [String: [Double]]) -> Double {
    0.01 * grads.values.flatMap { $0 }.reduce(0) { max($0, abs($1)) }
}

extension XCTestCase {
    /// Polls `condition` every `polling` seconds until it holds, or throws after `seconds`.
    func wait(upTo seconds: Double, polling: Double = 0.02, until condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw MakemoreError("timed out after \(seconds) s") }
            usleep(UInt32(polling * 1e6))
        }
    }
}
