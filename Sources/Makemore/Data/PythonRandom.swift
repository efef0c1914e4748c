// PythonRandom: a bit-exact copy of the parts of CPython's `random` module that
// the reference notebook uses to split the data: `random.seed(int)` and
// `random.shuffle(list)`. Reproducing them gives users the notebook's exact
// train/dev/test split.
//
// What it deliberately is not: a general-purpose RNG for training (minibatch
// sampling and weight init are the Trainer's business and need not match
// Python), nor a copy of `random.random()`, `randint` or the other methods.
//
// Sources followed (CPython 3.11):
//   Modules/_randommodule.c  genrand_uint32, init_genrand, init_by_array,
//                            random_seed (int branch), getrandbits
//   Lib/random.py            _randbelow_with_getrandbits, shuffle

/// MT19937 seeded exactly as CPython's `random.seed(n)` for an int `n`.
public struct PythonRandom {
    private static let n = 624
    private static let m = 397
    private static let matrixA: UInt32 = 0x9908_b0df
    private static let upperMask: UInt32 = 0x8000_0000
    private static let lowerMask: UInt32 = 0x7fff_ffff

    private var mt: [UInt32]
    private var mti: Int

    /// `random.seed(seed)`: CPython takes `abs(seed)`, splits it into 32-bit
    /// words, least significant first (at least one word, so 0 gives `[0]`),
    /// and calls `init_by_array` with them.
    public init(seed: Int) {
        var magnitude = seed.magnitude  // UInt, so Int.min does not overflow
        var key: [UInt32] = []
        repeat {
            key.append(UInt32(truncatingIfNeeded: magnitude))
            magnitude >>= 32
        } while magnitude != 0
        self.init(key: key)
    }

    /// `init_by_array(key)`; `key` must not be empty (CPython never passes an
    /// empty one; an empty key is treated as `[0]` here).
    init(key rawKey: [UInt32]) {
        let key = rawKey.isEmpty ? [0] : rawKey
        mt = [UInt32](repeating: 0, count: Self.n)
        mti = Self.n + 1
        initGenrand(19_650_218)
        var i = 1
        var j = 0
        var k = max(Self.n, key.count)
        while k > 0 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30)
            mt[i] = (mt[i] ^ (prev &* 1_664_525)) &+ key[j] &+ UInt32(truncatingIfNeeded: j)
            i += 1
            j += 1
            if i >= Self.n { mt[0] = mt[Self.n - 1]; i = 1 }
            if j >= key.count { j = 0 }
            k -= 1
        }
        k = Self.n - 1
        while k > 0 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30)
            mt[i] = (mt[i] ^ (prev &* 1_566_083_941)) &- UInt32(truncatingIfNeeded: i)
            i += 1
            if i >= Self.n { mt[0] = mt[Self.n - 1]; i = 1 }
            k -= 1
        }
        mt[0] = 0x8000_0000  // MSB is 1, assuring a non-zero initial array
    }

    private mutating func initGenrand(_ s: UInt32) {
        mt[0] = s
        for i in 1..<Self.n {
            mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i)
        }
        mti = Self.n
    }

    /// The next 32-bit output of MT19937 (CPython `genrand_uint32`).
    public mutating func genrandUInt32() -> UInt32 {
        if mti >= Self.n {
            for kk in 0..<Self.n {
                let y = (mt[kk] & Self.upperMask) | (mt[(kk + 1) % Self.n] & Self.lowerMask)
                let mag: UInt32 = (y & 1) == 0 ? 0 : Self.matrixA
                mt[kk] = mt[(kk + Self.m) % Self.n] ^ (y >> 1) ^ mag
            }
            mti = 0
        }
        var y = mt[mti]
        mti += 1
        y ^= (y >> 11)
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= (y >> 18)
        return y
    }

    /// `random.getrandbits(k)` for `k` in 1...64 (values outside are clamped
    /// to that range). For k <= 32 this is the top k bits of one output; for
    /// larger k, 32-bit words are drawn least significant first and the last
    /// one keeps only its top bits.
    public mutating func getrandbits(_ k: Int) -> UInt64 {
        let k = min(max(k, 1), 64)
        if k <= 32 {
            return UInt64(genrandUInt32() >> UInt32(32 - k))
        }
        let low = UInt64(genrandUInt32())
        let high = UInt64(genrandUInt32() >> UInt32(64 - k))
        return low | (high << 32)
    }

    /// `random._randbelow_with_getrandbits(n)`: a uniform integer in `0..<n`
    /// by rejection sampling on `getrandbits(n.bit_length())`. Returns 0 for
    /// `n <= 0` (Python raises there; no caller of ours passes it).
    public mutating func randbelow(_ n: Int) -> Int {
        guard n > 0 else { return 0 }
        let bound = UInt64(n)
        let k = 64 - bound.leadingZeroBitCount  // n.bit_length()
        var r = getrandbits(k)
        while r >= bound {
            r = getrandbits(k)
        }
        return Int(r)
    }

    /// `random.shuffle(a)` (CPython 3.11): Fisher–Yates from the end,
    /// `j = randbelow(i + 1)` for i = len-1 down to 1.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, through: 1, by: -1) {
            let j = randbelow(i + 1)
            a.swapAt(i, j)
        }
    }
}
