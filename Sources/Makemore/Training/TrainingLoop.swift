import Foundation
import Synchronization

/// Set by the SIGINT/SIGTERM handler (see `StopSignal`); the loop checks it
/// between steps, so a stop always falls on a step boundary.
public let stopRequested = Atomic<Int32>(0)

/// The outer loop of `makemore train`: steps, progress lines, periodic
/// evaluation and checkpoints, a final checkpoint, and the stop and
/// divergence paths. Output goes through `print` so tests can capture it.
public struct TrainingLoop {
    public var trainer: Trainer
    public var checkpointPath: String
    /// Seconds between progress lines.
    public var progressInterval: Double = 2
    public var print: (String) -> Void

    public init(trainer: Trainer, checkpointPath: String, print: @escaping (String) -> Void) {
        self.trainer = trainer
        self.checkpointPath = checkpointPath
        self.print = print
    }

    public enum Outcome: Equatable {
        case finished
        /// Stopped by a signal after a checkpoint at `step`.
        case stopped(signal: Int32, step: Int)
    }

    /// Trains until `config.train.steps`. Throws `Divergence` (after saying
    /// which checkpoint is the last good one) and file errors.
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

        if startStep > 0 { print("resuming at step \(startStep) of \(total)") }
        while trainer.step < total {
            if stopRequested.load(ordering: .relaxed) != 0 {
                let signal = stopRequested.load(ordering: .relaxed)
                try save()
                print("stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM") after step \(trainer.step); checkpoint written to \(checkpointPath)")
                print("resume with: makemore train --config <your config> --resume \(checkpointPath)")
                return .stopped(signal: signal, step: trainer.step)
            }
            let loss: Double
            do {
                loss = try trainer.trainStep()
            } catch let d as Divergence {
                let good = lastSaved.map { "\(checkpointPath) (step \($0))" }
                    ?? (FileManager.default.fileExists(atPath: checkpointPath) ? "\(checkpointPath) (untouched)" : "none was written")
                throw MakemoreError("\(d.description); last good checkpoint: \(good); try a lower train.lr")
            }
            lossSum += loss
            lossCount += 1
            let step = trainer.step
            if step % 256 == 0 || step == total {
                let now = clock.now
                let since = (now - lastReport).seconds
                if since >= progressInterval || step == total {
                    let rate = Double(step - lastStep) * batch / max(since, 1e-9)
                    let eta = Double(total - step) * batch / max(rate, 1e-9)
                    print(String(format: "step %7d/%d  loss %.4f  lr %g  %@ samples/s  ETA %@",
                                 step, total, lossSum / Double(lossCount), trainer.config.learningRate(at: step - 1),
                                 compact(rate), duration(eta)))
                    lastReport = now
                    lastStep = step
                    lossSum = 0
                    lossCount = 0
                }
            }
            if cfg.evalEvery > 0 && step % cfg.evalEvery == 0 && step < total {
                print(String(format: "step %7d  dev loss %.4f", step, trainer.loss(on: trainer.dataset.dev)))
            }
            if cfg.checkpointEvery > 0 && step % cfg.checkpointEvery == 0 && step < total {
                try save()
                lastSaved = step
            }
        }
        let seconds = (clock.now - start).seconds
        let steps = trainer.step - startStep
        if steps > 0 {
            print(String(format: "trained %d steps in %.2f s: %.2f µs/step, %@ samples/s",
                         steps, seconds, seconds / Double(steps) * 1e6, compact(Double(steps) * batch / seconds)))
        }
        try save()
        print("checkpoint: \(checkpointPath) (step \(trainer.step))")
        return .finished
    }

    func save() throws { try trainer.checkpoint().save(to: checkpointPath) }
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
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
