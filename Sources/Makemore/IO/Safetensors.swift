// safetensors files (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of UTF-8 JSON describing each tensor
// (dtype, shape, data_offsets relative to the data buffer) plus an optional
// "__metadata__" object of strings, then the little-endian data buffer.
//
// Decoding is defensive: any malformed or hostile input produces a one-line
// `MakemoreError` naming the file and the problem; nothing traps. The header
// rules are in SafetensorsHeader.swift.

/// The element types this project reads and writes.
public enum DType: String, CaseIterable, Sendable {
    case f32 = "F32", f64 = "F64", i32 = "I32", i64 = "I64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        }
    }

    /// Position in the Rust `safetensors` `Dtype` enum order (…I32, U32,
    /// F32, F64, I64…). The Python library writes tensors sorted by this,
    /// descending, then by name, and so does `SafetensorsFile.encode()`.
    var writeRank: Int {
        switch self {
        case .i32: return 0
        case .f32: return 1
        case .f64: return 2
        case .i64: return 3
        }
    }
}

/// One tensor: its dtype, shape and raw little-endian bytes.
public struct TensorData: Equatable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    /// Raw constructor; `validate` (and `SafetensorsFile.write`) check that
    /// `bytes.count` matches `shape` and `dtype`.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(floats: [Float], shape: [Int]) {
        self.init(dtype: .f32, shape: shape, bytes: TensorData.pack(floats) { $0.bitPattern })
    }

    public init(doubles: [Double], shape: [Int]) {
        self.init(dtype: .f64, shape: shape, bytes: TensorData.pack(doubles) { $0.bitPattern })
    }

    public init(int32s: [Int32], shape: [Int]) {
        self.init(dtype: .i32, shape: shape, bytes: TensorData.pack(int32s) { UInt32(bitPattern: $0) })
    }

    public init(int64s: [Int64], shape: [Int]) {
        self.init(dtype: .i64, shape: shape, bytes: TensorData.pack(int64s) { UInt64(bitPattern: $0) })
    }

    /// A shape-[] F32 tensor holding one value.
    public init(scalar: Float) {
        self.init(floats: [scalar], shape: [])
    }

    /// Product of the shape (1 for the scalar shape []). For a shape that is
    /// invalid (a negative dimension, or a product that overflows) this is -1;
    /// shapes read from files are always valid.
    public var elementCount: Int {
        TensorData.checkedElementCount(shape) ?? -1
    }

    public func floats() -> [Float]? {
        dtype == .f32 ? unpack(UInt32.self) { Float(bitPattern: $0) } : nil
    }

    public func doubles() -> [Double]? {
        dtype == .f64 ? unpack(UInt64.self) { Double(bitPattern: $0) } : nil
    }

    public func int32s() -> [Int32]? {
        dtype == .i32 ? unpack(UInt32.self) { Int32(bitPattern: $0) } : nil
    }

    public func int64s() -> [Int64]? {
        dtype == .i64 ? unpack(UInt64.self) { Int64(bitPattern: $0) } : nil
    }

    /// The values converted to Double, whatever the dtype (F32 widens exactly;
    /// I64 values beyond 2^53 round).
    public func asDoubles() -> [Double] {
        switch dtype {
        case .f32: return unpack(UInt32.self) { Double(Float(bitPattern: $0)) }
        case .f64: return unpack(UInt64.self) { Double(bitPattern: $0) }
        case .i32: return unpack(UInt32.self) { Double(Int32(bitPattern: $0)) }
        case .i64: return unpack(UInt64.self) { Double(Int64(bitPattern: $0)) }
        }
    }

    /// Throws unless the shape is valid and `bytes` holds exactly its elements.
    /// `name` and `source` are used in the message.
    public func validate(name: String, source: String) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw MakemoreError("\(source): tensor \(SafetensorsFile.display(name)) has negative dimension in shape \(SafetensorsFile.format(shape))")
        }
        guard let count = TensorData.checkedElementCount(shape) else {
            throw MakemoreError("\(source): tensor \(SafetensorsFile.display(name)) shape \(SafetensorsFile.format(shape)) has too many elements")
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else {
            throw MakemoreError("\(source): tensor \(SafetensorsFile.display(name)) shape \(SafetensorsFile.format(shape)) is too large for \(dtype.rawValue)")
        }
        guard needed == bytes.count else {
            throw MakemoreError("\(source): tensor \(SafetensorsFile.display(name)): shape \(SafetensorsFile.format(shape)) needs \(needed) bytes, has \(bytes.count)")
        }
    }

    static func checkedElementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { return nil }
            count = p
        }
        return count
    }

    private static func pack<T, B: FixedWidthInteger>(_ values: [T], _ bits: (T) -> B) -> [UInt8] {
        let width = B.bitWidth / 8
        var out = [UInt8](repeating: 0, count: values.count * width)
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: bits(v).littleEndian, toByteOffset: i * width, as: B.self)
            }
        }
        return out
    }

    private func unpack<B: FixedWidthInteger, T>(_: B.Type, _ make: (B) -> T) -> [T] {
        let width = B.bitWidth / 8
        let n = bytes.count / width
        return bytes.withUnsafeBytes { raw in
            (0..<n).map { i in make(B(littleEndian: raw.loadUnaligned(fromByteOffset: i * width, as: B.self))) }
        }
    }
}

