import Foundation
import XCTest
@testable import Makemore
#if canImport(Glibc)
import Glibc
#endif

/// End to end: the built `makemore` binary run as a real process on a small
/// word list, with real signals, kills, hostile files and a file-size limit.
///
/// Every refusal must be exit status 1 (bad file or value) or 2 (bad command
/// line), one line on stderr naming the file and what is wrong, no trap, and
/// no checkpoint touched.
final class CLITests: XCTestCase {
    /// `makemore` next to the test bundle (`swift build --build-tests` builds both).
    static let binary: URL? = {
        var candidates = [URL]()
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        candidates.append(repositoryRoot.appendingPathComponent(".build/debug"))
        for dir in candidates {
            let url = dir.appendingPathComponent("makemore")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    var dir = ""
    var logs = ""
    /// The tile cache of every run of the suite (the tiny model's shapes are measured once).
    static let tileCache: String = {
        let path = NSTemporaryDirectory() + "makemore-cli-tiles-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: tileCache)
    }

    override func setUpWithError() throws {
        guard Self.binary != nil else {
            XCTFail("the makemore binary was not found next to the tests; run `swift build --build-tests` first")
            throw XCTSkip("no binary")
        }
        dir = try makeTemporaryDirectory()
        logs = try makeTemporaryDirectory()
        // A few hundred names and a tiny model: a run takes well under a second in debug.
        let names = try String(contentsOfFile: repositoryRoot.appendingPathComponent("data/names.txt").path, encoding: .utf8)
        let words = names.split(separator: "\n").prefix(400).joined(separator: "\n") + "\n"
        try words.write(toFile: dir + "/words.txt", atomically: false, encoding: .utf8)
        try Self.tinyConfig.write(toFile: dir + "/tiny.yaml", atomically: false, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.removeItem(atPath: logs)
    }

    static let tinyConfig = """
        data: {path: words.txt, column: null, clean: lowercase}
        model: {n_hidden: 16}
        train: {batch_size: 8, steps: 300, lr: [[0, 0.1], [150, 0.05]], eval_every: 0, checkpoint: out/m.safetensors, checkpoint_every: 100}
        parallel: {threads: 1, shards: 2, pin: false}

        """

    // MARK: Running the binary

    struct Run {
        var status: Int32
        /// Killed by signal `status` rather than exiting with it.
        var signaled = false
        var out: String
        var err: String
        var seconds: Double
    }

    final class Running {
        let process: Process
        let outPath: String, errPath: String
        let started = Date()
        init(process: Process, outPath: String, errPath: String) {
            self.process = process
            self.outPath = outPath
            self.errPath = errPath
        }
        var pid: Int32 { process.processIdentifier }
        var out: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        var err: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        func signal(_ sig: Int32) { _ = kill(pid, sig) }
    }

    func start(_ args: [String], in cwd: String? = nil, env: [String: String] = [:], executable: URL? = nil) throws -> Running {
        let p = Process()
        p.executableURL = executable ?? Self.binary!
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? dir)
        var e = ProcessInfo.processInfo.environment
        e["MAKEMORE_CACHE_DIR"] = Self.tileCache  // measured once for the whole suite, in a folder of its own
        for (k, v) in env { e[k] = v }
        p.environment = e
        let tag = UUID().uuidString
        let outPath = logs + "/\(tag).out", errPath = logs + "/\(tag).err"
        XCTAssertTrue(FileManager.default.createFile(atPath: outPath, contents: nil))
        XCTAssertTrue(FileManager.default.createFile(atPath: errPath, contents: nil))
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return Running(process: p, outPath: outPath, errPath: errPath)
    }

    /// Waits for `running` to exit (killing it after `timeout` seconds).
    func finish(_ running: Running, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line) -> Run {
        let deadline = Date().addingTimeInterval(timeout)
        while running.process.isRunning && Date() < deadline { usleep(5_000) }
        if running.process.isRunning {
            running.signal(SIGKILL)
            XCTFail("makemore did not finish within \(timeout) s", file: file, line: line)
        }
        running.process.waitUntilExit()
        return Run(status: running.process.terminationStatus,
                   signaled: running.process.terminationReason == .uncaughtSignal,
                   out: running.out, err: running.err, seconds: Date().timeIntervalSince(running.started))
    }

    @discardableResult
    func makemore(_ args: String..., in cwd: String? = nil, env: [String: String] = [:],
                  file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        finish(try start(args, in: cwd, env: env), file: file, line: line)
    }

    @discardableResult
    func makemore(_ args: [String], in cwd: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        finish(try start(args, in: cwd), file: file, line: line)
    }

    /// Polls `condition` every 5 ms for up to `timeout` seconds; a test failure (not a throw) if it never holds.
    func waitFor(_ what: String, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line,
                 _ condition: () -> Bool) {
        do { try wait(upTo: timeout, polling: 0.005, until: condition) } catch {
            XCTFail("timed out waiting for \(what)", file: file, line: line)
        }
    }

    func bytes(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path.hasPrefix("/") ? path : dir + "/" + path).map { [UInt8]($0) }
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: dir + "/" + path) }

