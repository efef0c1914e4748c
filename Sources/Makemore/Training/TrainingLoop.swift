import Foundation
import Synchronization

/// The outer loop of `makemore train`: steps, progress lines, periodic
/// evaluation and checkpoints, a final checkpoint, and the stop and
/// divergence paths. Output goes through `print` so tests can capture it.
///
/// What is never lost or corrupted:
/// - a checkpoint is only ever replaced atomically (`AtomicFile`), and only by
///   finite parameters: a step whose loss or gradient is NaN or infinite, or
///   parameters that overflowed, stop the run with an error naming the step
///   and the last good checkpoint, which is left as it was;
/// - a periodic save that fails (disk full, folder gone read-only) keeps the
///   previous file, says so, and training goes on (the next save may work);
///   a failing final or stop save is an error that says the previous file was kept.
public struct TrainingLoop {
    public var trainer: Trainer
    public var checkpointPath: String
    /// Seconds between progress lines.
    public var progressInterval: Double = 2
    /// The command that continues this run, printed when a signal stops it.
    public var resumeCommand: String
    public var print: (String) -> Void
    /// Checked between chunks of steps, so a stop always falls on a step boundary.
    public var stop = StopToken()
    /// Writes a checkpoint; tests substitute failing writers.
    public var write: (Checkpoint, String) throws -> Void = { try $0.save(to: $1) }
    /// Multi-process runs: whether this process writes the checkpoint (one does),
    /// and the metrics file beside it.
    public var writesCheckpoint = true
    /// Write `MetricsLog` rows beside the checkpoint.
    public var writesMetrics = true
    /// Multi-process runs: combines this process's stop request with every
    /// other's (the largest wins) before each chunk of steps, so all stop
    /// after the same step (the chunks are the same on every process).
    public var agreeOnStop: ((Int32) -> Int32)? = nil

    public init(trainer: Trainer, checkpointPath: String, resumeCommand: String? = nil, print: @escaping (String) -> Void) {
        self.trainer = trainer
        self.checkpointPath = checkpointPath
        self.resumeCommand = resumeCommand ?? "makemore train --resume \(checkpointPath)"
        self.print = print
    }

    public enum Outcome: Equatable {
        case finished
        /// Stopped by a signal after a checkpoint at `step`.
        case stopped(signal: Int32, step: Int)
    }