/// A whole safetensors file: named tensors plus string metadata.
public struct SafetensorsFile: Equatable, Sendable {
    public var tensors: [String: TensorData]
    public var metadata: [String: String]

    public init(tensors: [String: TensorData] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Reads and decodes `path`; every problem is a `MakemoreError` naming it.
    public static func read(path: String) throws -> SafetensorsFile {
        try decode(try FileReader.readAll(path: path, limit: FileReader.Limit.tensors, what: "a safetensors file"), source: path)
    }

    /// Decodes a complete file image. `source` names the file in errors.
    public static func decode(_ bytes: [UInt8], source: String) throws -> SafetensorsFile {
        try SafetensorsHeader.decode(bytes, source: source)
    }

    /// The file image, laid out as the Python `safetensors` library does it:
    /// compact JSON header with "__metadata__" first (keys sorted; omitted when
    /// empty), tensors sorted by dtype (I64, F64, F32, I32) then by name
    /// (byte order), header padded with spaces to a multiple of 8 bytes, data
    /// contiguous in header order. Deterministic for equal values.
    ///
    /// Assumes the contents are valid (see `validate(source:)`, which
    /// `write(to:)` calls first); an inconsistent tensor gives a file that
    /// `decode` rejects.
    public func encode() -> [UInt8] {
        SafetensorsHeader.encode(self)
    }

    /// Throws if any tensor's bytes disagree with its shape, or a tensor uses
    /// the reserved name "__metadata__".
    public func validate(source: String) throws {
        for name in tensors.keys.sorted() {
            if name == SafetensorsHeader.metadataKey {
                throw MakemoreError("\(source): tensor name \"__metadata__\" is reserved for metadata")
            }
            // Safe: iterating the dictionary's own keys.
            if let t = tensors[name] { try t.validate(name: name, source: source) }
        }
    }

    /// Validates, encodes and writes atomically (see `AtomicFile.write`).
    public func write(to path: String) throws {
        try validate(source: path)
        try AtomicFile.write(encode(), to: path)
    }

    // MARK: Typed access with clear errors

    /// The tensor called `name`, or an error naming the file and the tensor.
    public func tensor(_ name: String, source: String) throws -> TensorData {
        guard let t = tensors[name] else {
            let names = tensors.keys.sorted()
            let list = names.prefix(12).map { SafetensorsFile.display($0) }.joined(separator: ", ")
                + (names.count > 12 ? ", …" : "")
            throw MakemoreError("\(source): missing tensor \(SafetensorsFile.display(name)) (file has \(names.isEmpty ? "no tensors" : list))")
        }
        return t
    }

    /// F32 values of `name`, which must have exactly shape `expected`.
    public func floats(_ name: String, shape expected: [Int], source: String) throws -> [Float] {
        let t = try typed(name, .f32, shape: expected, source: source)
        return t.floats() ?? []
    }

    /// F64 values of `name`, which must have exactly shape `expected`.
    public func doubles(_ name: String, shape expected: [Int], source: String) throws -> [Double] {
        let t = try typed(name, .f64, shape: expected, source: source)
        return t.doubles() ?? []
    }

    /// F32 or F64 values of `name` as Double (shape must be `expected`).
    public func floatingAsDoubles(_ name: String, shape expected: [Int], source: String) throws -> [Double] {
        let t = try tensor(name, source: source)
        guard t.dtype == .f32 || t.dtype == .f64 else {
            throw MakemoreError("\(source): tensor \(SafetensorsFile.display(name)) has dtype \(t.dtype.rawValue), expected F32 or F64")
        }
        try SafetensorsFile.checkShape(t, name, expected, source)
        return t.asDoubles()
    }

    /// I32 values of `name` and its shape (any shape).
    public func int32s(_ name: String, source: String) throws -> (values: [Int32], shape: [Int]) {
        let t = try typed(name, .i32, shape: nil, source: source)
        return (t.int32s() ?? [], t.shape)
    }

    private func typed(_ name: String, _ dtype: DType, shape expected: [Int]?, source: String) throws -> TensorData {
        let t = try tensor(name, source: source)
        guard t.dtype == dtype else {
            throw MakemoreError("\(source): tensor \(SafetensorsFile.display(name)) has dtype \(t.dtype.rawValue), expected \(dtype.rawValue)")
        }
        if let expected { try SafetensorsFile.checkShape(t, name, expected, source) }
        // Tensors built in memory may be inconsistent; decoded ones never are.
        try t.validate(name: name, source: source)
        return t
    }

    private static func checkShape(_ t: TensorData, _ name: String, _ expected: [Int], _ source: String) throws {
        guard t.shape == expected else {
            throw MakemoreError("\(source): tensor \(display(name)) has shape \(format(t.shape)), expected \(format(expected))")
        }
    }

    // MARK: Message helpers

    /// `[30, 64]`
    static func format(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }

    /// A tensor name for a one-line message: single-quoted, control characters
    /// escaped, long names shortened.
    static func display(_ name: String) -> String {
        var out = ""
        var count = 0
        for scalar in name.unicodeScalars {
            if count == 80 { out += "…"; break }
            count += 1
            if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "'" || scalar == "\\" {
                out += scalar.escaped(asASCII: false)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return "'" + out + "'"
    }
}
