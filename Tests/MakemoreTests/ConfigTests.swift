import Foundation
import XCTest
@testable import Makemore

/// The config reader and `validate()` against hostile files: each problem is a
/// one-line `MakemoreError` naming the file (and line) or the flag, and the key.
final class ConfigTests: XCTestCase {
    func error(_ yaml: String, validate: Bool = true) -> String? {
        do {
            let c = try Config.parse(yaml: yaml, source: "x.yaml")
            if validate { try c.validate() }
            return nil
        } catch let e as MakemoreError {
            return e.message
        } catch {
            return "not a MakemoreError: \(error)"
        }
    }

    func assertError(_ yaml: String, _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) {
        guard let message = error(yaml) else { return XCTFail("accepted: \(yaml)", file: file, line: line) }
        XCTAssertFalse(message.contains("\n"), "not one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.hasPrefix("x.yaml"), "does not name the file: \(message)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(message.contains(f), "'\(message)' lacks '\(f)'", file: file, line: line)
        }
    }

    func testBundledConfigsAreValid() throws {
        for name in ["municipis", "names"] {
            let c = try Config.load(path: repositoryRoot.appendingPathComponent("configs/\(name).yaml").path)
            try c.validate()
            XCTAssertEqual(c.train.steps, 200_000)
        }
    }

    func testNotYAML() {
        assertError("data: [unclosed\n  - x: {", "not valid YAML")
        assertError("train: {steps: 1, steps: 2}", "not valid YAML")
        assertError("- a\n- b\n", "x.yaml:1:", "top level", "expected a mapping")
        assertError("just a sentence", "top level")
    }

    func testUnknownKeysAndWrongTypes() {
        assertError("train:\n  batch_sise: 3\n", "x.yaml:2:", "train.batch_sise", "unknown key", "batch_size")
        assertError("trian: {}", "trian", "unknown key")
        assertError("train: {steps: many}", "train.steps", "expected an integer", "many")
        assertError("train: {steps: 1.5}", "train.steps", "expected an integer")
        assertError("train: {lr: fast}", "train.lr", "finite number")
        assertError("train: {lr: [[0]]}", "train.lr[0]", "[step, learning_rate]")
        assertError("train: {bn_momentum: .nan}", "train.bn_momentum", "finite number")
        assertError("parallel: {pin: maybe}", "parallel.pin", "true or false")
        assertError("model: [1, 2]", "model", "expected a mapping")
        assertError("data: {split: 0.8}", "data.split", "expected a list")
        assertError("data: {path: [a]}", "data.path", "expected a string")
        assertError("parallel: {threads: {per_node: x}}", "parallel.threads.per_node")
    }

    func testAbsurdValuesNameFileLineAndKey() {
        assertError("train:\n  steps: -1\n", "x.yaml:2:", "train.steps", "negative")
        assertError("train: {batch_size: 0}", "x.yaml:1:", "train.batch_size", "at least 2")
        assertError("train: {batch_size: 1e12}", "train.batch_size", "at most")
        assertError("parallel: {threads: 1e12}", "parallel.threads", "at most 4096")
        assertError("parallel: {threads: 1e12, oversubscribe: true}", "parallel.threads")
        assertError("parallel: {threads: {per_node: 100000}}", "parallel.threads")
        assertError("parallel: {threads: 0}", "parallel.threads", "at least 1")
        assertError("parallel: {threads: 9, shards: 8}", "parallel.threads", "parallel.shards is 8")
        assertError("parallel: {shards: 0}", "parallel.shards")
        assertError("parallel: {shards: 64}", "parallel.shards", "64 shards cannot split a batch of 32")
        assertError("parallel: {topology: {nodes: [[0], [99999999999]]}}", "parallel.topology")
        assertError("parallel: {nodes: [-1]}", "parallel.nodes")
        assertError("model: {n_hidden: 1e9}", "model.n_hidden")
        assertError("model: {block_size: 0}", "model.block_size")
        assertError("model: {block_size: 64, n_embd: 4096}", "block_size × n_embd")
        assertError("train: {lr: -0.1}", "train.lr", "positive")
        assertError("train: {lr: 1e39}", "train.lr", "float32")
        assertError("train: {lr: [[5, 0.1]]}", "train.lr", "start at step 0")
        assertError("train: {lr: [[0, 0.1], [0, 0.2]]}", "train.lr", "increase")
        assertError("train: {steps: 1e300}", "train.steps", "expected an integer")
        assertError("train: {eval_every: -5}", "train.eval_every")
        assertError("train: {checkpoint: ''}", "train.checkpoint")
        assertError("train: {checkpoint: 'runs/'}", "train.checkpoint", "folder")
        assertError("data: {split: [0.5, 0.5, 0.5]}", "data.split")
        assertError("data: {split: [.inf, 0, 0]}", "data.split")
        assertError("train: {bn_momentum: 2}", "train.bn_momentum")
        assertError("model: {init_seed: 99999999999999999999}", "model.init_seed")
    }

