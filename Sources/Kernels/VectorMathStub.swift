import Foundation
// TEMPORARY scalar stand-ins until the SIMD versions land.
@inlinable public func vexp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    var r = x; for i in 0..<16 { r[i] = Foundation.exp(x[i]) }; return r
}
@inlinable public func vtanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    var r = x; for i in 0..<16 { r[i] = Foundation.tanh(x[i]) }; return r
}
