import Foundation
import XCTest
@testable import Makemore

/// Deterministic generator for the fuzz-style tests (SplitMix64).
struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

final class SafetensorsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let samplePath = fixtures.appendingPathComponent("sample.safetensors").path

    // MARK: Helpers

    /// A file image with a hand-written header (padded as writers do) and data.
    func raw(_ header: String, data: [UInt8] = []) -> [UInt8] {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        return le64(UInt64(h.count)) + h + data
    }

    func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// Decoding `bytes` must throw a one-line MakemoreError that starts with the
    /// source name and contains every string in `parts`.
    func assertRejects(_ bytes: [UInt8], _ parts: String..., source: String = "model.safetensors",
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            let decoded = try SafetensorsFile.decode(bytes, source: source)
            XCTFail("decoded instead of failing: \(decoded.tensors.keys.sorted())", file: file, line: line)
        } catch let error as MakemoreError {
            let m = error.message
            XCTAssertTrue(m.hasPrefix(source + ": "), "message does not name the file: \(m)", file: file, line: line)
            XCTAssertFalse(m.contains("\n") || m.contains("\r"), "message is not one line: \(m)", file: file, line: line)
            for p in parts {
                XCTAssertTrue(m.contains(p), "message \"\(m)\" lacks \"\(p)\"", file: file, line: line)
            }
        } catch {
            XCTFail("threw a non-MakemoreError: \(error)", file: file, line: line)
        }
    }

    func entry(_ name: String, _ dtype: String = "F32", shape: String, offsets: String) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    /// A representative model-like file: every dtype, a scalar, an empty tensor, metadata.
    static func sampleModel() -> SafetensorsFile {
        SafetensorsFile(
            tensors: [
                "C": TensorData(floats: (0..<54).map { Float($0) * 0.25 - 3 }, shape: [27, 2]),
                "W1": TensorData(floats: (0..<60).map { sinf(Float($0)) }, shape: [6, 10]),
                "b1": TensorData(floats: [Float](repeating: -0.0, count: 10), shape: [10]),
                "loss": TensorData(scalar: 3.2958),
                "X": TensorData(int32s: [0, 1, 2, -5, Int32.max, Int32.min], shape: [2, 3]),
                "d": TensorData(doubles: [Double.pi, -1e300, .infinity], shape: [3]),
                "step": TensorData(int64s: [Int64.max, -7], shape: [2]),
                "none": TensorData(floats: [], shape: [0, 5]),
            ],
            metadata: ["vocab": ".abcdefghijklmnopqrstuvwxyz", "block_size": "3", "quote\"key": "multi\nline \u{1} é ✓", "empty": ""]
        )
    }

    // MARK: Round trip and layout

    func testRoundTripEncodeDecode() throws {
        let model = Self.sampleModel()
        let decoded = try SafetensorsFile.decode(model.encode(), source: "mem")
        XCTAssertEqual(decoded, model)
        XCTAssertEqual(decoded.tensors["loss"]?.shape, [])
        XCTAssertEqual(decoded.tensors["loss"]?.elementCount, 1)
        XCTAssertEqual(decoded.tensors["loss"]?.floats(), [3.2958])
        XCTAssertEqual(decoded.tensors["none"]?.elementCount, 0)
        XCTAssertEqual(decoded.tensors["step"]?.int64s(), [Int64.max, -7])
        XCTAssertEqual(decoded.tensors["d"]?.doubles(), [Double.pi, -1e300, .infinity])
        XCTAssertEqual(decoded.tensors["b1"]?.floats()?.allSatisfy { $0.sign == .minus }, true)
        XCTAssertEqual(decoded.metadata["quote\"key"], "multi\nline \u{1} é ✓")

        // No metadata and no tensors are valid too.
        let empty = SafetensorsFile()
        XCTAssertEqual(try SafetensorsFile.decode(empty.encode(), source: "mem"), empty)
        XCTAssertEqual(empty.encode(), le64(8) + Array("{}      ".utf8))
    }

    func testWriteAndReadFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.safetensors"
        let model = Self.sampleModel()
        try model.write(to: path)
        XCTAssertEqual(try SafetensorsFile.read(path: path), model)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.safetensors"])
    }

    func testOutputFollowsLayoutRules() throws {
        let model = Self.sampleModel()
        let bytes = model.encode()
        let n = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(n % 8, 0, "header length is a multiple of 8")
        XCTAssertLessThanOrEqual(8 + n, bytes.count)
        let header = Array(bytes[8..<(8 + n)])
        XCTAssertEqual(header.first, UInt8(ascii: "{"))
        let end = try XCTUnwrap(header.lastIndex(of: UInt8(ascii: "}")))
        XCTAssertTrue(header[(end + 1)...].allSatisfy { $0 == 0x20 }, "padding is spaces")
        XCTAssertLessThan(header.count - end - 1, 8)

        // Independent check with Foundation's JSON parser.
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(header)) as? [String: Any])
        XCTAssertEqual(json["__metadata__"] as? [String: String], model.metadata)
        var spans: [(Int, Int, String)] = []
        for (name, value) in json where name != "__metadata__" {
            let e = try XCTUnwrap(value as? [String: Any])
            let t = try XCTUnwrap(model.tensors[name])
            XCTAssertEqual(e["dtype"] as? String, t.dtype.rawValue)
            XCTAssertEqual(e["shape"] as? [Int], t.shape)
            let o = try XCTUnwrap(e["data_offsets"] as? [Int])
            XCTAssertEqual(o.count, 2)
            XCTAssertEqual(Array(bytes[(8 + n + o[0])..<(8 + n + o[1])]), t.bytes, name)
            spans.append((o[0], o[1], name))
        }
        XCTAssertEqual(spans.count, model.tensors.count)
        // Contiguous, non-overlapping, covering the data exactly.
        spans.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var at = 0
        for s in spans { XCTAssertEqual(s.0, at, s.2); at = s.1 }
        XCTAssertEqual(at, bytes.count - 8 - n)

        // Little-endian data.
        let c = try XCTUnwrap(model.tensors["X"])
        XCTAssertEqual(Array(c.bytes[0..<8]), [0, 0, 0, 0, 1, 0, 0, 0])

        // Deterministic regardless of dictionary construction order.
        var shuffled = SafetensorsFile(metadata: model.metadata)
        for name in model.tensors.keys.sorted().reversed() { shuffled.tensors[name] = model.tensors[name] }
        XCTAssertEqual(shuffled.encode(), bytes)
    }

    // MARK: Python cross-check

    /// Tests/Fixtures/sample.safetensors was written by the reference Python
    /// library (Tests/Fixtures/make_safetensors_sample.py); the values below
    /// are copied from that deterministic script.
    static func pythonSampleContents() -> SafetensorsFile {
        let w1Bits: [UInt32] = [0x3DCC_CCCD, 0xBE4C_CCCD, 0x3EAA_AAAB, 0x322B_CC77, 0xCC05_83B0, 0x0000_0001]
        return SafetensorsFile(
            tensors: [
                "C": TensorData(floats: [-1, -0.5, 0, 0.5, 1, 1.5], shape: [3, 2]),
                "W1": TensorData(floats: w1Bits.map(Float.init(bitPattern:)), shape: [2, 3]),
                "loss": TensorData(floats: [2.25], shape: []),
                "empty": TensorData(floats: [], shape: [0, 4]),
                "X": TensorData(int32s: [1, 2, 3, -4, 0, 2_147_483_647], shape: [2, 3]),
                "Y": TensorData(int32s: [7, -2_147_483_648], shape: [2]),
            ],
            metadata: ["block_size": "3", "note": "h\u{e9}llo \"quoted\"\n\ttab\\", "vocab": ".abc"]
        )
    }

    func testReadsPythonSample() throws {
        let file = try SafetensorsFile.read(path: Self.samplePath)
        XCTAssertEqual(file, Self.pythonSampleContents())
        XCTAssertEqual(try file.floats("W1", shape: [2, 3], source: "s")[0], Float(0.1))
        XCTAssertEqual(try file.floats("W1", shape: [2, 3], source: "s")[5], Float.leastNonzeroMagnitude)
        XCTAssertEqual(try file.floats("loss", shape: [], source: "s"), [2.25])
        let x = try file.int32s("X", source: "s")
        XCTAssertEqual(x.shape, [2, 3])
        XCTAssertEqual(x.values, [1, 2, 3, -4, 0, Int32.max])
        XCTAssertEqual(try file.int32s("Y", source: "s").values, [7, Int32.min])
    }

    func testEncodeMatchesPythonBytes() throws {
        let python = try FileReader.readAll(path: Self.samplePath, limit: 1 << 30)
        XCTAssertEqual(Self.pythonSampleContents().encode(), python, "byte-for-byte equal to safetensors.numpy.save")
        XCTAssertEqual(try SafetensorsFile.decode(python, source: "s").encode(), python)
    }

    // MARK: Typed access

    func testTypedAccessErrors() throws {
        let file = SafetensorsFile(tensors: [
            "W1": TensorData(floats: [Float](repeating: 1, count: 30 * 32), shape: [30, 32]),
            "X": TensorData(int32s: [1, 2], shape: [2]),
        ])
        XCTAssertEqual(try file.floats("W1", shape: [30, 32], source: "m").count, 960)
        XCTAssertThrowsError(try file.floats("W1", shape: [30, 64], source: "model.safetensors")) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "model.safetensors: tensor 'W1' has shape [30, 32], expected [30, 64]")
        }
        XCTAssertThrowsError(try file.floats("b1", shape: [64], source: "model.safetensors")) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "model.safetensors: missing tensor 'b1' (file has 'W1', 'X')")
        }
        XCTAssertThrowsError(try file.floats("X", shape: [2], source: "model.safetensors")) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "model.safetensors: tensor 'X' has dtype I32, expected F32")
        }
        XCTAssertThrowsError(try file.int32s("W1", source: "b.safetensors")) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "b.safetensors: tensor 'W1' has dtype F32, expected I32")
        }
        XCTAssertEqual(try file.floatingAsDoubles("W1", shape: [30, 32], source: "m").first, 1.0)
        XCTAssertEqual(file.tensors["X"]?.asDoubles(), [1, 2])
        XCTAssertNil(file.tensors["X"]?.floats())
        XCTAssertNil(file.tensors["W1"]?.int32s())

        // Inconsistent in-memory tensors are caught, not written or trapped on.
        let bad = SafetensorsFile(tensors: ["W1": TensorData(dtype: .f32, shape: [30, 64], bytes: [UInt8](repeating: 0, count: 7000))])
        XCTAssertThrowsError(try bad.validate(source: "m.safetensors")) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "m.safetensors: tensor 'W1': shape [30, 64] needs 7680 bytes, has 7000")
        }
        XCTAssertThrowsError(try bad.floats("W1", shape: [30, 64], source: "m"))
        XCTAssertEqual(TensorData(dtype: .f32, shape: [-1], bytes: []).elementCount, -1)
        XCTAssertEqual(TensorData(dtype: .f32, shape: [Int.max, 2], bytes: []).elementCount, -1)
        XCTAssertThrowsError(try SafetensorsFile(tensors: ["a": TensorData(dtype: .f32, shape: [Int.max, 2], bytes: [])]).validate(source: "m"))
        XCTAssertThrowsError(try SafetensorsFile(tensors: ["__metadata__": TensorData(scalar: 1)]).validate(source: "m"))
    }

    // MARK: Hostile inputs: framing

    func testRejectsEmptyFile() {
        assertRejects([], "empty file")
    }

    func testRejectsShortFile() {
        assertRejects([1, 0, 0], "truncated: 3 bytes, need at least 8")
        assertRejects([UInt8](repeating: 0, count: 7), "truncated: 7 bytes, need at least 8")
    }

    func testRejectsHugeHeaderLength() {
        assertRejects(le64(1 << 63) + Array("{}".utf8), "header length 9223372036854775808", "exceeds the limit")
        assertRejects(le64(UInt64.max), "header length 18446744073709551615")
        assertRejects(le64(100_000_001) + Array("{}".utf8), "exceeds the limit of 100000000 bytes")
    }

    func testRejectsHeaderLengthPastEndOfFile() {
        assertRejects(le64(16) + Array("{}      ".utf8), "header length 16 is larger than the 8 bytes after the length field")
        assertRejects(le64(1) + [], "header length 1 is larger than the 0 bytes")
    }

    func testRejectsBadHeaderText() {
        assertRejects(le64(0), "not valid JSON")
        var notUTF8 = raw("{\"aX\": 1}")
        notUTF8[11] = 0xFF
        assertRejects(notUTF8, "header is not valid UTF-8")
        var overlong = raw("{\"aXX\": 1}")
        overlong[11] = 0xC0; overlong[12] = 0x80
        assertRejects(overlong, "header is not valid UTF-8")
        assertRejects(raw("{abc"), "header is not valid JSON")
        assertRejects(raw("{\"a\": }"), "header is not valid JSON")
        assertRejects(raw("{\"a\": {}} xyz"), "header is not valid JSON", "after the JSON value")
        assertRejects(raw("{\"a\": \"\\q\"}"), "invalid escape")
        assertRejects(raw("{\"a\": \"\\\n\"}"), "invalid escape backslash before byte 0xA")
        assertRejects(raw("{\"a\": \"\\ud800\"}"), "unpaired surrogate")
        assertRejects(raw("{\"a\": 01}"), "leading zero")
        assertRejects(raw("{\"a\": \"x\ny\"}"), "control character")
        assertRejects(raw(String(repeating: "[", count: 100_000)), "nesting deeper than")
        assertRejects(raw("[1, 2]"), "header is not a JSON object (got an array)")
        assertRejects(raw("\"str\""), "header is not a JSON object (got a string)")
        assertRejects(raw("3"), "header is not a JSON object (got a number)")
        assertRejects(raw("null"), "header is not a JSON object (got null)")
    }

    // MARK: Hostile inputs: tensor entries

    func testRejectsIncompleteEntries() {
        let data = [UInt8](repeating: 0, count: 8)
        assertRejects(raw("{\"W1\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", data: data), "tensor 'W1': missing \"dtype\"")
        assertRejects(raw("{\"W1\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", data: data), "tensor 'W1': missing \"shape\"")
        assertRejects(raw("{\"W1\": {\"dtype\": \"F32\", \"shape\": [2]}}", data: data), "tensor 'W1': missing \"data_offsets\"")
        assertRejects(raw("{\"W1\": [1, 2]}", data: data), "tensor 'W1': entry must be an object, got an array")
        assertRejects(raw("{\"W1\": {\"dtype\": \"F32\", \"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", data: data),
                      "tensor 'W1': duplicate \"dtype\"")
        assertRejects(raw("{" + entry("W1", shape: "[2]", offsets: "[0,8]") + "," + entry("W1", shape: "[2]", offsets: "[0,8]") + "}", data: data),
                      "duplicate entry 'W1'")
        // Names with control characters stay on one line.
        assertRejects(raw("{\"a\\nb\": 5}", data: data), "tensor 'a\\nb': entry must be an object")
    }

    func testRejectsBadDtype() {
        let data = [UInt8](repeating: 0, count: 4)
        assertRejects(raw("{" + entry("x", "BF16", shape: "[2]", offsets: "[0,4]") + "}", data: data), "unsupported dtype BF16 for tensor 'x'")
        assertRejects(raw("{" + entry("x", "f32", shape: "[1]", offsets: "[0,4]") + "}", data: data), "unsupported dtype f32 for tensor 'x'")
        assertRejects(raw("{\"x\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", data: data), "tensor 'x': dtype must be a string, got a number")
    }

    func testRejectsBadShapes() {
        let data = [UInt8](repeating: 0, count: 8)
        for shape in ["[-2]", "[2.0]", "[1e1]", "[\"2\"]", "[null]", "[[2]]", "[true]", "[-0]"] {
            assertRejects(raw("{" + entry("W1", shape: shape, offsets: "[0,8]") + "}", data: data),
                          "tensor 'W1': shape must be an array of non-negative integers")
        }
        assertRejects(raw("{" + entry("W1", shape: "2", offsets: "[0,8]") + "}", data: data), "shape must be an array", "got a number")
        assertRejects(raw("{" + entry("W1", shape: "[99999999999999999999999]", offsets: "[0,8]") + "}", data: data), "shape must be an array")
        assertRejects(raw("{" + entry("W1", shape: "[18446744073709551615]", offsets: "[0,8]") + "}", data: data), "shape dimension 18446744073709551615 is too large")
        // Element count overflows Int.
        assertRejects(raw("{" + entry("W1", shape: "[4294967296,4294967296]", offsets: "[0,8]") + "}", data: data), "has too many elements")
        assertRejects(raw("{" + entry("W1", shape: "[9223372036854775807,2]", offsets: "[0,8]") + "}", data: data), "has too many elements")
        // Count fits but count * dtype size overflows.
        assertRejects(raw("{" + entry("W1", shape: "[2305843009213693952]", offsets: "[0,8]") + "}", data: data), "byte size overflows")
        assertRejects(raw("{" + entry("W1", "F64", shape: "[1152921504606846976]", offsets: "[0,8]") + "}", data: data), "byte size overflows")
        // A zero dimension makes a huge shape empty, which is fine only with empty offsets.
        assertRejects(raw("{" + entry("W1", shape: "[0,9223372036854775807]", offsets: "[0,8]") + "}", data: data),
                      "shape [0, 9223372036854775807] needs 0 bytes, data_offsets give 8")
    }

    func testRejectsBadOffsets() {
        let data = [UInt8](repeating: 0, count: 8)
        for offsets in ["[0]", "[0,4,8]", "[]", "[-1,7]", "[0,8.0]", "[0,\"8\"]", "{\"a\":0}", "8", "[0,18446744073709551616]"] {
            assertRejects(raw("{" + entry("W1", shape: "[2]", offsets: offsets) + "}", data: data),
                          "tensor 'W1': data_offsets must be 2 non-negative integers")
        }
        assertRejects(raw("{" + entry("W1", shape: "[2]", offsets: "[8,0]") + "}", data: data), "tensor 'W1': data_offsets [8, 0] begin is after end")
        assertRejects(raw("{" + entry("W1", shape: "[2]", offsets: "[0,18446744073709551615]") + "}", data: data),
                      "data_offsets [0, 18446744073709551615] past end of data (8 bytes)")
    }

    func testRejectsSizeMismatch() {
        let data = [UInt8](repeating: 0, count: 7680)
        assertRejects(raw("{" + entry("W1", shape: "[30, 64]", offsets: "[0, 7000]") + "}", data: data),
                      "model.safetensors: tensor 'W1': shape [30, 64] needs 7680 bytes, data_offsets give 7000")
        assertRejects(raw("{" + entry("s", shape: "[]", offsets: "[0, 8]") + "}", data: [UInt8](repeating: 0, count: 8)),
                      "tensor 's': shape [] needs 4 bytes, data_offsets give 8")
    }

    func testRejectsOffsetsPastEnd() {
        let data = [UInt8](repeating: 0, count: 1160)
        assertRejects(raw("{" + entry("C", shape: "[27, 10]", offsets: "[0, 99999]") + "}", data: data),
                      "model.safetensors: tensor 'C' data_offsets [0, 99999] past end of data (1160 bytes)")
    }

    func testRejectsOverlapsGapsAndTrailingBytes() {
        let data = [UInt8](repeating: 0, count: 12)
        assertRejects(raw("{" + entry("a", shape: "[2]", offsets: "[0,8]") + "," + entry("b", shape: "[2]", offsets: "[4,12]") + "}", data: data),
                      "tensors 'a' data_offsets [0, 8] and 'b' data_offsets [4, 12] overlap")
        assertRejects(raw("{" + entry("a", shape: "[3]", offsets: "[0,12]") + "," + entry("b", shape: "[3]", offsets: "[0,12]") + "}", data: data),
                      "overlap")
        assertRejects(raw("{" + entry("a", shape: "[1]", offsets: "[0,4]") + "," + entry("b", shape: "[1]", offsets: "[8,12]") + "}", data: data),
                      "data bytes [4, 8) belong to no tensor")
        assertRejects(raw("{" + entry("a", shape: "[2]", offsets: "[0,8]") + "}", data: data),
                      "data buffer has 12 bytes but the tensors cover only 8")
        // Empty tensors may sit at tensor boundaries, but (as in the reference
        // reader) not inside another tensor's bytes.
        XCTAssertNoThrow(try SafetensorsFile.decode(raw("{" + entry("a", shape: "[3]", offsets: "[0,12]") + "," + entry("e", shape: "[0]", offsets: "[0,0]")
            + "," + entry("f", shape: "[0, 3]", offsets: "[12,12]") + "}", data: data), source: "m"))
        assertRejects(raw("{" + entry("a", shape: "[3]", offsets: "[0,12]") + "," + entry("e", shape: "[0]", offsets: "[4,4]") + "}", data: data),
                      "tensors 'a' data_offsets [0, 12] and 'e' data_offsets [4, 4] overlap")
    }

    func testRejectsBadMetadata() {
        assertRejects(raw("{\"__metadata__\": [\"a\"]}"), "__metadata__ must be an object of strings, got an array")
        assertRejects(raw("{\"__metadata__\": \"v\"}"), "__metadata__ must be an object of strings, got a string")
        assertRejects(raw("{\"__metadata__\": {\"step\": 5}}"), "__metadata__ entry 'step' must be a string, got a number")
        assertRejects(raw("{\"__metadata__\": {\"cfg\": {\"a\": \"b\"}}}"), "__metadata__ entry 'cfg' must be a string, got an object")
        assertRejects(raw("{\"__metadata__\": {\"k\": \"a\", \"k\": \"b\"}}"), "duplicate __metadata__ entry 'k'")
        assertRejects(raw("{\"__metadata__\": {}, \"__metadata__\": {}}"), "duplicate entry '__metadata__'")
        XCTAssertEqual(try SafetensorsFile.decode(raw("{\"__metadata__\": {\"k\": \"\\u00e9\\ud83d\\ude00\\/\"}}"), source: "m").metadata, ["k": "é😀/"])
    }

    // MARK: Hostile inputs: random and truncated files

    func testRejectsRandomBytes() {
        var rng = TestRNG(seed: 42)
        for i in 0..<500 {
            var bytes = (0..<rng.below(300)).map { _ in rng.byte() }
            if i % 2 == 0, bytes.count >= 8 {
                // Plausible header length so the JSON parser sees random text.
                let n = UInt64(rng.below(bytes.count - 7))
                for k in 0..<8 { bytes[k] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(k))) }
            }
            assertRejects(bytes, source: "random.safetensors")
        }
    }

    func testRejectsEveryTruncationOfValidFile() throws {
        let good = Self.sampleModel().encode()
        XCTAssertNoThrow(try SafetensorsFile.decode(good, source: "m"))
        for cut in 0..<good.count {
            assertRejects(Array(good[0..<cut]), source: "cut.safetensors")
        }
        // A file with extra bytes appended is also rejected.
        assertRejects(good + [0], "trailing bytes")
        let python = try FileReader.readAll(path: Self.samplePath, limit: 1 << 30)
        for cut in stride(from: 0, to: python.count, by: 7) {
            assertRejects(Array(python[0..<cut]), source: "cut.safetensors")
        }
    }

    /// 2000 seeded mutations of a valid file must each decode or throw a
    /// MakemoreError; a trap would crash the test process.
    func testFuzzMutationsNeverCrash() throws {
        let good = Self.sampleModel().encode()
        let headerLength = Int(good[0]) | Int(good[1]) << 8
        let jsonish = Array("0123456789-.e\"[]{},: ".utf8)
        var rng = TestRNG(seed: 2024)
        var decodedCount = 0, rejected = 0
        for _ in 0..<2000 {
            var b = good
            for _ in 0..<(1 + rng.below(3)) {
                switch rng.below(8) {
                case 0, 1: // bit flips anywhere
                    let i = rng.below(b.count); b[i] ^= 1 << UInt8(rng.below(8))
                case 2: // bit flip inside the JSON header
                    let i = 8 + rng.below(headerLength); if i < b.count { b[i] ^= 1 << UInt8(rng.below(8)) }
                case 3: // JSON-significant byte inside the header
                    let i = 8 + rng.below(headerLength); if i < b.count { b[i] = jsonish[rng.below(jsonish.count)] }
                case 4: // truncation
                    b = Array(b[0..<rng.below(b.count + 1)])
                case 5: // header length changed by a little
                    if b.count >= 8 {
                        let delta = rng.below(33) - 16
                        let n = max(0, headerLength + delta)
                        for k in 0..<8 { b[k] = UInt8(truncatingIfNeeded: n >> (8 * k)) }
                    }
                case 6: // header length set to anything
                    if b.count >= 8 { let n = rng.next() >> UInt64(rng.below(64)); for k in 0..<8 { b[k] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(k))) } }
                default: // random bytes appended or inserted
                    let extra = (0..<rng.below(16)).map { _ in rng.byte() }
                    b.insert(contentsOf: extra, at: rng.below(b.count + 1))
                }
                if b.isEmpty { break }
            }
            do {
                let file = try SafetensorsFile.decode(b, source: "fuzz")
                decodedCount += 1
                // Whatever decodes must survive its own round trip.
                XCTAssertEqual(try SafetensorsFile.decode(file.encode(), source: "fuzz2"), file)
            } catch is MakemoreError {
                rejected += 1
            } catch {
                XCTFail("non-MakemoreError: \(error)")
            }
        }
        XCTAssertEqual(decodedCount + rejected, 2000)
        XCTAssertGreaterThan(rejected, 1000)
        print("fuzz: \(decodedCount) decoded, \(rejected) rejected")
    }

    func testReadMissingFileAndDirectory() throws {
        XCTAssertThrowsError(try SafetensorsFile.read(path: "/nonexistent-dir/x.safetensors")) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "cannot read /nonexistent-dir/x.safetensors: No such file or directory")
        }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try SafetensorsFile.read(path: dir)) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "cannot read \(dir): Is a directory")
        }
        let emptyPath = dir + "/empty.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: emptyPath, contents: Data()))
        XCTAssertThrowsError(try SafetensorsFile.read(path: emptyPath)) {
            XCTAssertEqual(($0 as? MakemoreError)?.message, "\(emptyPath): empty file (0 bytes), not a safetensors file")
        }
    }
}
