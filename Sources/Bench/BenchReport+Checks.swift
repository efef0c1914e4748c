import Foundation
import Makemore

// Reading results back (`makemore bench --from`, the sub-runs of --ranks).
// A file may have been edited, merged by a script or cut short. Every number
// the table and the scaling model compute with is checked first, within the
// bounds a run can produce, so that a bad file is one error naming the file
// and the field instead of a division by zero or an overflow trap.

extension BenchReport {
    public static func load(path: String) throws -> BenchReport {
        let data = Data(try FileReader.readAll(path: path, limit: FileReader.Limit.results, what: "bench results", noun: "bench results"))
        return try decode(data, source: path)
    }

    /// Decodes and checks a `makemore bench --json` result; errors start with `source`.
    public static func decode(_ data: Data, source: String) throws -> BenchReport {
        let report: BenchReport
        do {
            report = try JSONDecoder().decode(BenchReport.self, from: data)
        } catch let error as DecodingError {
            throw MakemoreError("\(source): \(oneLine(describe(error, in: data)))")
        } catch {
            throw MakemoreError("\(source): not a `makemore bench --json` result: \(oneLine("\(error)"))")
        }
        try report.check(source: source)
        return report
    }

    /// What `--from` shows: the cells' speedups, FLOP rates and the scaling
    /// model recomputed (a file merged from several runs has none of its own).
    public func recomputed() -> BenchReport {
        var r = self
        r.results = r.withFlops(BenchRunner.withSpeedups(r.results))
        r.rankPredictions = RankScalingModel.predictions(for: r)
        return r
    }

    /// Throws at the first field outside what a bench run writes.
    public func check(source: String) throws {
        let c = FieldChecker(source: source)
        try c.int("vocab_size", vocabSize, BenchSpec.vocabRange)
        try c.int("block_size", blockSize, BenchSpec.blockRange)
        try c.int("n_embd", nEmbd, BenchSpec.embeddingRange)
        try c.int("warmup", warmup, BenchSpec.warmupRange)
        try c.numbers("load_avg_start", loadAvgStart, atLeast: 0)
        try c.numbers("load_avg_end", loadAvgEnd, atLeast: 0)
        if let p = fmaPeak {
            try c.number("fma_peak.single_core_gflops", p.singleCoreGflops, atLeast: 0)
            try c.number("fma_peak.all_cores_gflops", p.allCoresGflops, atLeast: 0)
            try c.int("fma_peak.all_cores_threads", p.allCoresThreads, BenchSpec.threadRange)
            try c.int("fma_peak.vector_width", p.vectorWidth, 1...64)
            try c.number("fma_peak.seconds", p.seconds, atLeast: 0)
        }
        for (i, cell) in results.enumerated() {
            try cell.check(FieldChecker(source: source, prefix: "results[\(i)]."))
        }
    }

    /// Keys whose values are integers: where a fraction or a huge number is
    /// what made the decoder refuse the whole file (the fields it reads; not
    /// the predictions, which it does not).
    static let integerKeys: Set<String> = [
        "schema", "vocab_size", "block_size", "n_embd", "warmup", "logical_cpus", "numa_nodes",
        "ranks", "threads", "batch_size", "n_hidden", "shards", "steps", "repeats", "baseline_threads",
        "all_cores_threads", "vector_width",
    ]

    /// "results[2].shards: missing" and the like, from the decoder's error.
    static func describe(_ error: DecodingError, in data: Data) -> String {
        switch error {
        case let .keyNotFound(key, context):
            return "\(fieldPath(context.codingPath + [key])): missing (not a `makemore bench --json` result?)"
        case let .typeMismatch(type, context):
            return "\(fieldPath(context.codingPath)): expected \(typeName(type))"
        case let .valueNotFound(type, context):
            return "\(fieldPath(context.codingPath)): null, expected \(typeName(type))"
        case let .dataCorrupted(context) where !context.codingPath.isEmpty:
            return "\(fieldPath(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted:
            if let found = JSONFieldScan.firstUnreadableValue([UInt8](data), integerKeys: integerKeys) { return found }
            return "not valid JSON (\(syntaxError(data) ?? "not a `makemore bench --json` result"))"
        @unknown default:
            return "not a `makemore bench --json` result: \(error)"
        }
    }

    /// JSONSerialization's account of a syntax error ("Invalid value around character 14.").
    static func syntaxError(_ data: Data) -> String? {
        do { _ = try JSONSerialization.jsonObject(with: data) } catch {
            return ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? error.localizedDescription
        }
        return nil
    }

    static func fieldPath(_ path: [CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out.isEmpty ? "the file" : out
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            return name.hasPrefix("Array") ? "a list" : name.hasPrefix("Dictionary") ? "an object" : name
        }
    }
}

extension BenchCell {
    func check(_ c: FieldChecker) throws {
        try c.int("ranks", ranks, BenchSpec.rankRange)
        try c.int("threads", threads, BenchSpec.threadRange)
        try c.int("batch_size", batchSize, BenchSpec.batchRange)
        try c.int("n_hidden", nHidden, BenchSpec.hiddenRange)
        try c.int("shards", shards, 1...batchSize, "(at most batch_size)")
        try c.int("steps", steps, 1...BenchSpec.stepRange.upperBound)
        try c.int("repeats", repeats, BenchSpec.repeatRange)
        try c.number("us_per_step_min", usPerStepMin, above: 0)
        try c.number("us_per_step_median", usPerStepMedian, above: 0)
        try c.numbers("us_per_step_runs", usPerStepRuns, atLeast: 0)
        try c.number("samples_per_s", samplesPerS, atLeast: 0)
        try c.number("profiled_us_per_step", profiledUsPerStep, atLeast: 0)
        try breakdown.check(c, "breakdown_us")
        for (w, phases) in workers.enumerated() { try phases.check(c, "workers_us[\(w)]") }
        try c.number("load_avg_1m", loadAvg1m, atLeast: 0)
        try c.number("other_cpus_busy", otherCPUsBusy, atLeast: -1)
        try c.number("final_loss", finalLoss, atLeast: 0)
    }
}

extension PhaseBreakdown {
    func check(_ c: FieldChecker, _ field: String) throws {
        for (name, value) in parts { try c.number("\(field).\(name)", value, atLeast: 0) }
    }
}

/// Range checks whose errors read "FILE: results[2].shards: must be in 1...8, got 0".
struct FieldChecker {
    var source: String
    var prefix = ""

    func fail(_ field: String, _ why: String) -> MakemoreError {
        MakemoreError("\(source): \(prefix)\(field): \(why)")
    }

    func int(_ field: String, _ value: Int, _ range: ClosedRange<Int>, _ note: String = "") throws {
        guard range.contains(value) else {
            throw fail(field, "must be in \(range)\(note.isEmpty ? "" : " " + note), got \(value)")
        }
    }

    /// Finite and at least `low` (`above`: greater than it).
    func number(_ field: String, _ value: Double, atLeast low: Double) throws {
        guard value.isFinite, value >= low else { throw fail(field, "must be a finite number ≥ \(display(low)), got \(value)") }
    }

    func number(_ field: String, _ value: Double, above low: Double) throws {
        guard value.isFinite, value > low else { throw fail(field, "must be a finite number > \(display(low)), got \(value)") }
    }

    func display(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : "\(x)" }

    func numbers(_ field: String, _ values: [Double], atLeast low: Double) throws {
        for (i, v) in values.enumerated() { try number("\(field)[\(i)]", v, atLeast: low) }
    }
}
