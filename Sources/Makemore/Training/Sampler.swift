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
            var ix: Int
            if temperature <= Sampler.greedyBelow {
                // The softmax of logits divided by so small a number is the greedy
                // choice anyway, and the division would overflow them (NaN probabilities).
                ix = raw.indices.max { raw[$0] < raw[$1] } ?? 0  // the likeliest, the first on a tie
            } else {
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
