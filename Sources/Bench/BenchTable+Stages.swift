import Foundation

/// `makemore bench --stages`: per cell, every stage of the step, µs a step per
/// worker, from the profiled repeat:
///
///   threads 2, batch 1024, H 64 (profiled step 156 µs): work | wait before it, per worker
///      0 phase 1, transposes         17.4   17.2 |  0.00   0.00
///
/// A stage whose work per worker stays above its one-thread time over the
/// threads is where the step stops scaling; a wait on one worker that the
/// others do not have is a stage held up by the last item someone else holds.
extension BenchTable {
    public static func stages(_ report: BenchReport) -> String {
        var s = ""
        for c in report.results where !c.stages.isEmpty {
            s += "threads \(c.threads), batch \(c.batchSize), H \(c.nHidden) (profiled step \(f(c.profiledUsPerStep)) µs): "
                + "work | wait before it, µs a step per worker\n"
            let width = max(6, (c.stages.flatMap { $0.work + $0.wait }.map { f($0).count }.max() ?? 0) + 1)
            for (i, stage) in c.stages.enumerated() {
                let name = stage.stage.padding(toLength: max(28, stage.stage.count), withPad: " ", startingAt: 0)
                s += pad("\(i)", 4) + " " + name
                    + stage.work.map { pad(f($0), width) }.joined() + " |"
                    + stage.wait.map { pad(f($0), width) }.joined() + "\n"
            }
        }
        return s.isEmpty ? "no stage times: the cells ran under MPI, or come from a run before they were measured\n" : s
    }
}
