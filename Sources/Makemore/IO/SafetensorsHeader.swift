// Parsing, validation and writing of the safetensors header.
//
// The reader follows the reference implementation's rules (Rust crate
// `safetensors`): header length at most 100 MB; the header is UTF-8 JSON
// (trailing space padding allowed) whose top level is an object; each tensor
// entry has a known dtype, a shape of non-negative integers and data_offsets
// [begin, end] with end - begin equal to the shape's byte size; the tensors
// cover the data buffer exactly, without gaps or overlaps ("the byte buffer
// needs to be entirely indexed, and cannot contain holes"). All header numbers
// are validated with explicit comparisons before any arithmetic, because
// release builds use -Ounchecked and would not trap on overflow.

enum SafetensorsHeader {
    static let metadataKey = "__metadata__"
    /// Same limit as the Rust crate's MAX_HEADER_SIZE.
    static let maxHeaderLength: UInt64 = 100_000_000

    private struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    // MARK: Decoding

    static func decode(_ bytes: [UInt8], source: String) throws -> SafetensorsFile {
        func fail(_ message: String) -> MakemoreError { MakemoreError("\(source): \(message)") }

        if bytes.isEmpty { throw fail("empty file (0 bytes), not a safetensors file") }
        guard bytes.count >= 8 else { throw fail("truncated: \(bytes.count) bytes, need at least 8") }

        var headerLength: UInt64 = 0
        for i in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(bytes[i]) }
        guard headerLength <= maxHeaderLength else {
            throw fail("header length \(headerLength) exceeds the limit of \(maxHeaderLength) bytes (not a safetensors file?)")
        }
        let available = UInt64(bytes.count - 8)
        guard headerLength <= available else {
            throw fail("header length \(headerLength) is larger than the \(available) bytes after the length field (truncated or not a safetensors file)")
        }
        // Both fit in Int now: headerLength <= bytes.count - 8.
        let dataStart = 8 + Int(headerLength)
        let headerBytes = Array(bytes[8..<dataStart])
        let dataLength = bytes.count - dataStart

        guard Array(String(decoding: headerBytes, as: UTF8.self).utf8) == headerBytes else {
            throw fail("header is not valid UTF-8")
        }
        let json: JSONValue
        do {
            json = try JSONLite.parse(headerBytes)
        } catch let e as JSONLite.Failure {
            throw fail("header is not valid JSON: \(e.message) at byte \(e.offset) of the header")
        }
        guard case let .object(members) = json else {
            throw fail("header is not a JSON object (got \(json.typeName))")
        }

        var seen = Set<String>()
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in members {
            guard seen.insert(name).inserted else {
                throw fail("duplicate entry \(SafetensorsFile.display(name)) in header")
            }
            if name == metadataKey {
                metadata = try parseMetadata(value, fail: fail)
            } else {
                entries.append(try parseEntry(name, value, dataLength: dataLength, fail: fail))
            }
        }

        // The tensors must tile the data buffer: sort by (begin, end) so that
        // empty tensors come before a tensor starting at the same place.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        var previous: Entry?
        for e in entries {
            if e.begin < covered, let p = previous {
                throw fail("tensors \(SafetensorsFile.display(p.name)) data_offsets [\(p.begin), \(p.end)] and \(SafetensorsFile.display(e.name)) data_offsets [\(e.begin), \(e.end)] overlap")
            }
            if e.begin > covered {
                throw fail("data bytes [\(covered), \(e.begin)) belong to no tensor (gap before \(SafetensorsFile.display(e.name)))")
            }
            covered = e.end
            previous = e
        }
        guard covered == dataLength else {
            throw fail("data buffer has \(dataLength) bytes but the tensors cover only \(covered) (trailing bytes)")
        }

