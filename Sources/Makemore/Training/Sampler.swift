import Foundation

/// Draws names from a model in eval mode (running BatchNorm statistics),
/// one character at a time, as the reference notebook does.
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
            let scaled = temperature <= Sampler.greedyBelow ? [] : raw.map { $0 / temperature }
            var ix: Int
            if scaled.isEmpty || !scaled.allSatisfy(\.isFinite) {
                // The softmax of logits divided by so small a number is the greedy
                // choice anyway, and an infinite logit would make its probabilities NaN.
                ix = Sampler.likeliest(raw)
            } else {
                let p = CrossEntropy.softmax(scaled)
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

    /// The index of the largest logit, the first on a tie; NaN counts as the
    /// smallest, so it is never chosen over a number.
    static func likeliest(_ logits: [Double]) -> Int {
        var best = 0
        for i in logits.indices.dropFirst() where logits[i] > logits[best] || (logits[best].isNaN && !logits[i].isNaN) {
            best = i
        }
        return best
    }
}
