import Core
import Testing
import Wire

@testable import Coordinator

@Suite struct PartialValidatorTests {
    let segments = Fixtures.layout.segments.map(\.range)
    let validator: PartialValidator
    /// Step 5: shard 0 takes 4 examples, shard 1 three; shard 2 is not in the step.
    let work: [Int: ShardWork] = [
        0: ShardWork(shard: 0, selection: .range(0..<4)),
        1: ShardWork(shard: 1, selection: .list([4, 6, 7])),
    ]
    let accumulator = GradientAccumulator(layout: Fixtures.layout, shards: 3)

    init() {
        validator = PartialValidator(shardCount: 3, segments: segments, encoding: .float32)
    }

    /// A partial for shard 0 of step 5 that is right in every respect.
    func partial(_ change: (inout Partial) -> Void = { _ in }) -> Partial {
        var partial = Partial(
            step: 5, shardID: 0, segment: 0, exampleCount: 4, correctCount: 3, lossSum: 2.5,
            gradients: .float32(FloatArray([Float](repeating: 0.25, count: segments[0].count))))
        change(&partial)
        return partial
    }

    func verdict(on partial: Partial, hosted: Set<Int> = [0, 1, 2], validator: PartialValidator? = nil)
        -> PartialValidator.Verdict
    {
        (validator ?? self.validator).verdict(
            on: partial, step: 5, hostedShards: hosted, work: work, accumulator: accumulator)
    }

