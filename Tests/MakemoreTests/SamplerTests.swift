import XCTest
@testable import Makemore

final class SamplerTests: XCTestCase {
    let shape = ModelShape(vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4)
    let vocabulary = Vocabulary(words: ["abcd"])

    func names(_ model: Model, temperature: Double, seed: UInt64, count: Int = 4) -> [String] {
        let sampler = Sampler(model: model, vocabulary: vocabulary)
        var rng = Xoshiro(seed: seed)
        return (0..<count).map { _ in sampler.sample(rng: &rng, temperature: temperature, maxLength: 6).name }
    }

    /// A temperature too small to divide by is greedy: the same names whatever the seed.
    func testVanishingTemperatureIsGreedy() {
        let model = randomModel(shape, seed: 2)
        let greedy = names(model, temperature: 0, seed: 1)
        XCTAssertEqual(Set(greedy).count, 1)
        for t in [Double.leastNormalMagnitude / 1e5, 1e-300, 1e-4, Sampler.greedyBelow] {  // a subnormal first
            XCTAssertEqual(names(model, temperature: t, seed: 7), greedy, "temperature \(t)")
        }
        XCTAssertFalse(names(model, temperature: 1, seed: 7).joined().contains("\u{FFFD}"))
    }

    /// An infinite logit (logits / temperature not finite) makes the softmax NaN;
    /// the sampler takes the likeliest symbol instead of the last one.
    func testInfiniteLogitIsTakenGreedily() {
        let model = randomModel(shape, seed: 2)
        var b2 = model.tensor(.b2)
        b2[2] = .infinity
        model.set(.b2, b2)
        let expected = String(repeating: String(vocabulary.symbols[2]), count: 6)
        for t in [1.0, 0.5, 3.0] {
            XCTAssertEqual(names(model, temperature: t, seed: 3), Array(repeating: expected, count: 4), "temperature \(t)")
        }
    }

    func testLikeliestIgnoresNaN() {
        XCTAssertEqual(Sampler.likeliest([1, 3, 3, 2]), 1, "the first on a tie")
        XCTAssertEqual(Sampler.likeliest([.nan, 1, 2]), 2)
        XCTAssertEqual(Sampler.likeliest([0, .nan, -1]), 0)
        XCTAssertEqual(Sampler.likeliest([-.infinity, .infinity]), 1)
    }
}