    func testFlagOriginNamesTheFlag() throws {
        var c = try Config.parse(yaml: "train: {steps: 5}", source: "x.yaml")
        c.train.steps = -1
        c.origins["train.steps"] = "--steps"
        XCTAssertThrowsError(try c.validate()) { e in
            XCTAssertEqual("\(e)", "--steps: train.steps: must not be negative, got -1")
        }
    }

    func testOneLineEvenForHostileKeys() {
        guard let m = error("\"a\\nb\\u2028c\": 1") else { return XCTFail("accepted") }
        XCTAssertFalse(m.contains("\n"))
        XCTAssertFalse(m.contains("\u{2028}"))
        guard let long = error(String(repeating: "k", count: 100_000) + ": 1") else { return XCTFail("accepted") }
        XCTAssertLessThan(long.count, 400)
    }

    func testEmptyFileIsTheDefaults() throws {
        XCTAssertEqual(try Config.parse(yaml: "", source: "x.yaml"), Config())
        XCTAssertEqual(try Config.parse(yaml: "# only a comment\n", source: "x.yaml"), Config())
    }

    func testResultDefiningDropsOnlyExecution() {
        var c = Config()
        c.parallel = .init(threads: .count(3), nodes: [0], pin: false, shards: 5, oversubscribe: true, topology: [[0], [1]])
        let r = c.resultDefining
        XCTAssertEqual(r.parallel.shards, 5)
        XCTAssertEqual(r.parallel.threads, .auto)
        XCTAssertEqual(r.parallel.topology, nil)
        XCTAssertEqual(r.train, c.train)
        XCTAssertEqual(r.data, c.data)
        XCTAssertEqual(r.model, c.model)
    }

    /// `shards: auto` is a function of the batch size alone (never of the
    /// threads), stored resolved in checkpoints.
    func testAutoShards() throws {
        XCTAssertEqual([2, 32, 255, 256, 512, 1024, 2048, 4096, 1 << 20].map { Config.autoShards(batchSize: $0) },
                       [2, 2, 2, 2, 4, 8, 16, 32, 32])
        var c = try Config.parse(yaml: "train: {batch_size: 1024}\nparallel: {shards: auto}", source: "x.yaml")
        XCTAssertNil(c.parallel.shards)
        XCTAssertEqual(c.shards, 8)
        XCTAssertEqual(c.resultDefining.parallel.shards, 8)
        XCTAssertTrue(c.yaml(execution: false).contains("shards: 8"))
        XCTAssertTrue(c.yaml.contains("shards: auto"))
        c.parallel.shards = 3
        XCTAssertEqual(c.shards, 3)
        XCTAssertEqual(Config().shards, 2, "the default batch of 32")
        // threads: auto gives each thread ≥128 rows and a shard: batch 32 runs on one thread.
        XCTAssertEqual(Trainer.autoThreadLimit(batchSize: 32, shards: 2), 1)
        XCTAssertEqual(Trainer.autoThreadLimit(batchSize: 256, shards: 2), 2)
        XCTAssertEqual(Trainer.autoThreadLimit(batchSize: 1024, shards: 8), 8)
        XCTAssertEqual(Trainer.autoThreadLimit(batchSize: 4096, shards: 4), 4)
    }

    // MARK: Properties

    /// A random config: odd but representable values, including paths with
    /// quotes, backslashes, line breaks and non-ASCII characters.
    func randomConfig(_ rng: inout Xoshiro) -> Config {
        func pick<T>(_ xs: [T]) -> T { xs[rng.below(xs.count)] }
        func int() -> Int { pick([0, 1, -1, 42, 2_147_483_647, Int.max, Int.min, Int(rng.next() >> 1)]) }
        func text() -> String {
            let pieces = ["a", "runs/", "\"", "\\", "\n", "\t", "é", "名", "'", ": ", "#", " ", "- ", "{", "}", "[", "null", "~", "\u{2028}", "\u{7F}", "\u{85}"]
            return (0..<(1 + rng.below(6))).map { _ in pick(pieces) }.joined()
        }
        func rate() -> Double { pick([0.1, 1e-5, 3.0, 1e30, 0.1 + 0.2]) }
        var c = Config()
        c.data.path = text()
        c.data.column = rng.below(2) == 0 ? nil : text()
        c.data.clean = text()
        c.data.split = [rng.uniform(), rng.uniform(), rng.uniform()]
        c.data.seed = int()
        c.model = .init(blockSize: int(), nEmbd: int(), nHidden: int(), initSeed: int())
        c.train.batchSize = int()
        c.train.steps = int()
        c.train.lr = (0..<(1 + rng.below(3))).map { LearningRatePoint(step: $0 * 1000, rate: rate()) }
        c.train.bnMomentum = rng.uniform()
        c.train.seed = int()
        c.train.evalEvery = int()
        c.train.checkpoint = text()
        c.train.checkpointEvery = int()
        c.parallel.threads = pick([.auto, .count(int()), .perNode(int())])
        c.parallel.nodes = rng.below(2) == 0 ? nil : [0, 3]
        c.parallel.pin = rng.below(2) == 0
        c.parallel.shards = rng.below(4) == 0 ? nil : int()
        c.parallel.oversubscribe = rng.below(2) == 0
        c.parallel.topology = rng.below(2) == 0 ? nil : [[0, 1], [2]]
        return c
    }

