import CElementary

/// The vector the update rules run on: two SSE registers on baseline x86-64, two NEON registers
/// on arm64. Wider vectors are no faster: Adam's divisions and square root bound it (on SSE;
/// where the CPU has AVX2 or AVX-512F, Adam runs in C on them instead: `AdamKernel`).
typealias UpdateVector = SIMD8<Float>

/// Where a rule reads and writes its lanes: a whole vector, or the first lanes of one at the end
/// of a segment. Every value is computed lane by lane by the operations, in the order, of the
/// scalar loop the rules replaced: IEEE +, −, ×, ÷ and √ are correctly rounded in each lane as
/// in scalar code, so the bits are the same. Nothing is fused into FMA (Swift contracts nothing)
/// and no division becomes a multiplication.
protocol LaneAccess {
    func load(_ p: UnsafePointer<Float>) -> UpdateVector
    func store(_ x: UpdateVector, _ p: UnsafeMutablePointer<Float>)
    /// The finiteness marks (`Finiteness`) of the lanes in use; 0 for the others.
    func marks(_ x: UpdateVector) -> SIMD8<UInt32>
}

/// All the vector's lanes.
struct WholeVector: LaneAccess {
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> UpdateVector {
        UnsafeRawPointer(p).loadUnaligned(as: UpdateVector.self)
    }
    @inline(__always) func store(_ x: UpdateVector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: x, as: UpdateVector.self)
    }
    @inline(__always) func marks(_ x: UpdateVector) -> SIMD8<UInt32> { Finiteness.marks(x) }
}

/// The first `count` lanes (fewer than all); the others are 0 and are computed but not written.
struct FirstLanes: LaneAccess {
    let count: Int

    @inline(__always) func load(_ p: UnsafePointer<Float>) -> UpdateVector {
        var x = UpdateVector.zero
        for i in 0..<count { x[i] = p[i] }
        return x
    }
    @inline(__always) func store(_ x: UpdateVector, _ p: UnsafeMutablePointer<Float>) {
        for i in 0..<count { p[i] = x[i] }
    }
    @inline(__always) func marks(_ x: UpdateVector) -> SIMD8<UInt32> {
        var marks = Finiteness.marks(x)
        for i in count..<marks.scalarCount { marks[i] = 0 }
        return marks
    }
}

/// One rule's update of one segment of the flat buffer. Every value is read before any value at
/// its index is written, so the outputs may be the inputs themselves (an update in place).
protocol UpdateRule {
    /// The values from i on that `lanes` covers updated and written; their marks.
    func update<Lanes: LaneAccess>(_ lanes: Lanes, at i: Int) -> SIMD8<UInt32>
}

extension UpdateRule {
    /// Values 0..<count updated, a vector at a time; their marks, or-ed.
    @inline(__always)
    func run(count: Int) -> UInt32 {
        var marks = SIMD8<UInt32>.zero
        let vectors = count - count % UpdateVector.scalarCount
        var i = 0
        while i < vectors {
            marks |= update(WholeVector(), at: i)
            i &+= UpdateVector.scalarCount
        }
        if vectors < count { marks |= update(FirstLanes(count: count - vectors), at: vectors) }
        var all: UInt32 = 0
        for lane in marks.indices { all |= marks[lane] }
        return all
    }
}

/// sgd without weight decay: W − α·(Σ/m).
struct PlainSGD: UpdateRule {
    let w: UnsafePointer<Float>, sum: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    let m: Float, alpha: Float

    @inline(__always)
    func update<Lanes: LaneAccess>(_ lanes: Lanes, at i: Int) -> SIMD8<UInt32> {
        let next = lanes.load(w + i) - alpha * (lanes.load(sum + i) / m)
        lanes.store(next, out + i)
        return lanes.marks(next)
    }
}

/// sgd with weight decay λ: W − α·(Σ/m + λ·W).
struct DecayedSGD: UpdateRule {
    let w: UnsafePointer<Float>, sum: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    let m: Float, alpha: Float, decay: Float

    @inline(__always)
    func update<Lanes: LaneAccess>(_ lanes: Lanes, at i: Int) -> SIMD8<UInt32> {
        let w = lanes.load(self.w + i)
        let next = w - alpha * (lanes.load(sum + i) / m + decay * w)
        lanes.store(next, out + i)
        return lanes.marks(next)
    }
}

