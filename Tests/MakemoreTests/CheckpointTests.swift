import Foundation
import XCTest
@testable import Makemore
#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints: what they hold, and every way a file can lie about it.
final class CheckpointTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    static let shape = ModelShape(vocabSize: 5, blockSize: 3, nEmbd: 2, nHidden: 4)

    func sample() -> Checkpoint {
        var config = Config()
        config.model = .init(blockSize: 3, nEmbd: 2, nHidden: 4, initSeed: 7)
        config.parallel.threads = .count(2)
        return Checkpoint(model: randomModel(Self.shape, seed: 3), vocabulary: try! Vocabulary(symbolString: ".abcd"),
                          step: 1234, config: config, rng: Xoshiro(seed: 99))
    }

    /// The message of the error decoding `file` throws, or nil if it loads.
    func refusal(_ file: SafetensorsFile) -> String? {
        do { _ = try Checkpoint.decode(file, source: "m.safetensors"); return nil } catch let e as MakemoreError {
            return e.message
        } catch { return "not a MakemoreError: \(error)" }
    }

    func assertRefused(_ file: SafetensorsFile, _ fragments: String..., line: UInt = #line) {
        guard let m = refusal(file) else { return XCTFail("accepted", line: line) }
        XCTAssertTrue(m.hasPrefix("m.safetensors"), m, line: line)
        XCTAssertFalse(m.contains("\n"), m, line: line)
        for f in fragments { XCTAssertTrue(m.contains(f), "'\(m)' lacks '\(f)'", line: line) }
    }

    func testRoundTrip() throws {
        let c = sample()
        let path = dir + "/sub/m.safetensors"
        try c.save(to: path)
        let back = try Checkpoint.load(path: path)
        XCTAssertEqual(back.step, 1234)
        XCTAssertEqual(back.rng, c.rng)
        XCTAssertEqual(back.vocabulary, c.vocabulary)
        XCTAssertEqual(back.config, c.config!.resultDefining, "the stored config drops only execution settings")
        XCTAssertEqual(back.source, path)
        for t in ModelTensor.allCases {
            XCTAssertEqual(back.model.tensor(t).map(\.bitPattern), c.model.tensor(t).map(\.bitPattern), t.name)
        }
        let meta = try SafetensorsFile.read(path: path).metadata
        XCTAssertEqual(meta["lr"], "0.1")
        XCTAssertEqual(meta["step"], "1234")
        // Same state, same bytes: whatever threads the config named.
        var other = c
        other.config!.parallel.threads = .auto
        other.config!.parallel.pin = false
        XCTAssertEqual(other.encode().encode(), c.encode().encode())
    }

    /// A checkpoint holds exactly the model's tensors, under their names and shapes.
    func testCheckpointHoldsEveryTensorOfTheTable() {
        for s in [Self.shape, ModelShape(vocabSize: 27, blockSize: 8, nEmbd: 24, nHidden: 200)] {
            let file = Checkpoint(model: Model(shape: s, seed: 1), vocabulary: try! Vocabulary(symbolString: String(".abcdefghijklmnopqrstuvwxyz".prefix(s.vocabSize))),
                                  step: 0, config: nil, rng: nil).encode()
            XCTAssertEqual(Set(file.tensors.keys), Set(ModelTensor.allCases.map(\.name)))
            for t in ModelTensor.allCases { XCTAssertEqual(file.tensors[t.name]?.shape, t.shape(s), t.name) }
        }
    }

    func testMetadataThatLies() {
        let good = sample().encode()
        func with(_ key: String, _ value: String?) -> SafetensorsFile {
            var f = good
            f.metadata[key] = value
            return f
        }
        XCTAssertNil(refusal(good))
        // Files from before `vocab_symbols`: the joined string is all there is.
        func older(_ vocab: String?) -> SafetensorsFile {
            var f = with("vocab", vocab)
            f.metadata["vocab_symbols"] = nil
            return f
        }
        XCTAssertNil(refusal(older(".abcd")))
        assertRefused(older(nil), "no 'vocab'")
        assertRefused(older(".abc"), "'C' has 5 rows", "4 symbols")
        assertRefused(older(".abcdef"), "'C' has 5 rows")
        assertRefused(older("abcd."), "bad 'vocab'", "first symbol")
        assertRefused(older(".aacd"), "appears twice")
        // With the list, the joined string is only for people, but must agree.
        XCTAssertNil(refusal(with("vocab", nil)))
        assertRefused(with("vocab", ".abc"), "metadata 'vocab' '.abc' is not the symbols of 'vocab_symbols' joined")
        var both = with("vocab", ".abc")
        both.metadata["vocab_symbols"] = #"[".","a","b","c"]"#
        assertRefused(both, "'C' has 5 rows", "4 symbols")
        assertRefused(with("vocab_symbols", #"[".","a","a","c","d"]"#), "bad 'vocab_symbols'", "appears twice")
        assertRefused(with("vocab_symbols", #"[".","ab","c","d"]"#), "bad 'vocab_symbols'", "'ab' is 2 characters")
        assertRefused(with("vocab_symbols", ".abcd"), "bad 'vocab_symbols'", "not a JSON array")
        assertRefused(with("block_size", "4"), "block_size", "tensors say 3")
        assertRefused(with("block_size", "three\nlines"), "block_size")
        assertRefused(with("n_hidden", "5"), "n_hidden")
        assertRefused(with("n_embd", ""), "n_embd")
        assertRefused(with("step", "-1"), "'step'")
        assertRefused(with("step", "99999999999999999999"), "'step'")
        assertRefused(with("rng", "1,2,3"), "'rng'")
        assertRefused(with("rng", "1,2,x,3,4"), "'rng'")
        assertRefused(with("rng", "0,0,0,0"), "'rng'")
        assertRefused(with("rng", "1,2,3,4,"), "'rng'")
        assertRefused(with("config", "train: {steps: [oops"), "(config metadata)", "not valid YAML")
        assertRefused(with("config", "train: {stepz: 1}"), "(config metadata)", "train.stepz")
    }

    func testTensorsThatDisagree() {
        let good = sample().encode()
        func with(_ name: String, _ t: TensorData?) -> SafetensorsFile {
            var f = good
            f.tensors[name] = t
            return f
        }
        let H = Self.shape.nHidden, V = Self.shape.vocabSize
        assertRefused(with("C", nil), "'C'")
        assertRefused(with("W1", TensorData(floats: [1, 2, 3], shape: [3])), "'W1'")
        assertRefused(with("W1", TensorData(floats: Array(repeating: 0, count: 5 * H), shape: [5, H])), "not a multiple of n_embd")
        assertRefused(with("W2", nil), "missing tensor 'W2'")
        assertRefused(with("W2", TensorData(floats: Array(repeating: 0, count: H * V), shape: [V, H])), "'W2'", "[5, 4]", "expected [4, 5]")
        assertRefused(with("b2", TensorData(doubles: Array(repeating: 0, count: V), shape: [V])), "'b2' is F64")
        assertRefused(with("bngain", TensorData(floats: [1, .nan, 1, 1], shape: [H])), "'bngain'", "NaN or infinite")
        assertRefused(with("bnvar_running", TensorData(floats: [1, 1, .infinity, 1], shape: [H])), "NaN or infinite")
        assertRefused(with("bnvar_running", TensorData(floats: [1, -1, 1, 1], shape: [H])), "negative variances")
        // PyTorch's [1, H] BatchNorm vectors are fine.
        XCTAssertNil(refusal(with("bnmean_running", TensorData(floats: [0, 0, 0, 0], shape: [1, H]))))
    }

    func testClaimedSizesBeyondWhatWeTrainAreRefusedBeforeAllocating() {
        // H = 70000 with every tensor present and consistent: refused by the bounds.
        let H = 70_000
        var f = sample().encode()
        f.metadata["n_hidden"] = nil
        f.tensors["W1"] = TensorData(floats: Array(repeating: 0, count: 6 * H), shape: [6, H])
        assertRefused(f, "beyond what makemore trains")
        // H = 65536 (allowed) with the other tensors still of H = 4: refused
        // before the model (with its 16 MiB of W2) is allocated.
        f.tensors["W1"] = TensorData(floats: Array(repeating: 0, count: 6 * 65536), shape: [6, 65536])
        assertRefused(f, "'b1' has shape [4], expected [65536]")
    }

    /// Fuzz: seeded byte mutations of a real checkpoint file load or fail with
    /// a one-line MakemoreError naming the file; a file that loads holds only
    /// finite numbers of the right shapes.
    func testMutationFuzzNeverCrashes() throws {
        let bytes = sample().encode().encode()
        let headerEnd = 8 + Int(bytes[0]) + Int(bytes[1]) << 8
        var rng = Xoshiro(seed: 1126)
        var loaded = 0, refused = 0
        let digits = Array("0123456789-,.\"{}[]:".utf8)
        for i in 0..<3000 {
            var b = bytes
            for _ in 0..<(1 + rng.below(3)) {
                // Mostly the header, where the structure is.
                let at = rng.below(4) == 0 ? rng.below(b.count) : rng.below(min(headerEnd, b.count))
                switch rng.below(5) {
                case 0: b[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b[at] = digits[rng.below(digits.count)]
                case 2: b.removeSubrange(at..<min(b.count, at + 1 + rng.below(8)))
                case 3: b.insert(digits[rng.below(digits.count)], at: at)
                default: if at < 8 { b[at] ^= 1 << UInt8(rng.below(8)) } else { b[at] ^= 0x20 }
                }
                if b.isEmpty { break }
            }
            do {
                let c = try Checkpoint.decode(SafetensorsFile.decode(b, source: "fuzz"), source: "fuzz")
                for tensor in ModelTensor.allCases {
                    let t = c.model.tensor(tensor)
                    XCTAssertEqual(t.count, tensor.count(c.model.shape))
                    XCTAssertTrue(t.allSatisfy(\.isFinite), "mutation \(i): \(tensor.name)")
                }
                loaded += 1
            } catch let e as MakemoreError {
                XCTAssertTrue(e.message.hasPrefix("fuzz"), "mutation \(i): \(e.message)")
                XCTAssertFalse(e.message.contains("\n"), "mutation \(i): \(e.message)")
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 1000)
        XCTAssertGreaterThan(loaded, 10)
    }

    func testStaleTemporaryFilesOfDeadWritersAreRemoved() throws {
        let path = dir + "/m.safetensors"
        // A pid that does not exist, and ours (alive).
        var dead: Int32 = 4_194_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let stale = dir + "/.m.safetensors.tmp-\(dead)-1a2b"
        let live = dir + "/.m.safetensors.tmp-\(getpid())-3c4d"
        let other = dir + "/.n.safetensors.tmp-\(dead)-5e6f"
        for p in [stale, live, other] { XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data([1, 2, 3]))) }
        try sample().save(to: path)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        XCTAssertEqual(names, ["m.safetensors", ".m.safetensors.tmp-\(getpid())-3c4d", ".n.safetensors.tmp-\(dead)-5e6f"])
    }

    /// A run killed between creating `checkWritable`'s probe and removing it
    /// leaves the probe behind (a flaky kill -9 test found one); named as a
    /// temporary file of the checkpoint, it is cleared with the dead writers'.
    func testAWritabilityProbeLeftBehindIsClearedByTheNextSave() throws {
        let path = dir + "/m.safetensors"
        let probe = Checkpoint.probePath(for: path)
        let name = (probe as NSString).lastPathComponent
        XCTAssertTrue(name.hasPrefix(".m.safetensors.tmp-\(getpid())-"), name)
        var dead: Int32 = 4_194_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let left = dir + "/" + name.replacingOccurrences(of: "-\(getpid())-", with: "-\(dead)-")
        XCTAssertTrue(FileManager.default.createFile(atPath: left, contents: Data()))
        try sample().save(to: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.safetensors"])
    }

    func testCheckWritable() throws {
        try Checkpoint.checkWritable(dir + "/new/deeper/m.safetensors")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/new/deeper"), [], "the probe is removed")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/file", contents: Data()))
        XCTAssertThrowsError(try Checkpoint.checkWritable(dir + "/file/m.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("is not a folder"), "\(e)")
        }
        XCTAssertThrowsError(try Checkpoint.checkWritable(dir + "/file/deeper/m.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("cannot write"), "\(e)")
            XCTAssertFalse("\(e)".contains("\n"), "\(e)")
        }
        XCTAssertThrowsError(try Checkpoint.checkWritable(dir + "/new")) { e in
            XCTAssertTrue("\(e)".contains("is a folder"), "\(e)")
        }
        XCTAssertThrowsError(try sample().save(to: dir + "/file/m.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("is not a folder"), "\(e)")
        }
    }
}