        var tensors: [String: TensorData] = [:]
        tensors.reserveCapacity(entries.count)
        for e in entries {
            tensors[e.name] = TensorData(dtype: e.dtype, shape: e.shape,
                                         bytes: Array(bytes[(dataStart + e.begin)..<(dataStart + e.end)]))
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    private static func parseMetadata(_ value: JSONValue, fail: (String) -> MakemoreError) throws -> [String: String] {
        guard case let .object(members) = value else {
            throw fail("__metadata__ must be an object of strings, got \(value.typeName)")
        }
        var metadata: [String: String] = [:]
        for (key, v) in members {
            guard case let .string(s) = v else {
                throw fail("__metadata__ entry \(SafetensorsFile.display(key)) must be a string, got \(v.typeName)")
            }
            guard metadata.updateValue(s, forKey: key) == nil else {
                throw fail("duplicate __metadata__ entry \(SafetensorsFile.display(key))")
            }
        }
        return metadata
    }

    private static func parseEntry(_ name: String, _ value: JSONValue, dataLength: Int,
                                   fail: (String) -> MakemoreError) throws -> Entry {
        let label = "tensor \(SafetensorsFile.display(name))"
        guard case let .object(fields) = value else {
            throw fail("\(label): entry must be an object, got \(value.typeName)")
        }
        var dtypeValue: JSONValue?, shapeValue: JSONValue?, offsetsValue: JSONValue?
        for (key, v) in fields {
            switch key {
            case "dtype", "shape", "data_offsets":
                let slot: JSONValue? = key == "dtype" ? dtypeValue : key == "shape" ? shapeValue : offsetsValue
                if slot != nil { throw fail("\(label): duplicate \"\(key)\"") }
                if key == "dtype" { dtypeValue = v } else if key == "shape" { shapeValue = v } else { offsetsValue = v }
            default:
                break // unknown fields are ignored, as the reference reader does
            }
        }
        guard let dtypeValue else { throw fail("\(label): missing \"dtype\"") }
        guard let shapeValue else { throw fail("\(label): missing \"shape\"") }
        guard let offsetsValue else { throw fail("\(label): missing \"data_offsets\"") }

        guard case let .string(dtypeName) = dtypeValue else {
            throw fail("\(label): dtype must be a string, got \(dtypeValue.typeName)")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("unsupported dtype \(SafetensorsFile.display(dtypeName).dropFirst().dropLast()) for \(label) (supported: F32, F64, I32, I64)")
        }

        guard case let .array(dimValues) = shapeValue else {
            throw fail("\(label): shape must be an array of non-negative integers, got \(shapeValue.typeName)")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dimValues.count)
        for d in dimValues {
            guard let dim = d.nonNegativeInteger else {
                throw fail("\(label): shape must be an array of non-negative integers, got \(shapeValue.brief)")
            }
            guard dim <= UInt64(Int.max) else {
                throw fail("\(label): shape dimension \(dim) is too large")
            }
            shape.append(Int(dim))
        }
        var count = 1
        for dim in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw fail("\(label): shape \(SafetensorsFile.format(shape)) has too many elements (overflows)")
            }
            count = p
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else {
            throw fail("\(label): shape \(SafetensorsFile.format(shape)) of \(dtype.rawValue) is too large (byte size overflows)")
        }

        guard case let .array(offsetValues) = offsetsValue, offsetValues.count == 2,
              let begin = offsetValues[0].nonNegativeInteger, let end = offsetValues[1].nonNegativeInteger else {
            throw fail("\(label): data_offsets must be 2 non-negative integers [begin, end], got \(offsetsValue.brief)")
        }
        guard begin <= end else {
            throw fail("\(label): data_offsets [\(begin), \(end)] begin is after end")
        }
        guard end <= UInt64(dataLength) else {
            throw fail("\(label) data_offsets [\(begin), \(end)] past end of data (\(dataLength) bytes)")
        }
        // Both fit in Int now: begin <= end <= dataLength.
        let b = Int(begin), e = Int(end)
        guard e - b == needed else {
            throw fail("\(label): shape \(SafetensorsFile.format(shape)) needs \(needed) bytes, data_offsets give \(e - b)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: b, end: e)
    }

    // MARK: Encoding

    static func encode(_ file: SafetensorsFile) -> [UInt8] {
        let names = file.tensors.keys.sorted { a, b in
            let (ta, tb) = (file.tensors[a]?.dtype.writeRank ?? 0, file.tensors[b]?.dtype.writeRank ?? 0)
            if ta != tb { return ta > tb }
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !file.metadata.isEmpty {
            separator()
            JSONLite.appendQuotedString(metadataKey, to: &header)
            header.append(contentsOf: Array(":{".utf8))
            let keys = file.metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                JSONLite.appendQuotedString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                JSONLite.appendQuotedString(file.metadata[key] ?? "", to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for name in names {
            guard let t = file.tensors[name] else { continue }
            separator()
            JSONLite.appendQuotedString(name, to: &header)
            let shape = t.shape.map(String.init).joined(separator: ",")
            let entry = ":{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}"
            header.append(contentsOf: Array(entry.utf8))
            offset += t.bytes.count
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        let n = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out.append(contentsOf: header)
        for name in names {
            if let t = file.tensors[name] { out.append(contentsOf: t.bytes) }
        }
        return out
    }
}