    /// The files under `sub`, but the metrics logs beside the checkpoints
    /// (MetricsLog) and the lock files of runs (FileLock).
    func listing(_ sub: String = "") -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: dir + (sub.isEmpty ? "" : "/" + sub))) ?? [])
            .filter { !$0.hasSuffix(".metrics.csv") && !$0.hasSuffix(".lock") }.sorted()
    }

    func write(_ text: String, to name: String) throws {
        try text.write(toFile: dir + "/" + name, atomically: false, encoding: .utf8)
    }

    func writeBytes(_ b: [UInt8], to name: String) {
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(b)))
    }

    /// A refusal: status 1 (or `status`), one line on stderr starting "Error: "
    /// that contains each fragment, nothing on stdout, no trap.
    func assertRefused(_ r: Run, status: Int32 = 1, _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "exit status; stderr: \(r.err)", file: file, line: line)
        let err = r.err.hasSuffix("\n") ? String(r.err.dropLast()) : r.err
        XCTAssertFalse(err.contains("\n"), "stderr is not one line: \(r.err)", file: file, line: line)
        XCTAssertTrue(err.hasPrefix("Error: "), "stderr: \(r.err)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(err.contains(f), "stderr '\(err)' lacks '\(f)'", file: file, line: line)
        }
        for trap in ["Fatal error", "Stack dump", "Backtrace", "Crash", "💣"] {
            XCTAssertFalse(r.err.contains(trap) || r.out.contains(trap), "trapped: \(r.err)", file: file, line: line)
        }
    }

    /// Step of a checkpoint file, read through the library (which checks it whole).
    func step(_ path: String) throws -> Int {
        try Checkpoint.load(path: dir + "/" + path).step
    }

    // MARK: The happy path and resume

    func testTrainEvalSample() throws {
        let t = try makemore("train", "--config", "tiny.yaml", "--eval-every", "200")
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("checkpoint: out/m.safetensors (step 300)"), t.out)
        XCTAssertEqual(try step("out/m.safetensors"), 300)
        let e = try makemore("eval", "--checkpoint", "out/m.safetensors", "--json")
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.hasPrefix("{\"train\": "), e.out)
        let s = try makemore("sample", "--checkpoint", "out/m.safetensors", "-n", "5", "--seed", "3")
        XCTAssertEqual(s.status, 0, s.err)
        XCTAssertEqual(s.out.split(separator: "\n").count, 5, s.out)
        XCTAssertEqual(listing("out"), ["m.safetensors"], "no temporary files left")
        // The loss curve beside the checkpoint: a header, a row every 256 steps and at the end.
        let metrics = try String(contentsOfFile: dir + "/out/m.metrics.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(metrics.first.map(String.init), MetricsLog.header)
        XCTAssertEqual(metrics.dropFirst().map { Int($0.split(separator: ",")[0])! }, [200, 256, 300], "\(metrics)")
        XCTAssertFalse(metrics.last!.split(separator: ",", omittingEmptySubsequences: false)[4].isEmpty,
                       "the last row has the dev loss: \(metrics)")
        let info = try makemore("info", "out/m.safetensors")
        XCTAssertEqual(info.status, 0, info.err)
        for line in ["out/m.safetensors: step 300", "n_hidden 16", "W1             [30, 16]", "vocabulary: 27 symbols",
                     "batch sampler state: saved", "data: words.txt (column none, clean lowercase", "batch_size: 8"] {
            XCTAssertTrue(info.out.contains(line), "info shows \(line):\n\(info.out)")
        }
        assertRefused(try makemore("info", "nope.safetensors"), "nope.safetensors")
        // Temperature 0 and a vanishing one are greedy: the same names whatever the seed, no NaN.
        let greedy = try makemore("sample", "--checkpoint", "out/m.safetensors", "-n", "3", "--seed", "1", "--temperature", "0")
        XCTAssertEqual(greedy.status == 0 || greedy.status == 3, true, greedy.err)
        let names = greedy.out.split(separator: "\n")
        XCTAssertEqual(names.count, 3, greedy.out)
        XCTAssertEqual(Set(names).count, 1, "greedy sampling draws nothing: \(greedy.out)")
        let tiny = try makemore("sample", "--checkpoint", "out/m.safetensors", "-n", "3", "--seed", "9", "--temperature", "1e-310")
        XCTAssertEqual(tiny.out, greedy.out, "a vanishing temperature is greedy too")
        // Without --seed: a new seed each run, printed so the names can be drawn again.
        let a = try makemore("sample", "--checkpoint", "out/m.safetensors", "-n", "8")
        let seedLine = try XCTUnwrap(a.err.split(separator: "\n").first { $0.hasPrefix("seed ") }, a.err)
        let seed = String(seedLine.split(separator: " ")[1])
        let again = try makemore("sample", "--checkpoint", "out/m.safetensors", "-n", "8", "--seed", seed)
        XCTAssertEqual(again.out, a.out, "--seed \(seed) repeats the run that printed it")
        let b = try makemore("sample", "--checkpoint", "out/m.safetensors", "-n", "8")
        XCTAssertNotEqual(b.err, a.err, "two runs without --seed use different seeds")
    }

    /// Your own word list with one flag: no CSV column, a cleaning that keeps
    /// what you wrote (lowercase), and a checkpoint named after the data, so
    /// the bundled model's file is never the target.
    func testTrainOnYourOwnWordList() throws {
        try "Zoë\nÑandú\nana\nbob\n".write(toFile: dir + "/mine.txt", atomically: false, encoding: .utf8)
        let t = try makemore("train", "--data", "mine.txt", "--steps", "20", "--eval-every", "0", "--n-hidden", "16")
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("data: mine.txt (clean: lowercase)"), t.out)
        XCTAssertTrue(t.out.contains("checkpoint: runs/mine.safetensors (step 20)"), t.out)
        let vocabulary = try Checkpoint.load(path: dir + "/runs/mine.safetensors").vocabulary.symbolString
        XCTAssertTrue(vocabulary.contains("ë") && vocabulary.contains("ñ") && !vocabulary.contains("Z"), "accents kept, lowercased: \(vocabulary)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/runs/municipis.safetensors"))
        // A flag or a config still wins: --checkpoint names the file.
        let named = try makemore("train", "--data", "mine.txt", "--steps", "10", "--eval-every", "0", "--n-hidden", "16",
                                 "--checkpoint", "out/x.safetensors")
        XCTAssertEqual(named.status, 0, named.err)
        XCTAssertTrue(named.out.contains("checkpoint: out/x.safetensors"), named.out)
    }

    /// Characters whose symbols, joined into one string, split differently
    /// (combining marks, flags, jamo, ZWJ sequences): the checkpoint keeps the
    /// symbols one by one, so eval, sample and resume read it back.
    func testCharactersThatMergeWhenJoinedRoundTrip() throws {
        let words = ["e\u{301}te", "\u{301}abc", "caf\u{E9}", "🇪🇸🇫", "x🇫", "\u{1100}\u{1161}\u{11A8}", "x\u{1100}y",
                     "\u{1161}z", "👨\u{200D}👩\u{200D}👧", "👨", "\u{200D}x", "nb\u{A0}sp", "rtl\u{200F}x", "\u{903}ab",
                     "a\u{600}", "ana", "bob", "eve", "otto", "anna"]
        try (words + words + words).joined(separator: "\n").write(toFile: dir + "/hostile.txt", atomically: false, encoding: .utf8)
        let t = try makemore("train", "--data", "hostile.txt", "--clean", "none", "--steps", "200", "--eval-every", "0",
                             "--n-hidden", "16", "--checkpoint", "out/h.safetensors")
        XCTAssertEqual(t.status, 0, t.err)
        let saved = try Checkpoint.load(path: dir + "/out/h.safetensors").vocabulary
        XCTAssertEqual(saved.symbolList, Vocabulary(words: words).symbolList)
        XCTAssertNotEqual((try? Vocabulary(symbolString: saved.symbolString))?.count, saved.count, "the joined string alone would not do")
        let e = try makemore("eval", "--checkpoint", "out/h.safetensors", "--json")
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.hasPrefix("{\"train\": "), e.out)
        let s = try makemore("sample", "--checkpoint", "out/h.safetensors", "-n", "5", "--seed", "3")
        XCTAssertTrue(s.status == 0 || s.status == 3, s.err)
        XCTAssertEqual(s.out.split(separator: "\n").count, 5, s.out)
        let r = try makemore("train", "--resume", "out/h.safetensors", "--steps", "220")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("resuming at step 200 of 220"), r.out)
        XCTAssertEqual(try makemore("info", "out/h.safetensors").status, 0)
    }

    /// The kernels' ISA: forced AVX2 trains to the same checkpoint bytes as the
    /// default (AVX-512 where the CPU has it); an ISA the CPU lacks, or none
    /// makemore is built for, is one line and status 1 before anything runs.
    /// The tiles are remembered in the test's folder and reused.
    func testForcedISAAndTileCache() throws {
        let own = ["MAKEMORE_CACHE_DIR": dir]
        let auto = try makemore("train", "--config", "tiny.yaml", "--checkpoint", "out/auto.safetensors", env: own)
        XCTAssertEqual(auto.status, 0, auto.err)
        XCTAssertTrue(auto.out.contains("kernels: ") && auto.out.contains("measured in"), auto.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/tiles.tsv"), "the tile cache is written where MAKEMORE_CACHE_DIR says")
        let avx2 = try makemore("train", "--config", "tiny.yaml", "--checkpoint", "out/avx2.safetensors", env: ["MAKEMORE_ISA": "avx2", "MAKEMORE_CACHE_DIR": dir])
        XCTAssertEqual(avx2.status, 0, avx2.err)
        XCTAssertTrue(avx2.out.contains("AVX2 + FMA"), avx2.out)
        let again = try makemore("train", "--config", "tiny.yaml", "--checkpoint", "out/again.safetensors",
                                 env: ["MAKEMORE_ISA": "avx2", "MAKEMORE_CACHE_DIR": dir])
        XCTAssertTrue(again.out.contains("remembered for this CPU"), again.out)
        func bits(_ path: String) throws -> [UInt32] {
            let m = try Checkpoint.load(path: dir + "/" + path).model
            return (0..<m.layout.count).map { m.parameters.base[$0].bitPattern }
        }
        let a = try bits("out/auto.safetensors")
        XCTAssertTrue(a == (try bits("out/avx2.safetensors")), "the ISA changed the parameters")
        XCTAssertTrue(a == (try bits("out/again.safetensors")))
        assertRefused(try makemore("train", "--config", "tiny.yaml", env: ["MAKEMORE_ISA": "sse2"]), "MAKEMORE_ISA=sse2", "avx2 or avx512")
        // Help still answers where the kernels cannot run (as on a CPU without AVX2).
        for help in [try makemore("--help", env: ["MAKEMORE_ISA": "sse2"]), try makemore("train", "--help", env: ["MAKEMORE_ISA": "sse2"])] {
            XCTAssertEqual(help.status, 0, help.err)
            XCTAssertTrue(help.out.contains("USAGE: makemore"), help.out)
        }
        if !ISA.avx512.isSupported {
            assertRefused(try makemore("eval", "--checkpoint", "x", env: ["MAKEMORE_ISA": "avx512"]), "lacks AVX-512")
        }
        let tune = try makemore("tune", "--config", "tiny.yaml", env: own)
        XCTAssertEqual(tune.status, 0, tune.err)
        XCTAssertTrue(tune.out.contains("emb·W1") && tune.out.contains("remembered in \(dir)/tiles.tsv"), tune.out)
        // The binary alone, in a folder without the bundled data: the bundled data's shapes.
        let alone = try makemore("tune", "--n-hidden", "16", env: own)
        XCTAssertEqual(alone.status, 0, alone.err)
        XCTAssertTrue(alone.out.contains("no data/municipis.csv here") && alone.out.contains("V 29, K 30, H 16"), alone.out)
        // A data file that was asked for is still required.
        assertRefused(try makemore("tune", "--data", "missing.txt", env: own), "cannot read missing.txt")
    }

    func testHelpAndUsageStatuses() throws {
        let help = try makemore("--help")
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.out.contains("Exit status"), help.out)
        XCTAssertEqual(try makemore().status, 0, "no command: the overview")
        let trainHelp = try makemore("train", "--help")
        XCTAssertEqual(trainHelp.status, 0)
        XCTAssertTrue(trainHelp.out.contains("--resume [<path>]"), trainHelp.out)
        XCTAssertEqual(try makemore("eval", "--help").status, 0)
        XCTAssertEqual(try makemore("frobnicate").status, 2)
        XCTAssertEqual(try makemore("eval").status, 2, "missing --checkpoint")
        XCTAssertEqual(try makemore("sample", "--checkpoint", "x", "-n", "-3").status, 2)
        XCTAssertEqual(try makemore("sample", "--checkpoint", "x", "--temperature", "-1").status, 2)
        XCTAssertEqual(try makemore("gradcheck", "--checkpoint", "x", "--batch", "y", "--fd-samples=-5").status, 2)
    }

    /// A: 2000 steps on 1 thread. B: 1000 steps on 2 threads, then --resume on 1.
    /// C: stopped by SIGINT somewhere on 2 threads, then resumed from the file
    /// alone (no --config) on 1. All three final files are the same bytes.
    func testResumeEndsBitIdenticalToAnUninterruptedRun() throws {
        for run in ["A", "B", "C"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + run, withIntermediateDirectories: false)
            for f in ["words.txt", "tiny.yaml"] { try FileManager.default.copyItem(atPath: dir + "/" + f, toPath: dir + "/\(run)/" + f) }
        }
        let a = try makemore("train", "--config", "tiny.yaml", "--steps", "2000", "--threads", "1", in: dir + "/A")
        XCTAssertEqual(a.status, 0, a.err)

        let b1 = try makemore("train", "--config", "tiny.yaml", "--steps", "1000", "--threads", "2", "--oversubscribe", in: dir + "/B")
        XCTAssertEqual(b1.status, 0, b1.err)
        let b2 = try makemore("train", "--config", "tiny.yaml", "--steps", "2000", "--threads", "1", "--resume", in: dir + "/B")
        XCTAssertEqual(b2.status, 0, b2.err)
        XCTAssertTrue(b2.out.contains("resuming at step 1000 of 2000"), b2.out)

        let c1 = try start(["train", "--config", "tiny.yaml", "--steps", "2000", "--threads", "2", "--oversubscribe"], in: dir + "/C")
        waitFor("the first checkpoint") { FileManager.default.fileExists(atPath: dir + "/C/out/m.safetensors") }
        c1.signal(SIGINT)
        let c1r = finish(c1)
        let c2 = try makemore("train", "--resume", "out/m.safetensors", "--threads", "1", in: dir + "/C")
        XCTAssertEqual(c2.status, 0, c2.err)
        XCTAssertEqual(c1r.status, 130, c1r.err)
        XCTAssertTrue(c2.out.contains("resuming at step"), c2.out)

        let fileA = bytes("A/out/m.safetensors")
        XCTAssertNotNil(fileA)
        XCTAssertTrue(bytes("B/out/m.safetensors") == fileA, "B (1000 steps on 2 threads + 1000 on 1) differs from A")
        XCTAssertTrue(bytes("C/out/m.safetensors") == fileA, "C (SIGINT on 2 threads, resumed on 1) differs from A")
    }

    func testResumeOptionForms() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "100").status, 0)
        // --resume followed by another option: the configured checkpoint.
        let r1 = try makemore("train", "--config", "tiny.yaml", "--resume", "--steps", "150")
        XCTAssertEqual(r1.status, 0, r1.err)
        XCTAssertTrue(r1.out.contains("resuming at step 100 of 150"), r1.out)
        // --resume PATH and --resume=PATH, without --config: the checkpoint's own settings.
        let r2 = try makemore("train", "--resume", "out/m.safetensors", "--steps", "200")
        XCTAssertEqual(r2.status, 0, r2.err)
        XCTAssertTrue(r2.out.contains("resuming at step 150 of 200"), r2.out)
        let r3 = try makemore("train", "--resume=out/m.safetensors", "--steps", "250")
        XCTAssertEqual(r3.status, 0, r3.err)
        XCTAssertEqual(try step("out/m.safetensors"), 250)
        // --resume as the last word.
        let r4 = try makemore("train", "--config", "tiny.yaml", "--resume")
        XCTAssertEqual(r4.status, 0, r4.err)
        XCTAssertEqual(try step("out/m.safetensors"), 300)
        let r5 = try makemore("train", "--resume-from", "out/m.safetensors", "--steps", "320")
        XCTAssertEqual(r5.status, 0, r5.err)

        assertRefused(try makemore("train", "--config", "tiny.yaml", "--resume", "nothere.safetensors"),
                      "cannot resume from nothere.safetensors: No such file or directory")
        assertRefused(try makemore("train", "--resume", "out/m.safetensors", "--resume-from", "out/m.safetensors"), status: 2,
                      "either --resume or --resume-from")
        assertRefused(try makemore("train", "--resume", "tiny.yaml"), "tiny.yaml")
    }

    // MARK: Signals and kills

    /// SIGINT, then SIGTERM on the resumed run: each finishes the step, saves,
    /// says how to resume and exits 130 / 143; the command it prints works.
    func testSIGINTAndSIGTERMSaveAndSayHowToResume() throws {
        let path = "out/m.safetensors"
        let first = try start(["train", "--config", "tiny.yaml", "--steps", "1000000000"])
        waitFor("the first checkpoint") { exists(path) }
        first.signal(SIGINT)
        let r1 = finish(first)
        XCTAssertEqual(r1.status, 130, r1.err)
        let stopped = try XCTUnwrap(r1.out.split(separator: "\n").first { $0.hasPrefix("stopped by SIGINT after step ") }, r1.out)
        let n = Int(stopped.dropFirst("stopped by SIGINT after step ".count).prefix { $0.isNumber })!
        XCTAssertTrue(stopped.hasSuffix("checkpoint written to out/m.safetensors"), String(stopped))
        XCTAssertEqual(try step(path), n, "the checkpoint holds the step the message names")
        XCTAssertTrue(r1.out.contains("resume with: makemore train --resume out/m.safetensors\n"), r1.out)
        XCTAssertEqual(listing("out"), ["m.safetensors"])

        // The printed command, run as printed.
        let second = try start(["train", "--resume", "out/m.safetensors"])
        waitFor("the resumed run to save") { second.out.contains("resuming at step \(n) of") && ((try? step(path)) ?? n) > n }
        second.signal(SIGTERM)
        let r2 = finish(second)
        XCTAssertEqual(r2.status, 143, r2.err)
        XCTAssertTrue(r2.out.contains("stopped by SIGTERM after step "), r2.out)
        XCTAssertFalse(r2.out.contains("will not match") || r2.err.contains("will not match"), "the printed command continues the same run: \(r2.err)")
        // The metrics go on from the checkpoint's step: rows in order, none repeated, elapsed time growing.
        let rows = try String(contentsOfFile: dir + "/out/m.metrics.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let steps = rows.map { Int($0[0])! }, elapsed = rows.map { Double($0[5])! }
        XCTAssertEqual(steps, steps.sorted(), "\(steps)")
        XCTAssertEqual(Set(steps).count, steps.count, "\(steps)")
        XCTAssertEqual(elapsed, elapsed.sorted(), "\(elapsed)")
        XCTAssertTrue(steps.contains { $0 > n } && steps.contains { $0 <= n }, "rows of both runs: \(steps)")
        XCTAssertGreaterThan(try step(path), n)
    }

    /// A second Ctrl-C while the first one's checkpoint is being written exits
    /// at once: the last good checkpoint stays byte for byte as it was. (The
    /// test holds the finished temporary file before its rename.) The next
    /// save removes the killed writer's temporary file.
    func testSecondSIGINTExitsAtOnceAndLeavesTheCheckpoint() throws {
        let path = "out/m.safetensors"
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "200").status, 0)
        let before = bytes(path)
        let run = try start(["train", "--config", "tiny.yaml", "--resume", "--steps", "1000000000", "--checkpoint-every", "0"],
                            env: ["MAKEMORE_TEST_PAUSE_BEFORE_RENAME": "30"])
        waitFor("the loop to start") { run.out.contains("resuming at step 200") }
        run.signal(SIGINT)
        waitFor("the stop checkpoint's temporary file") { listing("out").count == 2 }
        let second = Date()
        run.signal(SIGINT)
        let r = finish(run)
        XCTAssertEqual(r.status, 130)
        XCTAssertLessThan(Date().timeIntervalSince(second), 5, "the second SIGINT did not exit at once")
        XCTAssertTrue(bytes(path) == before, "the last good checkpoint changed")
        XCTAssertEqual(try step(path), 200)
        let temp = listing("out").filter { $0 != "m.safetensors" }
        XCTAssertEqual(temp.count, 1)
        XCTAssertTrue(temp.first?.hasPrefix(".m.safetensors.tmp-\(run.pid)-") == true, "\(temp)")

        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--resume", "--steps", "250").status, 0)
        XCTAssertEqual(listing("out"), ["m.safetensors"], "the dead writer's temporary file is cleaned up")
        XCTAssertEqual(try step(path), 250)
    }

    /// SIGKILL at random moments of a run that saves after every step: the
    /// checkpoint always loads whole, and its step never goes back.
    func testKillNineNeverLeavesATornCheckpoint() throws {
        let path = "out/m.safetensors"
        var rng = Xoshiro(seed: 9)
        var last = 0
        for round in 0..<12 {
            let args = ["train", "--config", "tiny.yaml", "--steps", "1000000000", "--checkpoint-every", "1"] + (round > 0 ? ["--resume"] : [])
            let run = try start(args)
            if round == 0 { waitFor("the first checkpoint") { exists(path) } }
            usleep(UInt32(20_000 + rng.below(250_000)))
            run.signal(SIGKILL)
            let r = finish(run)
            XCTAssertTrue(r.signaled && r.status == SIGKILL, "round \(round): \(r.status) \(r.err)")
            let now = try step(path)  // throws if torn
            XCTAssertGreaterThanOrEqual(now, last, "round \(round)")
            last = now
        }
        XCTAssertGreaterThan(last, 1)
        // The next save clears the temporary files the killed writers left.
        let after = try makemore("train", "--config", "tiny.yaml", "--resume", "--steps", "\(last + 5)")
        XCTAssertEqual(after.status, 0, after.err)
        XCTAssertEqual(listing("out"), ["m.safetensors"])
        XCTAssertEqual(try step(path), last + 5)
    }

    // MARK: Divergence

    func testHugeLearningRateStopsWithTheStepAndTheLastGoodCheckpoint() throws {
        let r = try makemore("train", "--config", "tiny.yaml", "--lr", "1e30", "--checkpoint-every", "1")
        assertRefused(r, "step 2: the loss is not finite", "last good checkpoint: out/m.safetensors (step 1, kept)", "train.lr")
        XCTAssertEqual(try step("out/m.safetensors"), 1, "the step-1 checkpoint loads: finite values only")

        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "50").status, 0)
        let before = bytes("out/m.safetensors")
        let r2 = try makemore("train", "--config", "tiny.yaml", "--lr", "1e30", "--checkpoint-every", "0")
        assertRefused(r2, "not finite", "last good checkpoint: out/m.safetensors (untouched by this run)")
        XCTAssertTrue(bytes("out/m.safetensors") == before)
    }

    // MARK: Hostile input

    /// A valid checkpoint's header as a JSON object, and its data.
    func validCheckpoint() throws -> (header: [String: Any], data: [UInt8]) {
        if !exists("good.safetensors") {
            XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--checkpoint", "good.safetensors").status, 0)
        }
        let b = bytes("good.safetensors")!
        let n = Int(b[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try JSONSerialization.jsonObject(with: Data(b[8..<(8 + n)])) as! [String: Any]
        return (header, Array(b[(8 + n)...]))
    }

    func safetensors(_ header: [String: Any], _ data: [UInt8], length: UInt64? = nil) throws -> [UInt8] {
        let json = [UInt8](try JSONSerialization.data(withJSONObject: header))
        let n = length ?? UInt64(json.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * $0)) } + json + data
    }

    func testHostileCheckpointsForEvalAndSample() throws {
        let (header, data) = try validCheckpoint()
        let good = bytes("good.safetensors")!
        var rng = Xoshiro(seed: 5)
        writeBytes([], to: "empty.safetensors")
        writeBytes(Array(good.prefix(good.count / 2)), to: "truncated.safetensors")
        writeBytes(Array(good.prefix(5)), to: "five.safetensors")
        writeBytes((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, to: "random.safetensors")
        writeBytes(try safetensors(header, data, length: 1 << 63), to: "len63.safetensors")
        var past = header
        var w2 = past["W2"] as! [String: Any]
        w2["data_offsets"] = [0, data.count + 4096]
        past["W2"] = w2
        writeBytes(try safetensors(past, data), to: "offsets.safetensors")
        var shapeLie = header
        var c = shapeLie["C"] as! [String: Any]
        c["shape"] = [27, 11]
        shapeLie["C"] = c
        writeBytes(try safetensors(shapeLie, data), to: "shape.safetensors")
        var vocabLie = header
        var meta = vocabLie["__metadata__"] as! [String: String]
        meta["vocab"] = ".abc"
        meta["vocab_symbols"] = #"[".","a","b","c"]"#
        vocabLie["__metadata__"] = meta
        writeBytes(try safetensors(vocabLie, data), to: "vocab.safetensors")
        var blockLie = header
        meta = blockLie["__metadata__"] as! [String: String]
        meta["block_size"] = "4"
        blockLie["__metadata__"] = meta
        writeBytes(try safetensors(blockLie, data), to: "block.safetensors")
        try FileManager.default.createDirectory(atPath: dir + "/folder.safetensors", withIntermediateDirectories: false)

        let cases: [(String, String)] = [
            ("empty.safetensors", "empty file"),
            ("truncated.safetensors", "truncated.safetensors:"),
            ("five.safetensors", "five.safetensors:"),
            ("random.safetensors", "random.safetensors:"),
            ("len63.safetensors", "header length"),
            ("offsets.safetensors", "offsets.safetensors:"),
            ("shape.safetensors", "shape.safetensors:"),
            ("vocab.safetensors", "the vocabulary has 4 symbols"),
            ("block.safetensors", "block_size"),
            ("folder.safetensors", "Is a directory"),
            ("missing.safetensors", "No such file or directory"),
        ]
        let before = listing()
        for (name, fragment) in cases {
            assertRefused(try makemore("eval", "--checkpoint", name), fragment)
            assertRefused(try makemore("sample", "--checkpoint", name, "-n", "2"), fragment)
            assertRefused(try makemore("train", "--config", "tiny.yaml", "--resume", name), name)
        }
        XCTAssertEqual(listing(), before, "nothing written")
    }

    func testCheckpointForOtherDataOrBlockSize() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        let before = bytes("out/m.safetensors")
        try write("Nom\nJosé\nÀger\nla-roda\n", to: "accents.csv")
        assertRefused(try makemore("eval", "--checkpoint", "out/m.safetensors", "--data", "accents.csv", "--column", "Nom", "--clean", "none"),
                      "accents.csv", "not in the vocabulary", "out/m.safetensors")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--resume", "--data", "accents.csv", "--column", "Nom", "--clean", "none"),
                      "accents.csv", "not in the vocabulary")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--resume", "--block-size", "5"),
                      "out/m.safetensors: its model", "block=3", "block=5")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--resume", "--n-hidden", "32"), "out/m.safetensors: its model")
        XCTAssertTrue(bytes("out/m.safetensors") == before)
    }

    func testHostileConfigs() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        let before = bytes("out/m.safetensors")
        let cases: [(String, [UInt8], [String])] = [
            ("notyaml.yaml", Array("data: [unclosed\n  - x: {".utf8), ["not valid YAML"]),
            ("list.yaml", Array("- a\n- b\n".utf8), ["list.yaml:1:", "expected a mapping"]),
            ("unknown.yaml", Array("train:\n  batch_sise: 3\n".utf8), ["unknown.yaml:2:", "train.batch_sise: unknown key"]),
            ("type.yaml", Array("train: {steps: many}\n".utf8), ["type.yaml:1:", "train.steps: expected an integer, got 'many'"]),
            ("steps.yaml", Array("train: {steps: -1}\n".utf8), ["steps.yaml:1:", "train.steps: must not be negative"]),
            ("batch.yaml", Array("train: {batch_size: 0}\n".utf8), ["batch.yaml:1:", "train.batch_size"]),
            ("threads.yaml", Array("parallel: {threads: 1e12, oversubscribe: true}\n".utf8), ["threads.yaml:1:", "parallel.threads", "4096"]),
            ("hidden.yaml", Array("model: {n_hidden: 1e9}\n".utf8), ["hidden.yaml:1:", "model.n_hidden"]),
            ("lr.yaml", Array("train: {lr: [[0, -1]]}\n".utf8), ["lr.yaml:1:", "train.lr"]),
            ("binary.yaml", [0x00, 0xFF, 0xFE, 0x41], ["binary.yaml: not valid UTF-8"]),
            ("deep.yaml", Array(String(repeating: "[", count: 100_000).utf8), ["deep.yaml: not valid YAML"]),
        ]
        for (name, content, fragments) in cases {
            writeBytes(content, to: name)
            let r = finish(try start(["train", "--config", name, "--checkpoint", "out/m.safetensors"]))
            XCTAssertEqual(r.status, 1, name)
            let err = r.err.trimmingCharacters(in: .newlines)
            XCTAssertFalse(err.contains("\n"), "\(name): \(r.err)")
            for f in fragments { XCTAssertTrue(err.contains(f), "\(name): '\(err)' lacks '\(f)'") }
            XCTAssertFalse(r.out.contains("step "), "\(name): trained anyway")
        }
        assertRefused(try makemore("train", "--config", "missing.yaml"), "cannot read config missing.yaml: No such file or directory")
        // The default data.path, data/municipis.csv, from a directory that has no data/ (this test's own).
        assertRefused(try makemore("train", "--steps", "1", "--checkpoint", "out/d.safetensors"),
                      "cannot read data/municipis.csv (data.path): no such file in \(dir)", "read from the directory makemore runs in")
        // The same absurd values as flags.
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--steps=-1"), "--steps: train.steps: must not be negative")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--batch-size", "0"), "--batch-size: train.batch_size")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--threads", "1e12"), status: 2, "--threads")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--threads", "100000", "--oversubscribe"), "--threads: parallel.threads")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--lr", "fast"), status: 2, "--lr")
        XCTAssertEqual(try makemore("train", "--no-such-flag").status, 2)
        XCTAssertEqual(try makemore("train", "--steps", "many").status, 2)
        XCTAssertTrue(bytes("out/m.safetensors") == before, "a refused config touched the checkpoint")
    }

    func testHostileWordLists() throws {
        let cases: [(String, [UInt8], String)] = [
            ("unclosed.csv", Array("Nom\nabc\n\"def\nghi\n".utf8), "unclosed.csv:3: unclosed quote"),
            ("emptyname.csv", Array("Nom\nabc\n\"\"\n".utf8), "emptyname.csv:3: empty name"),
            ("latin1.csv", [78, 111, 109, 10, 97, 98, 99, 10, 0xE9, 10], "latin1.csv: not valid UTF-8 (byte offset 8)"),
            ("fields.csv", Array("Nom,Id\nabc,1\ndef\n".utf8), "fields.csv:3: 1 field, expected 2"),
            ("header.csv", Array("Nom\n".utf8), "header.csv: no words"),
            ("nocolumn.csv", Array("Name\nabc\n".utf8), "nocolumn.csv: no column 'Nom'"),
            ("marker.csv", Array("Nom\na.b\n".utf8), "marker.csv:2: word 'a.b' contains '.'"),
        ]
        for (name, content, fragment) in cases {
            writeBytes(content, to: name)
            assertRefused(try makemore("train", "--config", "tiny.yaml", "--data", name, "--column", "Nom", "--clean", "none"), fragment)
        }
        XCTAssertFalse(exists("out"), "nothing written")
    }

    /// Finite weights that overflow float32 in the forward pass: eval says so
    /// instead of printing -nan (or null in JSON).
    func testEvalOfAModelWhoseActivationsOverflowIsAnError() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        var file = try SafetensorsFile.read(path: dir + "/out/m.safetensors")
        let w2 = try XCTUnwrap(file.tensors["W2"])
        file.tensors["W2"] = TensorData(floats: try XCTUnwrap(w2.floats()).map { $0 < 0 ? -3e38 : 3e38 }, shape: w2.shape)
        try file.write(to: dir + "/huge.safetensors")
        for args in [["eval", "--checkpoint", "huge.safetensors"], ["eval", "--checkpoint", "huge.safetensors", "--json"]] {
            let r = try makemore(args)
            assertRefused(r, "huge.safetensors: the loss on", "is not finite (the model's activations overflow")
            XCTAssertFalse(r.out.lowercased().contains("nan") || r.out.contains("inf") || r.out.contains("null"), r.out)
        }
    }

    /// A reference gradient file holding NaN or infinity cannot pass gradcheck.
    func testGradcheckFailsOnNaNOrInfinity() throws {
        let model = fixturePath("model.safetensors"), batch = fixturePath("batch.safetensors")
        XCTAssertEqual(try makemore("grads", "--checkpoint", model, "--batch", batch, "--out", "ref.safetensors").status, 0)
        let good = try makemore("gradcheck", "--checkpoint", model, "--batch", batch, "--reference", "ref.safetensors", "--fd-samples", "2")
        XCTAssertEqual(good.status, 0, good.out)
        XCTAssertTrue(good.out.contains("gradcheck: all checks passed"), good.out)
        for (tensor, bad) in [("W1", Float.nan), ("b2", Float.infinity), ("loss", Float.nan)] {
            var file = try SafetensorsFile.read(path: dir + "/ref.safetensors")
            let t = try XCTUnwrap(file.tensors[tensor])
            var values = try XCTUnwrap(t.floats())
            values[values.count / 2] = bad
            file.tensors[tensor] = TensorData(floats: values, shape: t.shape)
            try file.write(to: dir + "/bad.safetensors")
            let r = try makemore("gradcheck", "--checkpoint", model, "--batch", batch, "--reference", "bad.safetensors", "--fd-samples", "2")
            XCTAssertEqual(r.status, 1, "\(tensor) = \(bad): \(r.out)")
            XCTAssertTrue(r.out.contains("gradcheck: FAILED") && !r.out.contains("all checks passed"), r.out)
        }
    }

    /// bench --from a results file with impossible numbers: one line naming the
    /// file and the field, status 1, never a division-by-zero or conversion trap.
    func testBenchFromHostileResults() throws {
        let good = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: repositoryRoot.appendingPathComponent("bench/results/makemore.json"))) as? [String: Any])
        func cellEdit(_ key: String, _ value: Any?) -> (inout [String: Any]) -> Void {
            { root in
                var cells = root["results"] as! [[String: Any]]
                cells[0][key] = value
                root["results"] = cells
            }
        }
        let cases: [(String, (inout [String: Any]) -> Void, (String, String)?, String)] = [
            ("shards0", cellEdit("shards", 0), nil, "results[0].shards: must be in 1..."),
            ("threads", cellEdit("threads", -3), nil, "results[0].threads: must be in 1...4096, got -3"),
            ("batch0", cellEdit("batch_size", 0), nil, "results[0].batch_size"),
            ("batchneg", cellEdit("batch_size", -32), nil, "results[0].batch_size"),
            ("huge", cellEdit("n_hidden", 4_611_686_018_427_387_904), nil, "results[0].n_hidden"),
            ("hugetext", cellEdit("ranks", 7), ("\"ranks\":7", "\"ranks\":123456789012345678901234567890"), "results[0].ranks"),
            ("nan", cellEdit("us_per_step_median", 424242.5), ("424242.5", "NaN"), "results[0].us_per_step_median: NaN"),
            ("inf", cellEdit("us_per_step_min", 424242.5), ("424242.5", "1e999"), "results[0].us_per_step_min: 1e999"),
            ("zero", cellEdit("us_per_step_median", 0), nil, "results[0].us_per_step_median"),
            ("missing", cellEdit("shards", nil), nil, "results[0].shards: missing"),
            ("embd", { $0["n_embd"] = 0 }, nil, "n_embd"),
        ]
        for (name, edit, text, fragment) in cases {
            var root = good
            edit(&root)
            var json = String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]), as: UTF8.self)
            if let (from, to) = text {
                XCTAssertTrue(json.contains(from), name)
                json = json.replacingOccurrences(of: from, with: to)
            }
            try write(json, to: name + ".json")
            assertRefused(try makemore("bench", "--from", name + ".json", "--predict"), "\(name).json: \(fragment)")
        }
        let ok = try makemore("bench", "--from", repositoryRoot.appendingPathComponent("bench/results/ranks.json").path, "--predict")
        XCTAssertEqual(ok.status, 0, ok.err)
        // Written with the thread model's predictions, read without them: the ranks model only, at 1 thread per rank.
        XCTAssertTrue(ok.out.contains("Scaling model, R ranks × 1 thread per rank (one host, shared memory)"), ok.out)
        XCTAssertTrue(ok.out.contains("α 5.67 µs") && ok.out.contains("929.2k 22% 38.0 kB"), ok.out)
        XCTAssertEqual(ok.out.components(separatedBy: "\nmeasured").count - 1, 6, ok.out)  // 1 and 2 ranks × 3 batches
        XCTAssertFalse(ok.out.contains("T=2") || ok.out.contains("nodes") || ok.out.contains("ν(N)"), ok.out)
    }

    /// Sizes no run could finish are usage errors (status 2) that state the bound.
    func testBenchSizesBeyondTheBoundsAreUsageErrors() throws {
        let cases: [([String], String)] = [
            (["--steps", "1000000000000"], "--steps: must be in 0...10000000"),
            (["--warmup", "99999999999"], "--warmup: must be in 0...10000000"),
            (["--repeats", "5000"], "--repeats: must be in 1...1000"),
            (["--threads", "1,100000"], "--threads: must be in 1...4096"),
            (["--batch-size", "32,1000000000"], "--batch-size: must be in 2...16777216"),
            (["--n-hidden", "0"], "--n-hidden: must be in 1...65536"),
            (["--ranks=-1"], "--ranks: must be in 1...4096"),
        ]
        for (args, fragment) in cases {
            let r = try makemore(["bench"] + args)
            assertRefused(r, status: 2, fragment)
            XCTAssertLessThan(r.seconds, 30, "\(args) ran")
        }
        try write("bench:\n  steps: 1000000000000\n", to: "steps.yaml")
        assertRefused(try makemore("bench", "--config", "steps.yaml"), "bench.steps: must be in 0...10000000")
        let help = try makemore("bench", "--help").out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for bound in ["at most 10000000", "1–4096", "2–16777216", "1–65536", "1–1000"] {
            XCTAssertTrue(help.contains(bound), "--help states \(bound)")
        }
    }

    /// Where `bench` writes its results is checked before the grid runs: a run
    /// of minutes must not end in "cannot write".
    func testBenchRefusesAnUnwritableOutputBeforeRunning() throws {
        try write("not a folder\n", to: "plain")
        let cases: [([String], String)] = [
            (["--json", "plain/r.json"], "cannot write plain/r.json: plain is not a folder"),
            (["--csv", "plain/sub/r.csv"], "cannot write plain/sub/r.csv: cannot create the folder plain/sub: Not a directory"),
            (["--json", "."], "cannot write .: it is a folder"),
        ]
        for (args, fragment) in cases {
            let r = try makemore(["bench", "--threads", "1", "--batch-size", "32", "--n-hidden", "8", "--peak-s", "0"] + args)
            assertRefused(r, fragment)
            XCTAssertFalse(r.out.contains("µs/step"), "a cell ran before the refusal: \(r.out)")
        }
    }

    // MARK: Resources

    func testConfigTooBigForMemoryIsRefusedWithItsSize() throws {
        let r = try makemore("train", "--config", "tiny.yaml", "--batch-size", "16777216", "--n-hidden", "65536",
                             "--shards", "1048576")
        assertRefused(r, "this config needs", "TiB", "lower train.batch_size")
        XCTAssertFalse(exists("out"))
    }

    func testUnwritableCheckpointFolderIsRefusedBeforeTraining() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/blocker", contents: Data("x".utf8)))
        let r = try makemore("train", "--config", "tiny.yaml", "--checkpoint", "blocker/m.safetensors")
        assertRefused(r, "cannot write blocker/m.safetensors", "not a folder")
        XCTAssertFalse(r.out.contains("step "), "trained before finding out")
        let r2 = try makemore("train", "--config", "tiny.yaml", "--checkpoint", "blocker/deeper/m.safetensors")
        assertRefused(r2, "cannot write blocker/deeper/m.safetensors")
    }

    /// A file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored: writes fail with
    /// EFBIG like a full disk) that the old small checkpoint fits and the new
    /// bigger one does not: every save fails, is reported, and keeps the old file.
    func testFullDiskWhileSavingKeepsThePreviousCheckpoint() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        let before = bytes("out/m.safetensors")!
        XCTAssertLessThan(before.count, 10_000)
        let script = "trap '' XFSZ; ulimit -f 10; exec \"$0\" \"$@\""
        let run = try start(["-c", script, Self.binary!.path, "train", "--config", "tiny.yaml", "--n-hidden", "64", "--steps", "250",
                                  "--force"],
                            executable: URL(fileURLWithPath: "/bin/bash"))
        let r = finish(run)
        assertRefused(r, "step 250: cannot write out/m.safetensors: File too large (previous file kept)")
        XCTAssertEqual(r.out.components(separatedBy: "warning: step ").count - 1, 2, "the saves at 100 and 200 warn: \(r.out)")
        XCTAssertTrue(bytes("out/m.safetensors")! == before)
        XCTAssertEqual(listing("out"), ["m.safetensors"])
    }
}
