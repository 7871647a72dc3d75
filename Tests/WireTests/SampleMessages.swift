import Core

@testable import Wire

/// Messages of every kind, small and large, shared by the codec and transport tests.
enum SampleMessages {
    /// Floats whose bits are easy to tell apart: no two are equal.
    static func distinctFloats(_ count: Int, seed: Float = 0) -> [Float] {
        (0..<count).map { Float($0) * 0.5 - 1000 + seed }
    }

    static let hello = Message.hello(
        Hello(
            name: "node-7.example.org:41213",
            profile: ArithmeticProfile(
                blas: "OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell", kernel: "Haswell", pin: "OPENBLAS_CORETYPE=Haswell",
                threads: 3, features: CPUFeatures(architecture: "x86_64", flags: ["avx2", "fma", "avx"]),
                elementary: "descent-elementary-1")))
    static let welcome = Message.welcome(
        Welcome(
            rank: 3, heartbeatMilliseconds: 500, threads: 1, layers: [784, 128, 64, 10],
            activation: "relu", seed: 0xDEAD_BEEF_CAFE_F00D, gradientEncoding: .bfloat16, blasKernel: "SkylakeX"
        ))
    static let refuse = Message.refuse(Refuse(reason: "protocol version 2, coordinator speaks 1 — über"))
    static let switchKernel = Message.refuse(Refuse(reason: "the run computes with Zen", kernel: "Zen"))
    static let shard = Message.shard(
        ShardChunk(
            shardID: 2, shardCount: 8, features: 3, shardExamples: 100, firstExample: 40,
            labels: [0, 9, -1, 4], values: distinctFloats(12)
        ))
    static let emptyShard = Message.shard(
        ShardChunk(
            shardID: 0, shardCount: 1, features: 784, shardExamples: 0, firstExample: 0,
            labels: [], values: []
        ))
    static let shardReady = Message.shardReady(ShardReady(shardID: 5, examples: 7500))
    static let params = Message.params(Params(step: 42, values: FloatArray(distinctFloats(40))))
    static let emptyParams = Message.params(Params(step: 0, values: []))
    /// A STEP that has the worker add its shards by the tree over 8 shards.
    static let step = Message.step(
        Step(
            step: 42, treeShards: 8,
            plan: [
                ShardWork(shard: 0, selection: .range(0..<32)),
                ShardWork(shard: 3, selection: .list([17, 2, 99, 0, Int32(bitPattern: 4_000_000_000)])),
                ShardWork(shard: 7, selection: .list([])),
                ShardWork(shard: 1, selection: .range(Int(UInt32.max)..<Int(UInt32.max) + 1)),
            ]
        ))
    static let emptyStep = Message.step(Step(step: 0, plan: []))
    /// The sum of a node of the tree over 8 shards: shards 4…7.
    static let partial = Message.partial(
        Partial(
            step: 42, shardID: 4, shardSpan: 4, exampleCount: 128, correctCount: 117, lossSum: 45.25,
            computeSeconds: 0.0125, gradients: .float32(FloatArray(distinctFloats(40, seed: 0.25)))
        ))
    /// 16-bit patterns no two alike, with the top bit (the sign) set in some.
    static func distinctBits(_ count: Int, seed: UInt16 = 0) -> [UInt16] {
        (0..<count).map { UInt16(truncatingIfNeeded: $0 &* 0x9E37) ^ seed }
    }

    static let float16Partial = Message.partial(
        Partial(
            step: 43, shardID: 1, exampleCount: 32, correctCount: 30, lossSum: 10.5, computeSeconds: 0.0125,
            gradients: .float16(HalfArray(distinctBits(41, seed: 0x3C00)))
        ))
    static let bfloat16Partial = Message.partial(
        Partial(
            step: 44, shardID: 2, exampleCount: 31, correctCount: 0, lossSum: 9.75, computeSeconds: 0.5,
            gradients: .bfloat16(HalfArray(distinctBits(40, seed: 0x3F80)))
        ))
    static let heartbeat = Message.heartbeat(Heartbeat(step: UInt64.max))
    static let bye = Message.bye(Bye(reason: ""))

    /// Params whose values exceed one frame: two frames.
    static let largeParams = Message.params(
        Params(
            step: 7, values: FloatArray(distinctFloats(WireProtocol.maxFramePayload / 4 + 1000))
        ))
    /// A Step whose example list alone exceeds one frame: two frames.
    static let largeStep = Message.step(
        Step(
            step: 7,
            plan: [ShardWork(shard: 0, selection: .list(Array(0..<Int32(WireProtocol.maxFramePayload / 4 + 600))))]
        ))
    /// A Partial just over two frames: three frames.
    static let largePartial = Message.partial(
        Partial(
            step: 8, shardID: 1, exampleCount: 600, correctCount: 0, lossSum: 1e30,
            gradients: .float32(FloatArray(distinctFloats(WireProtocol.maxFramePayload / 2 + 100, seed: 0.5)))
        ))

