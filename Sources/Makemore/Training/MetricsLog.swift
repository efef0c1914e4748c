import Foundation

/// The loss curve of a run, beside its checkpoint: `runs/m.safetensors` →
/// `runs/m.metrics.csv`, one row every 256 steps, at every evaluation and at
/// the end:
///
///   step,train_loss,lr,samples_per_s,dev_loss,elapsed_s
///
/// `train_loss` is the mean minibatch loss since the previous row with one,
/// `dev_loss` is empty where the dev split was not evaluated (it is, every
/// `train.eval_every` steps and at the last step; an evaluation
/// off the 256-step grid gets a row of its own with only `dev_loss`), `elapsed_s` counts the
/// training time of every run that led here. A resumed run keeps the rows up
/// to its checkpoint's step (an interrupted run may have written rows past
/// it) and continues after them. Writing is best effort: a failure is reported
/// once and training goes on.
public final class MetricsLog {
    public static let header = "step,train_loss,lr,samples_per_s,dev_loss,elapsed_s"
    public let path: String
    /// Training seconds of the runs before this one (from the last kept row).
    public private(set) var elapsedBefore = 0.0
    private var handle: FileHandle?
    private var failed = false
    private let warn: (String) -> Void

    /// The metrics file of a checkpoint path.
    public static func path(forCheckpoint checkpoint: String) -> String {
        let base = checkpoint.hasSuffix(".safetensors") ? String(checkpoint.dropLast(".safetensors".count)) : checkpoint
        return base + ".metrics.csv"
    }

    /// Why the file at `path` must not be replaced by a metrics log (nil: it may).
    public static func reasonNotToReplace(_ path: String) -> String? {
        guard let bytes = try? FileReader.readAll(path: path, limit: FileReader.Limit.results),
              bytes.starts(with: Array((header + "\n").utf8)) else { return "it is not a makemore metrics log" }
        return nil
    }

    /// Opens the log of a run starting at `step`: a new file at step 0, else
    /// the old rows up to `step` kept.
    public init(checkpoint: String, step: Int, warn: @escaping (String) -> Void) {
        path = MetricsLog.path(forCheckpoint: checkpoint)
        self.warn = warn
        var kept = [MetricsLog.header]
        if step > 0, let bytes = try? FileReader.readAll(path: path, limit: FileReader.Limit.results),
           case let text = String(decoding: bytes, as: UTF8.self), text.hasPrefix(MetricsLog.header) {
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                guard fields.count == 6, let s = Int(fields[0]), s <= step else { continue }
                kept.append(String(line))
                elapsedBefore = Double(fields[5]) ?? elapsedBefore
            }
        }
        do {
            // Whole or not at all: a run killed here must leave a file that
            // starts with the header, or the next --resume would refuse to
            // replace it as not a metrics log.
            try AtomicFile.write(Array((kept.joined(separator: "\n") + "\n").utf8), to: path)
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle?.seekToEnd()
        } catch {
            report(error)
        }
    }

    deinit { try? handle?.close() }

    /// Appends one row; `elapsed` is this run's training seconds so far.
    public func append(step: Int, trainLoss: Double?, lr: Double, samplesPerSecond: Double?, devLoss: Double?, elapsed: Double) {
        guard let handle, !failed else { return }
        let row = "\(step),\(trainLoss.map { String(format: "%.6f", $0) } ?? ""),\(lr),"
            + "\(samplesPerSecond.map { String(format: "%.0f", $0) } ?? ""),"
            + (devLoss.map { String(format: "%.6f", $0) } ?? "") + ",\(String(format: "%.3f", elapsedBefore + elapsed))\n"
        do { try handle.write(contentsOf: Data(row.utf8)) } catch { report(error) }
    }

    private func report(_ error: Error) {
        guard !failed else { return }
        failed = true
        handle = nil
        warn("warning: metrics not written to \(path): \(fileErrorText(error)); training goes on")
    }
}