/// Classical momentum: v = μ·v + (Σ/m + λ·W), W − α·v.
struct Momentum: UpdateRule {
    let w: UnsafePointer<Float>, sum: UnsafePointer<Float>, velocity: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>, outVelocity: UnsafeMutablePointer<Float>
    let m: Float, alpha: Float, decay: Float, mu: Float

    @inline(__always)
    func update<Lanes: LaneAccess>(_ lanes: Lanes, at i: Int) -> SIMD8<UInt32> {
        let w = lanes.load(self.w + i)
        let velocity = mu * lanes.load(self.velocity + i) + (lanes.load(sum + i) / m + decay * w)
        let next = w - alpha * velocity
        lanes.store(velocity, outVelocity + i)
        lanes.store(next, out + i)
        return lanes.marks(velocity) | lanes.marks(next)
    }
}

/// Adam's update of one segment: g = Σ/m + λ·W; m₁ = β₁·m₁ + (1 − β₁)·g;
/// m₂ = β₂·m₂ + (1 − β₂)·g·g; W − α·(m₁/c₁) / (√(m₂/c₂) + ε), with the bias corrections
/// c = 1 − βᵗ.
struct AdamSegment {
    let w: UnsafePointer<Float>, sum: UnsafePointer<Float>
    let first: UnsafePointer<Float>, second: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let outFirst: UnsafeMutablePointer<Float>, outSecond: UnsafeMutablePointer<Float>
    let m: Float, alpha: Float, decay: Float
    let beta1: Float, beta2: Float, epsilon: Float, correction1: Float, correction2: Float

    /// Values 0..<count updated; their marks, or-ed. A correction that has rounded to 1 (c₁ from
    /// t = 165 with β₁ = 0.9, c₂ from t ≈ 17,000 with β₂ = 0.999) divides nothing: x / 1 is x,
    /// to the bit, for every x the rule computes (a moment is the result of an addition, so never
    /// a signalling NaN, which a division would quieten). That saves one of the rule's five
    /// divisions and square roots, which bound its speed.
    func run(count: Int) -> UInt32 {
        switch (correction1 == 1, correction2 == 1) {
        case (false, false): Adam<DividedBy, DividedBy>(segment: self).run(count: count)
        case (true, false): Adam<One, DividedBy>(segment: self).run(count: count)
        case (false, true): Adam<DividedBy, One>(segment: self).run(count: count)
        case (true, true): Adam<One, One>(segment: self).run(count: count)
        }
    }
}

/// How a moment is corrected by its c = 1 − βᵗ.
protocol BiasCorrection {
    static func corrected(_ x: UpdateVector, by c: Float) -> UpdateVector
}

/// x / c.
enum DividedBy: BiasCorrection {
    @inline(__always) static func corrected(_ x: UpdateVector, by c: Float) -> UpdateVector { x / c }
}

/// x, where c is 1.
enum One: BiasCorrection {
    @inline(__always) static func corrected(_ x: UpdateVector, by c: Float) -> UpdateVector { x }
}

/// Adam's rule, its bias corrections as `First` and `Second` apply them.
struct Adam<First: BiasCorrection, Second: BiasCorrection>: UpdateRule {
    let segment: AdamSegment

    @inline(__always)
    func update<Lanes: LaneAccess>(_ lanes: Lanes, at i: Int) -> SIMD8<UInt32> {
        let a = segment
        let w = lanes.load(a.w + i)
        let g = lanes.load(a.sum + i) / a.m + a.decay * w
        let first = a.beta1 * lanes.load(a.first + i) + (1 - a.beta1) * g
        let second = a.beta2 * lanes.load(a.second + i) + (1 - a.beta2) * g * g
        let corrected1 = First.corrected(first, by: a.correction1)
        let corrected2 = Second.corrected(second, by: a.correction2)
        let next = w - a.alpha * corrected1 / (descent_sqrt8(corrected2) + a.epsilon)
        lanes.store(first, a.outFirst + i)
        lanes.store(second, a.outSecond + i)
        lanes.store(next, a.out + i)
        return lanes.marks(next) | lanes.marks(second)
    }
}