    /// Property: writing a config as YAML and reading it back gives the same config
    /// (the form stored in checkpoints drops only the execution settings).
    /// The key table is the one list: unique paths, a help text each, and
    /// exactly the keys the reader knows (an unknown key's error lists them).
    func testEveryKeyIsInTheTableOnce() throws {
        XCTAssertEqual(Set(Config.keys.map(\.path)).count, Config.keys.count)
        for key in Config.keys { XCTAssertFalse(key.help.isEmpty, key.path) }
        for section in ["data", "model", "train", "parallel"] {
            let names = Config.keys.filter { $0.section == section }.map(\.name).sorted()
            XCTAssertThrowsError(try Config.parse(yaml: "\(section): {nope: 1}", source: "t")) {
                XCTAssertTrue("\($0)".contains("known keys of \(section): \(names.joined(separator: ", "))"), "\($0)")
            }
        }
        XCTAssertEqual(Config.help("model.n_hidden"), "Hidden units (model.n_hidden; default 64).")
    }

    func testYAMLRoundTripProperty() throws {
        var rng = Xoshiro(seed: 20_251_126)
        for i in 0..<500 {
            let c = randomConfig(&rng)
            let back = try Config.parse(yaml: c.yaml, source: "round trip \(i)")
            XCTAssertEqual(back, c, "round trip \(i):\n\(c.yaml)")
            let stored = try Config.parse(yaml: c.yaml(execution: false), source: "stored \(i)")
            XCTAssertEqual(stored, c.resultDefining, "stored \(i):\n\(c.yaml(execution: false))")
        }
    }

    /// Fuzz: seeded mutations of the bundled config (flipped and inserted bytes,
    /// YAML syntax, extreme numbers, cut and repeated lines) must each parse and
    /// validate, or fail with a one-line MakemoreError; never trap.
    func testMutationFuzzNeverCrashes() throws {
        let seedText = try String(contentsOfFile: repositoryRoot.appendingPathComponent("configs/municipis.yaml").path, encoding: .utf8)
        let base = Array(seedText.utf8)
        let tokens = [":", "-", "[", "]", "{", "}", ",", "\"", "'", "&a", "*a", "!!int", "!!binary", "? ", "|", ">", "#", "\n", "\t", " ",
                      "1e12", "-1", "0", "9223372036854775807", "99999999999999999999", ".inf", ".nan", "null", "~", "true",
                      "auto", "0x10", "1_000", "{per_node: 3}", "[[0, 1e39]]", "\u{FEFF}", "\u{0}", "é"].map { Array($0.utf8) }
        var rng = Xoshiro(seed: 6)
        var outcomes = [String: Int]()
        let start = Date()
        for i in 0..<3000 {
            var bytes = base
            for _ in 0..<(1 + rng.below(4)) {
                let at = rng.below(bytes.count + 1)
                switch rng.below(6) {
                case 0 where at < bytes.count: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.insert(contentsOf: tokens[rng.below(tokens.count)], at: at)
                case 2 where at < bytes.count: bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.below(20)))
                case 3:
                    // Replace a number with an extreme one.
                    if let d = bytes[at...].firstIndex(where: { (48...57).contains($0) }) {
                        let end = bytes[d...].firstIndex(where: { !(48...57).contains($0) && $0 != 46 }) ?? bytes.count
                        bytes.replaceSubrange(d..<end, with: tokens[[20, 21, 22, 23, 24, 25, 26][rng.below(7)]])
                    }
                case 4:
                    // Repeat or drop a line.
                    let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
                    var ls = Array(lines)
                    let k = rng.below(ls.count)
                    if rng.below(2) == 0 { ls.insert(ls[k], at: k) } else { ls.remove(at: k) }
                    bytes = Array(ls.joined(separator: [10]))
                default: bytes.insert(contentsOf: tokens[rng.below(tokens.count)], at: min(at, bytes.count))
                }
            }
            // The reader gets text; invalid UTF-8 is refused by `load` before parsing.
            guard let text = String(validating: bytes, as: UTF8.self) else { outcomes["not UTF-8", default: 0] += 1; continue }
            do {
                let c = try Config.parse(yaml: text, source: "fuzz")
                try c.validate()
                _ = c.yaml
                outcomes["valid", default: 0] += 1
            } catch let e as MakemoreError {
                XCTAssertFalse(e.message.contains("\n"), "mutation \(i): message on several lines: \(e.message)")
                XCTAssertTrue(e.message.hasPrefix("fuzz"), "mutation \(i): message does not name the file: \(e.message)")
                outcomes["refused", default: 0] += 1
            } catch {
                XCTFail("mutation \(i): not a MakemoreError: \(error)\n\(text)")
            }
        }
        XCTAssertGreaterThan(outcomes["valid", default: 0], 100, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["refused", default: 0], 500, "\(outcomes)")
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }
}