    static let relayingHello = Message.hello(
        Hello(name: "node-8:77", profile: .current(threads: 1), relayEndpoint: "tcp://10.0.0.8:5600"))
    static let relay = Message.relay(
        Relay(parentAddress: "10.0.0.7", children: ["tcp://10.0.0.9:5600", "tcp://[fd00::a]:5600"]))
    static let leaveTree = Message.relay(Relay(parentAddress: "", children: []))
    static let paramsPart = Message.paramsPart(
        ParamsPart(step: 42, offset: 16384, total: 16424, values: FloatArray(distinctFloats(40))))

    // MARK: Reducers (protocol 9)

    /// A Z85 CURVE public key (libzmq's documented test server key).
    static let curvePublicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

    static let reducerHello = Message.hello(
        Hello(
            name: "node-9:78", profile: .current(threads: 1), reducerEndpoint: "tcp://10.0.0.9:5700",
            reducerPublicKey: curvePublicKey))
    /// Three ranges: the coordinator's and two reducers', over CURVE.
    static let reducers = Message.reducers(
        Reducers(
            token: 0x0123_4567_89AB_CDEF, boundaries: [0, 100, 250, 400],
            endpoints: ["tcp://10.0.0.9:5700", "tcp://[fd00::b]:5700"], publicKeys: [curvePublicKey, curvePublicKey],
            broadcast: true))
    /// One range, the coordinator's: no reducers at all.
    static let noReducers = Message.reducers(Reducers(token: 1, boundaries: [0, 400], endpoints: [], publicKeys: []))
    static let join = Message.join(Join(token: 0x0123_4567_89AB_CDEF))
    static let reducerAssign = Message.reducerAssign(
        ReducerAssign(
            rank: 2, heartbeatMilliseconds: 500, layers: [784, 128, 10], activation: "tanh", shardCount: 12,
            boundaries: [0, 50_000, 80_000, 101_770], optimizer: adam, updates: 41, step: 42, broadcast: true))
    /// Adam with every hyper-parameter other than its default.
    static var adam: OptimizerSettings {
        var settings = OptimizerSettings(kind: .adam)
        settings.momentum = 0.5
        settings.beta1 = 0.8
        settings.beta2 = 0.99
        settings.epsilon = 1e-7
        settings.weightDecay = 0.0625
        return settings
    }
    static let rangeState = Message.rangeState(
        RangeState(
            step: 42, updates: 41, offset: 50_000, part: RangeState.secondMoment,
            values: FloatArray(distinctFloats(40, seed: 0.75))))
    static let stateRequest = Message.stateRequest(StateRequest(step: 42, parts: StateRequest.values | 4))
    static let reduceStep = Message.reduceStep(
        ReduceStep(
            step: 43, learningRate: 0.001, exampleCount: 128, tokens: [0x0123_4567_89AB_CDEF, 7, UInt64.max],
            shardExamples: [64, 0, 64]))
    static let reduced = Message.reduced(
        Reduced(
            step: 43, marks: 0x8000_0000, bytesReceived: 1_234_567, offset: 100,
            values: FloatArray(distinctFloats(150, seed: 0.125))))
    static let reducerNote = Message.reducerNote(
        ReducerNote(
            step: 43, shardID: 4, shardSpan: 4, verdict: ReducerNote.poisoned, reason: "segment 2 is not finite",
            token: 0xFEED_F00D))

    static let localSteps: Message = {
        var optimizer = OptimizerSettings(kind: .adam)
        optimizer.weightDecay = 0.0005
        return .localSteps(
            LocalSteps(
                step: 468, last: 700, pid: 4242, fd: 17, party: 1, parties: 2, shards: [2, 3], shardCount: 4,
                exampleCount: 60_000, batch: 128, seed: 7, learningRate: 0.001, schedule: .cosine(totalSteps: 4690),
                optimizer: optimizer, updates: 468, timeoutMilliseconds: 10_000))
    }()
    static let constantLocalSteps = Message.localSteps(
        LocalSteps(
            step: 0, last: 1, pid: 1, fd: 0, party: 0, parties: 1, shards: [0], shardCount: 1, exampleCount: 1,
            batch: 0, seed: 0, learningRate: 0.1, schedule: .step(everyEpochs: 3, factor: 0.5),
            optimizer: OptimizerSettings(kind: .sgd), updates: 0, timeoutMilliseconds: 1))

    static let small: [Message] = [
        hello, welcome, refuse, switchKernel, shard, emptyShard, shardReady, params, emptyParams, step, emptyStep,
        partial,
        float16Partial, bfloat16Partial, heartbeat, bye, relayingHello, relay, leaveTree, paramsPart,
        reducerHello, reducers, noReducers, join, reducerAssign, rangeState, stateRequest, reduceStep, reduced,
        reducerNote, localSteps, constantLocalSteps,
    ]
}
