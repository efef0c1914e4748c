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

            Ctrl-C (SIGINT), SIGTERM, SIGHUP or a closed output (SIGPIPE) finishes the current step, \
            writes the checkpoint and exits with status 128 + the signal (130, 143, 129, 141); a second \
            Ctrl-C exits at once. The checkpoint path is locked for the run: a second run writing to it is \
            refused. An existing file there is replaced only if it is a checkpoint of the same model and \
            data (or with --force); devices, folders and the run's own inputs never.

            --resume continues a run so that it ends bit-identical to an uninterrupted one, with any \
            thread count.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .customLong("resume"), defaultAsFlag: "", parsing: .next,
            help: ArgumentHelp("Continue a run: from this checkpoint, or without a value from train.checkpoint. "
                + "Without --config the checkpoint's own settings are used, and new checkpoints go to PATH.",
                valueName: "path"))
    var resume: String?

    @Option(name: .customLong("resume-from"), help: ArgumentHelp("Same as --resume PATH.", valueName: "path", visibility: .hidden))
    var resumeFrom: String?

    @Flag(help: "Replace a checkpoint of another model or data, or a file that is not a checkpoint; with --resume, continue on data that changed.")
    var force = false

    func run() throws {
        let group = try ProcessGroup.join()  // one rank of an MPI job, or a lone process (MPISupport.swift)
        try group.run { try train(in: group) }
    }

    func train(in group: ProcessGroup) throws {
        // From the first line printed: a reader that quits early (`| head`)
        // must stop the run through the loop, not kill it unsaved.
        StopSignal.install()
        let (config, checkpoint) = try resolve()
        if let saved = checkpoint?.config { warnAboutChanges(from: saved, to: config) }
        let dataset = try loadDataset(config, vocabulary: checkpoint?.vocabulary)
        say("data: \(config.data.path) (clean: \(config.data.clean)): \(dataset.words.count) words, vocabulary \(dataset.vocabulary.count) "
            + "(\(dataset.vocabulary.symbolString)); examples train \(dataset.train.count), dev \(dataset.dev.count), test \(dataset.test.count)")
        if let checkpoint { try checkSameWords(checkpoint, dataset) }
        let trainer = try Trainer(config: config, dataset: dataset, resume: checkpoint, exchange: group.exchange,
                                  localRank: group.localRank, tiles: TileCache(), log: say)
        defer { trainer.shutdown() }
        // Where the checkpoint goes is settled before any training: a path
        // that is not ours to replace, or that another run is writing, is
        // refused now, not after hours of work.
        var lock: FileLock? = nil
        var checkpointPath = config.train.checkpoint
        if group.rank == 0 {
            let target = try outputTargets(of: trainer, resumed: checkpoint?.source)
            try Checkpoint.checkWritable(target.path)
            lock = try FileLock(for: target.path)
            checkpointPath = target.path
        }
        defer { lock?.release() }
        try group.prepare(trainer)
        // The checkpoint holds every setting that decides the numbers (steps, batch,
        // schedule, data, shards), so `--resume` alone continues this very run;
        // a --config would put the file's settings back over them. The settings
        // that only place the work are repeated when they were given.
        var resumeCommand = "makemore train --resume \(shellQuoted(config.train.checkpoint))"
        for (flag, value) in [("--threads", options.threads), ("--nodes", options.nodes), ("--topology", options.topology)] {
            if let value { resumeCommand += " \(flag) \(shellQuoted(value))" }
        }
        if let pin = options.pin { resumeCommand += pin ? " --pin" : " --no-pin" }
        if options.oversubscribe { resumeCommand += " --oversubscribe" }
        var loop = TrainingLoop(trainer: trainer, checkpointPath: checkpointPath, resumeCommand: resumeCommand, print: say)
        loop.stop = StopSignal.token
        group.configure(&loop)
        let outcome = try loop.run()
        if case .stopped(let signal, let step) = outcome {
            if signal == SIGPIPE {  // stdout is gone; stderr may still reach the user
                complain("output closed (SIGPIPE): stopped after step \(step); checkpoint written to \(checkpointPath); "
                    + "resume with: \(resumeCommand)")
            }
            throw ExitCode(128 + signal)
        }
        var losses = [Double]()
        for split in dataset.splits {
            guard let loss = trainer.loss(on: split, until: { StopSignal.token.requested != 0 }) else {
                let signal = StopSignal.token.requested
                say("stopped by \(signalName(signal)) during the final evaluation; checkpoint written to \(checkpointPath) "
                    + "(step \(trainer.step)); `makemore eval --checkpoint \(shellQuoted(checkpointPath))` gives the losses")
                throw ExitCode(128 + signal)
            }
            losses.append(loss)
        }
        try requireFinite(losses, dataset, model: "\(checkpointPath) (written, step \(trainer.step))")
        let counts = dataset.splits.map(\.count)
        say("final loss (running BN statistics): train \(lossText(losses[0], examples: counts[0]))  "
            + "dev \(lossText(losses[1], examples: counts[1]))  test \(lossText(losses[2], examples: counts[2]))")
    }

    /// The checkpoint's target, checked, with the metrics file beside it.
    /// The checkpoint a run resumes from is its own to replace, whoever made it.
    func outputTargets(of trainer: Trainer, resumed: String?) throws -> OutputTarget {
        let (config, dataset, shape) = (trainer.config, trainer.dataset, trainer.model.shape)
        var inputs = [OutputTarget.Input("the training data (data.path)", config.data.path)]
        if let path = options.config { inputs.append(OutputTarget.Input("the config (--config)", path)) }
        let own = resumed.flatMap { FileIdentity($0) }
        let target = try OutputTarget.check(config.train.checkpoint, writing: "the checkpoint", inputs: inputs, force: force) {
            own != nil && FileIdentity($0) == own ? nil
                : Checkpoint.reasonNotToReplace($0, shape: shape, vocabulary: dataset.vocabulary, dataFingerprint: dataset.fingerprint)
        }
        _ = try OutputTarget.check(MetricsLog.path(forCheckpoint: target.path), writing: "the metrics log", inputs: inputs,
                                   force: force, replaceable: MetricsLog.reasonNotToReplace)
        return target
    }

    /// Resuming on other words would continue on another train/dev/test
    /// split: refused, or with --force said out loud.
    func checkSameWords(_ checkpoint: Checkpoint, _ dataset: Dataset) throws {
        guard let before = checkpoint.dataFingerprint, before != dataset.fingerprint else { return }
        let what = "\(checkpoint.source ?? "the checkpoint") was trained on other words than data.path holds now "
            + "(data fingerprint \(before) then, \(dataset.fingerprint) now)"
        guard force else {
            throw MakemoreError("\(what): the train/dev/test split would change, so this is not the same run; "
                + "give --force to continue on the new data anyway")
        }
        say("warning: \(what); continuing on the new data (--force): the result will not match an uninterrupted run")
    }

    /// The run's config and, when resuming, the checkpoint. The base is the
    /// --config file; when resuming without one, the checkpoint's own config
    /// (with train.checkpoint = the resumed file, so it continues in place);
    /// otherwise the defaults. Flags override the base either way.
    func resolve() throws -> (Config, Checkpoint?) {
        if resume != nil && resumeFrom != nil {
            throw ValidationError("give either --resume or --resume-from, not both")
        }
        let explicitPath = resumeFrom ?? resume.flatMap { $0.isEmpty ? nil : $0 }
        var config = try options.config.map { try Config.load(path: $0) } ?? Config()
        try options.apply(to: &config)
        guard resume != nil || resumeFrom != nil else {
            try config.validate()
            return (config, nil)
        }
        let path = explicitPath ?? config.train.checkpoint
        guard FileManager.default.fileExists(atPath: path) else {
            throw MakemoreError("cannot resume from \(path): No such file or directory"
                + (explicitPath == nil ? " (it is train.checkpoint; give the file with --resume PATH)" : ""))
        }
        let checkpoint = try Checkpoint.load(path: path)
        if options.config == nil {
            guard var base = checkpoint.config else {
                throw MakemoreError("\(path): no 'config' in the metadata (not made by makemore train); give the run's settings with --config")
            }
            base.train.checkpoint = path
            base.origins["train.checkpoint"] = "--resume"
            try options.apply(to: &base)
            config = base
        }
        if checkpoint.rng == nil {
            say("warning: \(path) has no 'rng' metadata (not made by makemore train): batch sampling restarts from "
                + "train.seed, so the run will not match an uninterrupted one")
        }
        try config.validate()
        return (config, checkpoint)
    }

    /// Settings that change the numbers, compared with the checkpoint's run.
    func warnAboutChanges(from saved: Config, to now: Config) {
        var changed = [String]()
        if saved.data != now.data { changed.append("data") }
        if saved.model != now.model { changed.append("model") }
        var a = saved.train, b = now.train
        (a.steps, a.evalEvery, a.checkpoint, a.checkpointEvery) = (b.steps, b.evalEvery, b.checkpoint, b.checkpointEvery)
        if a != b { changed.append("train (batch, lr, momentum or seed)") }
        if saved.shards != now.shards { changed.append("parallel.shards") }
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
    let path = config.data.path
    if !path.hasPrefix("/") && !FileManager.default.fileExists(atPath: path) {
        // The default and the bundled configs name data/… in the repository: say where it was looked for.
        throw MakemoreError("cannot read \(path) (data.path): no such file in \(FileManager.default.currentDirectoryPath); "
                            + "a relative data.path or --data is read from the directory makemore runs in")
    }
    return try Dataset.load(path: path, column: config.data.column, cleaning: cleaning,
                            blockSize: config.model.blockSize, split: config.data.split, seed: config.data.seed,
                            vocabulary: vocabulary)
}
