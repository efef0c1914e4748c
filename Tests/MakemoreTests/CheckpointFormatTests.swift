import Foundation
import XCTest
@testable import Makemore

final class CheckpointFormatTests: XCTestCase {
    let shape = ModelShape(vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4)

    func sample() throws -> Checkpoint {
        var config = Config()
        config.train.steps = 77
        return Checkpoint(model: randomModel(shape, seed: 5), vocabulary: try Vocabulary(symbolString: ".abcd"),
                          step: 12, config: config, rng: Xoshiro(seed: 9))
    }

    func testRoundTripKeepsEverything() throws {
        let original = try sample()
        let path = NSTemporaryDirectory() + "ckpt-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try original.save(to: path)
        let back = try Checkpoint.load(path: path)
        for t in ModelTensor.allCases {
            XCTAssertEqual(back.model.tensor(t), original.model.tensor(t), t.name)
        }
        XCTAssertEqual(back.vocabulary, original.vocabulary)
        XCTAssertEqual(back.step, 12)
        // What decides the numbers, with `shards: auto` stored as the number it meant.
        XCTAssertEqual(back.config, original.config?.resultDefining)
        XCTAssertEqual(back.config?.parallel.shards, 2)
        XCTAssertEqual(back.rng, original.rng)
    }

    func testSeedNamesAndShapes() throws {
        let file = try sample().encode()
        XCTAssertEqual(Set(file.tensors.keys), ["C", "W1", "b1", "W2", "b2", "bngain", "bnbias", "bnmean_running", "bnvar_running"])
        XCTAssertEqual(file.tensors["W1"]?.shape, [6, 4])
        XCTAssertEqual(file.tensors["W2"]?.shape, [4, 5])
        XCTAssertEqual(file.tensors["bngain"]?.shape, [4])
        XCTAssertEqual(file.metadata["vocab"], ".abcd")
        XCTAssertEqual(file.metadata["vocab_symbols"], #"[".","a","b","c","d"]"#)
        XCTAssertEqual(file.metadata["block_size"], "2")
    }

    func testPyTorchRowVectorShapesAreAccepted() throws {
        var file = try sample().encode()
        for name in ["bngain", "bnbias", "bnmean_running", "bnvar_running"] {
            file.tensors[name]!.shape = [1, 4]
        }
        let back = try Checkpoint.decode(file, source: "torch.safetensors")
        XCTAssertEqual(back.model.tensor(.bngain), try sample().model.tensor(.bngain))
    }

    func testErrorsNameTheFileAndTheProblem() throws {
        func expectError(_ mutate: (inout SafetensorsFile) -> Void, _ fragment: String, line: UInt = #line) throws {
            var file = try sample().encode()
            mutate(&file)
            XCTAssertThrowsError(try Checkpoint.decode(file, source: "m.safetensors"), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("m.safetensors"), text, line: line)
                XCTAssertTrue(text.contains(fragment), "\(text) lacks '\(fragment)'", line: line)
            }
        }
        try expectError({ $0.metadata["vocab"] = nil; $0.metadata["vocab_symbols"] = nil }, "no 'vocab'")
        try expectError({ $0.metadata["vocab"] = ".abc"; $0.metadata["vocab_symbols"] = nil }, "vocabulary has 4 symbols")
        try expectError({ $0.metadata["vocab_symbols"] = #"[".","a","b","c"]"#; $0.metadata["vocab"] = nil }, "vocabulary has 4 symbols")
        try expectError({ $0.metadata["block_size"] = "3" }, "block_size")
        try expectError({ $0.tensors["b2"] = nil }, "missing tensor 'b2'")
        try expectError({ $0.tensors["W2"] = TensorData(floats: Array(repeating: 0, count: 20), shape: [5, 4]) }, "tensor 'W2' has shape [5, 4], expected [4, 5]")
        try expectError({ $0.tensors["b1"] = TensorData(doubles: [0, 0, 0, 0], shape: [4]) }, "expected F32")
        try expectError({ $0.tensors["b1"] = TensorData(floats: [0, .nan, 0, 0], shape: [4]) }, "NaN")
        try expectError({ $0.metadata["rng"] = "1,2" }, "rng")
        try expectError({ $0.metadata["step"] = "-4" }, "step")
    }
}