    @Test func aRightPartialIsAccepted() {
        #expect(verdict(on: partial()) == .accept)
        #expect(
            verdict(
                on: partial {
                    $0.shardID = 1
                    $0.exampleCount = 3
                }) == .accept)
    }

    @Test func anotherStepsPartialIsIgnored() {
        #expect(verdict(on: partial { $0.step = 4 }) == .ignore("it is for step 4, not 5"))
    }

    @Test func aPartialForAShardNotTheWorkersIsIgnored() {
        let reason = PartialValidator.Verdict.ignore("shard 0 is not this worker's")
        #expect(verdict(on: partial(), hosted: [1]) == reason)
        // Hosted, but not in this step's work; and beyond the shard count.
        #expect(verdict(on: partial { $0.shardID = 2 }) == .ignore("shard 2 is not this worker's"))
        #expect(verdict(on: partial { $0.shardID = 3 }, hosted: [3]) == .ignore("shard 3 is not this worker's"))
    }

    @Test func aSegmentBeyondTheGradientIsPoisoned() {
        let count = segments.count
        #expect(
            verdict(on: partial { $0.segment = UInt32(count) })
                == .poisoned("segment \(count) of a gradient cut in \(count)"))
    }

    @Test func aSegmentThatArrivedBeforeIsIgnored() {
        let values = [Float](repeating: 1, count: Fixtures.layout.count)
        accumulator.add(shard: 0, gradients: values, examples: 4, correct: 3, lossSum: 2.5)
        #expect(verdict(on: partial()) == .ignore("shard 0 segment 0 arrived already"))
    }

    @Test func aWrongExampleCountIsPoisoned() {
        #expect(
            verdict(on: partial { $0.exampleCount = 5 })
                == .poisoned("shard 0 reports 5 examples, the step gave 4"))
    }

    /// A node of the tree (shards 0 and 1 of 3) sums its shards' examples; a span that is not a
    /// node is poisoned; one that overlaps what is in, or holds a shard not the worker's, is not
    /// taken.
    @Test func aNodeOfTheTreeIsCheckedAsItsShards() {
        let node = partial {
            $0.shardSpan = 2
            $0.exampleCount = 7
        }
        #expect(verdict(on: node) == .accept)
        #expect(
            verdict(on: partial { $0.shardSpan = 2 }) == .poisoned("shards 0…1 report 4 examples, the step gave 7"))
        #expect(verdict(on: node, hosted: [0]) == .ignore("shards 0…1 are not this worker's"))
        // 1…2 is no node of the tree over 3 (0…1 and 2 are), and shard 2 is not in the step.
        #expect(
            verdict(
                on: partial {
                    $0.shardID = 1
                    $0.shardSpan = 2
                }) == .ignore("shards 1…2 are not this worker's"))
        let sparse = PartialValidator(shardCount: 4, segments: segments, encoding: .float32)
        let four = GradientAccumulator(layout: Fixtures.layout, shards: 4)
        let work4 = (0..<4).reduce(into: [Int: ShardWork]()) { $0[$1] = ShardWork(shard: $1, selection: .range(0..<1)) }
        let middle = partial {
            $0.shardID = 1
            $0.shardSpan = 2
            $0.exampleCount = 2
        }
        #expect(
            sparse.verdict(on: middle, step: 5, hostedShards: [0, 1, 2, 3], work: work4, accumulator: four)
                == .poisoned("shards 1…2 are not a node of the reduction tree"))
        let values = [Float](repeating: 1, count: Fixtures.layout.count)
        accumulator.add(shard: 1, segment: 0, values: values, examples: 3, correct: 0, lossSum: 0)
        #expect(verdict(on: node) == .ignore("shards 0…1 segment 0 arrived already"))
    }

    @Test func anotherEncodingIsPoisoned() {
        let halves = partial { $0.gradients = .float16(HalfArray([UInt16](repeating: 0, count: segments[0].count))) }
        #expect(verdict(on: halves) == .poisoned("gradients in float16, the run asked for float32"))
        let compressed = PartialValidator(shardCount: 3, segments: segments, encoding: .bfloat16)
        let reason = "gradients in float32, the run asked for bfloat16"
        #expect(verdict(on: partial(), validator: compressed) == .poisoned(reason))
    }

    @Test func aWrongLengthIsPoisoned() {
        let short = partial { $0.gradients = .float32(FloatArray([1, 2])) }
        #expect(verdict(on: short) == .poisoned("2 gradient values in segment 0, which has \(segments[0].count)"))
    }

    @Test func aLossSumNotFiniteOrBelowZeroIsPoisoned() {
        #expect(verdict(on: partial { $0.lossSum = .nan }) == .poisoned("loss sum nan"))
        #expect(verdict(on: partial { $0.lossSum = .infinity }) == .poisoned("loss sum inf"))
        #expect(verdict(on: partial { $0.lossSum = -1 }) == .poisoned("loss sum -1.0"))
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func aGradientNotFiniteIsPoisoned(_ bad: Float) {
        var values = [Float](repeating: 0.5, count: segments[0].count)
        values[values.count - 1] = bad
        #expect(
            verdict(on: partial { $0.gradients = .float32(FloatArray(values)) })
                == .poisoned("non-finite gradient values"))
    }

    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func aSixteenBitGradientNotFiniteIsPoisoned(_ encoding: GradientEncoding) {
        let validator = PartialValidator(shardCount: 3, segments: segments, encoding: encoding)
        let infinity: UInt16 = encoding == .float16 ? 0x7C00 : 0x7F80
        var bits = [UInt16](repeating: 0x3C00, count: segments[0].count)
        let finite = partial { $0.gradients = PartialGradients(encoding, bits: HalfArray(bits)) }
        #expect(verdict(on: finite, validator: validator) == .accept)
        bits[1] = infinity
        let infinite = partial { $0.gradients = PartialGradients(encoding, bits: HalfArray(bits)) }
        #expect(verdict(on: infinite, validator: validator) == .poisoned("non-finite gradient values"))
    }

    /// The 16-bit check looks at the values as they travel: it must agree with reading them back.
    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func sixteenBitFinitenessAgreesWithTheValuesReadBack(_ encoding: GradientEncoding) {
        var disagreements: [UInt16] = []
        for pattern in 0...UInt16.max {
            let travelling = PartialValidator.allFinite(PartialGradients(encoding, bits: HalfArray([pattern])))
            if travelling != encoding.dequantize(pattern).isFinite { disagreements.append(pattern) }
        }
        #expect(disagreements.isEmpty, "judged otherwise than their Float32 values: \(disagreements.prefix(8))")
    }
}
