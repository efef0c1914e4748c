import ArgumentParser
import Foundation
import Makemore

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and save it as a safetensors checkpoint.",
        discussion: """
            Prints the topology and worker placement, then a progress line every few seconds \
            (step, loss, learning rate, samples/s, ETA), the dev loss every train.eval_every steps, \
            and at the end the train/dev/test loss with the running BatchNorm statistics.

            Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes the checkpoint and exits \
            with status 130 or 143; a second Ctrl-C exits at once. --resume continues a run so that \
            it ends bit-identical to an uninterrupted one, with any thread count.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .customLong("resume"), help: "Continue from the configured checkpoint (train.checkpoint).")
    var resumeFromCheckpoint = false

    @Option(name: .customLong("resume-from"), help: ArgumentHelp("Continue from this checkpoint.", valueName: "path"))
    var resumeFrom: String?

    func run() throws {
        let config = try options.resolve()
        let resumePath = resumeFrom ?? (resumeFromCheckpoint ? config.train.checkpoint : nil)
        let resume = try resumePath.map { try Checkpoint.load(path: $0) }
        if let saved = resume?.config { warnAboutChanges(from: saved, to: config) }
        let dataset = try loadDataset(config, vocabulary: resume?.vocabulary)
        say("data: \(config.data.path): \(dataset.words.count) words, vocabulary \(dataset.vocabulary.count) "
            + "(\(dataset.vocabulary.symbolString)); examples train \(dataset.train.count), dev \(dataset.dev.count), test \(dataset.test.count)")
        let trainer = try Trainer(config: config, dataset: dataset, resume: resume, log: say)
        defer { trainer.shutdown() }
        StopSignal.install()
        let loop = TrainingLoop(trainer: trainer, checkpointPath: config.train.checkpoint, print: say)
        let outcome = try loop.run()
        if case .stopped(let signal, _) = outcome { throw ExitCode(128 + signal) }
        let (tr, dv, te) = (trainer.loss(on: dataset.train), trainer.loss(on: dataset.dev), trainer.loss(on: dataset.test))
        say(String(format: "final loss (running BN statistics): train %.4f  dev %.4f  test %.4f", tr, dv, te))
    }

    /// Settings that change the numbers, compared with the checkpoint's run.
    func warnAboutChanges(from saved: Config, to now: Config) {
        var changed = [String]()
        if saved.data != now.data { changed.append("data") }
        if saved.model != now.model { changed.append("model") }
        var a = saved.train, b = now.train
        (a.steps, a.evalEvery, a.checkpoint, a.checkpointEvery) = (b.steps, b.evalEvery, b.checkpoint, b.checkpointEvery)
        if a != b { changed.append("train (batch, lr, momentum or seed)") }
        if saved.parallel.shards != now.parallel.shards { changed.append("parallel.shards") }
        if !changed.isEmpty {
            say("warning: resuming with different \(changed.joined(separator: ", ")) than the checkpoint's run; "
                + "the result will not match an uninterrupted run")
        }
    }
}

func loadDataset(_ config: Config, vocabulary: Vocabulary?) throws -> Dataset {
    guard let cleaning = Cleaning(rawValue: config.data.clean) else {
        throw MakemoreError("data.clean: unknown cleaning '\(config.data.clean)' (known: \(Cleaning.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return try Dataset.load(path: config.data.path, column: config.data.column, cleaning: cleaning,
                            blockSize: config.model.blockSize, split: config.data.split, seed: config.data.seed,
                            vocabulary: vocabulary)
}

/// Progress goes to stdout, unbuffered enough to watch.
func say(_ line: String) {
    print(line)
    fflush(stdout)
}

/// SIGINT/SIGTERM: the first asks the training loop to stop after the current
/// step and save; a second one exits at once, leaving the last checkpoint as it was.
enum StopSignal {
    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { sig in
                if stopRequested.exchange(sig, ordering: .relaxed) != 0 { _exit(128 + sig) }
            }
        }
    }
}