    /// Trains until `config.train.steps`. Throws a `MakemoreError` on
    /// divergence (naming the step and the last good checkpoint) and when the
    /// final or stop checkpoint cannot be written.
    public func run() throws -> Outcome {
        let cfg = trainer.config.train
        let total = cfg.steps
        let batch = Double(cfg.batchSize)
        let startStep = trainer.step
        let clock = ContinuousClock()
        let start = clock.now
        var lastReport = start, lastStep = trainer.step
        var lossSum = 0.0, lossCount = 0
        var lastSaved: Int? = nil
        let metrics = writesCheckpoint && writesMetrics ? MetricsLog(checkpoint: checkpointPath, step: startStep, warn: print) : nil
        var rowLossSum = 0.0, rowLossCount = 0, rowStart = start, rowStep = startStep
        /// A metrics row for the steps since the last one.
        func metricsRow(devLoss: Double?) {
            guard let metrics else { return }
            let now = clock.now, step = trainer.step
            metrics.append(step: step, trainLoss: rowLossSum / Double(max(rowLossCount, 1)),
                           lr: trainer.config.learningRate(at: step - 1),
                           samplesPerSecond: Double(step - rowStep) * batch / max((now - rowStart).seconds, 1e-9),
                           devLoss: devLoss, elapsed: (now - start).seconds)
            (rowLossSum, rowLossCount, rowStart, rowStep) = (0, 0, now, step)
        }

        func lastGood() -> String {
            if let lastSaved { return "\(checkpointPath) (step \(lastSaved), kept)" }
            return FileManager.default.fileExists(atPath: checkpointPath)
                ? "\(checkpointPath) (untouched by this run)" : "none (no checkpoint was written)"
        }
        /// Saves unless the parameters are not finite; returns whether it saved.
        func save(final: Bool) throws -> Bool {
            guard trainer.parametersFinite() else {
                throw MakemoreError("step \(trainer.step): the parameters are no longer finite (the learning rate is too high); "
                    + "training stopped without saving them; last good checkpoint: \(lastGood()); try a lower train.lr")
            }
            do {
                if writesCheckpoint { try write(trainer.checkpoint(), checkpointPath) }
                lastSaved = trainer.step
                return true
            } catch let e as MakemoreError where !final {
                print("warning: step \(trainer.step): checkpoint not saved: \(e.message); last good checkpoint: \(lastGood()); "
                    + "training goes on and tries again at the next checkpoint")
                return false
            } catch let e as MakemoreError {
                throw MakemoreError("step \(trainer.step): \(e.message); last good checkpoint: \(lastGood())")
            }
        }

        if startStep > 0 && startStep >= total {
            print("the checkpoint is already at step \(startStep) and train.steps is \(total): nothing to train, nothing written")
            return .finished
        }
        if startStep > 0 { print("resuming at step \(startStep) of \(total)") }
        while trainer.step < total {
            let request = stop.requested
            let signal = agreeOnStop?(request) ?? request
            if signal != 0 {
                _ = try save(final: true)
                if trainer.step > rowStep { metricsRow(devLoss: nil) }  // the stop's step: a resumed run's rows follow on
                print("stopped by \(signalName(signal)) "
                    + "after step \(trainer.step) of \(total); checkpoint written to \(checkpointPath)")
                print("resume with: \(resumeCommand)")
                return .stopped(signal: signal, step: trainer.step)
            }
            // Steps run in chunks up to the next event (progress check every
            // 256 steps, eval, checkpoint, end), so the pool is dispatched once
            // per chunk. Chunks shrink with the batch so a signal is answered
            // within tens of milliseconds; they depend only on the config, so
            // every process of a multi-process run cuts the same chunks.
            let before = trainer.step
            var chunk = min(total - before, StepDriver.chunkSize(batchSize: cfg.batchSize), 256 - before % 256)
            for every in [cfg.evalEvery, cfg.checkpointEvery] where every > 0 { chunk = min(chunk, every - before % every) }
            do {
                try trainer.trainSteps(chunk)
            } catch let d as Divergence {
                throw MakemoreError("\(d.description); last good checkpoint: \(lastGood()); try a lower train.lr")
            }
            for i in 0..<(trainer.step - before) { lossSum += trainer.chunkLosses[i]; rowLossSum += trainer.chunkLosses[i] }
            lossCount += trainer.step - before
            rowLossCount += trainer.step - before
            let step = trainer.step
            if step % 256 == 0 || step == total {
                let now = clock.now
                let since = (now - lastReport).seconds
                if since >= progressInterval || step == total {
                    let rate = Double(step - lastStep) * batch / max(since, 1e-9)
                    let eta = Double(total - step) * batch / max(rate, 1e-9)
                    print("step \(pad(step, 7))/\(total)  loss \(String(format: "%.4f", lossSum / Double(lossCount)))  "
                        + "lr \(String(format: "%g", trainer.config.learningRate(at: step - 1)))  \(compact(rate)) samples/s  ETA \(duration(eta))")
                    lastReport = now
                    lastStep = step
                    lossSum = 0
                    lossCount = 0
                }
            }
            // The last step gets a dev point too, so the metrics' dev curve
            // reaches the end (the final report prints it with train and test).
            var devLoss: Double? = nil
            if cfg.evalEvery > 0 && (step % cfg.evalEvery == 0 || step == total) && trainer.dataset.dev.count > 0 {
                let dev = trainer.loss(on: trainer.dataset.dev)
                devLoss = dev
                if step < total { print("step \(pad(step, 7))  dev loss \(String(format: "%.4f", dev))") }
            }
            if step % 256 == 0 || step == total {
                metricsRow(devLoss: devLoss)
            } else if let devLoss, let metrics {  // off the grid: the dev loss alone, the train window goes on
                metrics.append(step: step, trainLoss: nil, lr: trainer.config.learningRate(at: step - 1), samplesPerSecond: nil,
                               devLoss: devLoss, elapsed: (clock.now - start).seconds)
            }
            if cfg.checkpointEvery > 0 && step % cfg.checkpointEvery == 0 && step < total {
                _ = try save(final: false)
            }
        }
        let seconds = (clock.now - start).seconds
        let steps = trainer.step - startStep
        if steps > 0 {
            print("trained \(steps) steps in \(String(format: "%.2f", seconds)) s: "
                + "\(String(format: "%.2f", seconds / Double(steps) * 1e6)) µs/step, \(compact(Double(steps) * batch / seconds)) samples/s")
        }
        _ = try save(final: true)
        print("checkpoint: \(checkpointPath) (step \(trainer.step))")
        return .finished
    }
}

/// "SIGINT", "SIGTERM", …: the signals that stop a run, by name.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGHUP: return "SIGHUP"
    case SIGPIPE: return "SIGPIPE"
    default: return "signal \(signal)"
    }
}

/// `n` right-aligned in `width` columns.
func pad(_ n: Int, _ width: Int) -> String {
    let s = "\(n)"
    return s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

/// 1234567 → "1.23M"
func compact(_ x: Double) -> String {
    switch x {
    case 1e9...: return String(format: "%.2fG", x / 1e9)
    case 1e6...: return String(format: "%.2fM", x / 1e6)
    case 1e3...: return String(format: "%.1fk", x / 1e3)
    default: return String(format: "%.0f", x)
    }
}

/// 3725 → "1:02:05"
func duration(_ s: Double) -> String {
    guard s.isFinite, s < 1e15 else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60) : String(format: "%ld:%02ld", t / 60, t % 60)
}
