import Foundation

/// Draws names from a model in eval mode (running BatchNorm statistics),
/// one character at a time, as the seed notebook does.
public struct Sampler {
    let reference: ReferenceModel
    let vocabulary: Vocabulary

    public init(model: Model, vocabulary: Vocabulary) {
        reference = ReferenceModel(model)
        self.vocabulary = vocabulary
    }

    /// Temperatures at or below this sample greedily.
    public static let greedyBelow = 1e-3

    /// A name, and whether it ended with the end marker within `maxLength` characters.
    public func sample(rng: inout Xoshiro, temperature: Double, maxLength: Int) -> (name: String, finished: Bool) {
        var context = [Int32](repeating: 0, count: reference.shape.blockSize)
        var out = [Int32]()
        while out.count < maxLength {
            let raw = reference.evalLogits(x: context)
            var ix = raw.indices.max { raw[$0] < raw[$1] } ?? 0  // greedy: the likeliest, the first on a tie
            // Below this temperature the softmax is the greedy choice anyway, and
            // dividing by it would overflow the logits to ±inf (NaN probabilities).
            if temperature > Sampler.greedyBelow {
                let p = CrossEntropy.softmax(raw.map { $0 / temperature })
                var u = rng.uniform()
                ix = p.count - 1
                for (i, pi) in p.enumerated() {
                    if u < pi { ix = i; break }
                    u -= pi
                }
            }
            if ix == 0 { return (vocabulary.decode(out), true) }
            out.append(Int32(ix))
            context = Array(context.dropFirst()) + [Int32(ix)]
        }
        return (vocabulary.decode(out), false)
    }
}
