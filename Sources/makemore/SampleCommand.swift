import ArgumentParser
import Foundation
import Makemore

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate new names from a checkpoint, one per line.",
        discussion: """
            Each name is drawn character by character until the end marker. A name that reaches \
            --max-length without ending is not cut silently: it is reported on stderr and the \
            command exits with status 3.
            """)

    @Option(help: ArgumentHelp("The model to sample from.", valueName: "path"))
    var checkpoint: String

    @Option(name: .short, help: "How many names.")
    var n = 20

    @Option(help: "Random seed: the same seed gives the same names. Default: a new one each run, printed on stderr so you can repeat it.")
    var seed: Int?

    @Option(help: "Softmax temperature: below 1 is more conservative, above 1 more adventurous; 0 is greedy (always the likeliest next character).")
    var temperature = 1.0

    @Option(name: .customLong("max-length"), help: "Longest name to generate before giving up on it.")
    var maxLength = 100

    func validate() throws {
        guard n >= 0 else { throw ValidationError("-n must not be negative") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 (greedy) or a positive number") }
        guard maxLength >= 1 else { throw ValidationError("--max-length must be at least 1") }
    }

    func run() throws {
        let ckpt = try Checkpoint.load(path: checkpoint)
        let sampler = Sampler(model: ckpt.model, vocabulary: ckpt.vocabulary)
        let seed = self.seed ?? Int(truncatingIfNeeded: UInt64.random(in: 0...UInt64(Int.max)))
        if self.seed == nil { complain("seed \(seed) (repeat with --seed \(seed))") }
        var rng = Xoshiro(seed: UInt64(bitPattern: Int64(seed)))
        var unfinished = 0
        for i in 0..<n {
            let s = sampler.sample(rng: &rng, temperature: temperature, maxLength: maxLength)
            print(s.name)
            if !s.finished {
                unfinished += 1
                complain("makemore: name \(i + 1) reached --max-length \(maxLength) without an end marker")
            }
        }
        if unfinished > 0 { throw ExitCode(3) }
    }
}
