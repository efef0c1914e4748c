/// 64-bit FNV-1a: a fast hash for telling inputs apart (the data a
/// checkpoint was trained on, what the ranks of a job hold), not for security.
struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ x: UInt64) {
        var v = x
        for _ in 0..<8 {
            add(byte: UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    mutating func add<T>(_ items: [T]) { items.withUnsafeBufferPointer { add($0) } }

    mutating func add<T>(_ items: UnsafeBufferPointer<T>) {
        for b in UnsafeRawBufferPointer(items) { add(byte: b) }
    }

    mutating func add(byte b: UInt8) { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }

    /// 16 hex digits.
    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
