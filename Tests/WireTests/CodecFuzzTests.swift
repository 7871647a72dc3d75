import Core
import Foundation
import Testing

@testable import Wire

/// Seeded fuzzing of `MessageCodec.decode`: whatever the frames, it must throw the decoding
/// `WireError` the input calls for, or return a message the encoder turns back into exactly
/// those frames (docs/PROTOCOL.md admits one encoding per message, so an accepted input is
/// the encoding of what it decoded to, and decoding is stable). A trap ends the whole run:
/// that is the point.
///
/// Each test prints its seed before it starts. `DESCENT_FUZZ_SEED` (decimal or 0x-hex) replays
/// a run; `DESCENT_FUZZ_CASES` sets the total number of cases, shared out among the tests.
@Suite struct CodecFuzzTests {
    @Test func randomFramesAreRefused() throws {
        let settings = try FuzzSettings.fromEnvironment()
        var checker = DecodeChecker(test: "random frames", seed: settings.seed, cases: settings.randomFrameCases)
        for index in 0..<settings.randomFrameCases {
            var source = FuzzSource(seed: settings.seed, stream: 1, case: index)
            let frames = (0..<source.int(1...3)).map { _ in source.randomFrame() }
            checker.check(frames, "case \(index)")
        }
        checker.finish(
            reaching: [
                "truncated", "badMagic", "versionMismatch", "unknownKind", "unsupportedFlags",
                "badPartNumbering", "oversizedFrame",
            ], if: settings.checksSpread)
    }

    @Test func damagedEncodingsAreRefusedOrReencodeExactly() throws {
        let settings = try FuzzSettings.fromEnvironment()
        var checker = DecodeChecker(test: "damaged frames", seed: settings.seed, cases: settings.damagedCases)
        for index in 0..<settings.damagedCases {
            var source = FuzzSource(seed: settings.seed, stream: 2, case: index)
            let message = source.message()
            let frames = MessageCodec.encode(message)
            checker.checkUnmodified(message, frames, "case \(index)")
            var damaged = frames
            for _ in 0..<source.int(1...3) { source.damage(&damaged) }
            checker.check(damaged, "case \(index)")
        }
        checker.finish(
            reaching: [
                "badChecksum", "truncated", "trailingBytes", "badMagic", "versionMismatch", "unknownKind",
                "unsupportedFlags", "badPartNumbering", "oversizedFrame", "malformedPayload", "emptyMessage",
            ], if: settings.checksSpread)
    }

    /// The CRC-32C is recomputed after each edit, so the payload parser itself is fuzzed.
    @Test func resealedPayloadsAreRefusedOrReencodeExactly() throws {
        let settings = try FuzzSettings.fromEnvironment()
        var checker = DecodeChecker(test: "resealed payloads", seed: settings.seed, cases: settings.resealedCases)
        for index in 0..<settings.resealedCases {
            var source = FuzzSource(seed: settings.seed, stream: 3, case: index)
            let message = source.message()
            let frames = MessageCodec.encode(message)
            checker.checkUnmodified(message, frames, "case \(index)")
            var damaged = frames
            if source.chance(15) { damaged[0][6] = UInt8(source.int(1...MessageKind.allCases.count)) }
            source.editSealed(&damaged, at: 0, edits: source.int(1...3), resizing: true)
            checker.check(damaged, "case \(index)")
        }
        checker.finish(reaching: ["malformedPayload", "trailingBytes", "accepted"], if: settings.checksSpread)
    }

    /// A few megabyte-sized messages, encoded once, damaged afresh in every case.
    @Test func damagedMultiFrameMessagesAreRefusedOrReencodeExactly() throws {
        let settings = try FuzzSettings.fromEnvironment()
        var checker = DecodeChecker(test: "multi-frame", seed: settings.seed, cases: settings.multiFrameCases)
        var setup = FuzzSource(seed: settings.seed, stream: 4, case: 0)
        let originals =
            [setup.multiFrameParams()] + GradientEncoding.allCases.map { setup.multiFramePartial($0) }
            + [setup.multiFrameShard()]
        let encodings = originals.map(MessageCodec.encode)
        #expect(encodings.map(\.count) == [3, 2, 2, 2, 2])
        for (message, frames) in zip(originals, encodings) {
            checker.checkUnmodified(message, frames, "\(message.kind) of \(frames.count) frames")
        }
        for index in 0..<settings.multiFrameCases {
            var source = FuzzSource(seed: settings.seed, stream: 5, case: index)
            var damaged = encodings[source.int(0...encodings.count - 1)]
            for _ in 0..<source.int(1...2) { source.damageParts(&damaged, others: encodings) }
            checker.check(damaged, "case \(index)")
        }
        checker.finish(
            reaching: [
                "badPartNumbering", "inconsistentParts", "badChecksum", "malformedPayload", "accepted",
            ], if: settings.checksSpread)
    }
}

extension CodecFuzzTests {
    /// The generator is only as good as what it makes: every gradient encoding, in WELCOME and
    /// in PARTIAL, turns up among the first thousand messages.
    @Test func generatorMakesEveryGradientEncoding() {
        var welcomes = Set<GradientEncoding>()
        var partials = Set<GradientEncoding>()
        for index in 0..<1000 {
            var source = FuzzSource(seed: FuzzSettings().seed, stream: 2, case: index)
            switch source.message() {
            case .welcome(let welcome): welcomes.insert(welcome.gradientEncoding)
            case .partial(let partial): partials.insert(partial.encoding)
            default: break
            }
        }
        #expect(welcomes == Set(GradientEncoding.allCases))
        #expect(partials == Set(GradientEncoding.allCases))
    }

    /// Among the first thousand messages: PARTIALs of one shard and of many, some whose span ends
    /// at the largest u32 the decoder accepts, and STEPs with and without a tree to add by.
    @Test func generatorMakesEverySpanAndTree() {
        var spans = (single: 0, several: 0, endingAtTheLimit: 0)
        var trees = (none: 0, some: 0)
        for index in 0..<1000 {
            var source = FuzzSource(seed: FuzzSettings().seed, stream: 2, case: index)
            switch source.message() {
            case .partial(let partial):
                if partial.shardSpan == 1 { spans.single += 1 } else { spans.several += 1 }
                if UInt64(partial.shardID) + UInt64(partial.shardSpan) == UInt64(UInt32.max) {
                    spans.endingAtTheLimit += 1
                }
            case .step(let step):
                if step.treeShards == 0 { trees.none += 1 } else { trees.some += 1 }
            default: break
            }
        }
        #expect(spans.single > 0 && spans.several > 0 && spans.endingAtTheLimit > 0)
        #expect(trees.none > 0 && trees.some > 0)
    }
}

// MARK: - Settings

/// The seed and number of cases of a run: fixed by default, overridden from the environment.
private struct FuzzSettings {
    var seed: UInt64 = 0xD35C_E47F_0022_C0DE
    var cases = 100_000

    /// Multi-frame cases move megabytes each, so they get a small share.
    var multiFrameCases: Int { max(1, cases / 250) }
    var randomFrameCases: Int { (cases - multiFrameCases) * 3 / 10 }
    var damagedCases: Int { (cases - multiFrameCases) * 7 / 20 }
    var resealedCases: Int { cases - multiFrameCases - randomFrameCases - damagedCases }
    /// Below this many cases, which errors turn up is left to chance.
    var checksSpread: Bool { cases >= 10_000 }

    static func fromEnvironment(sourceLocation: SourceLocation = #_sourceLocation) throws -> FuzzSettings {
        let environment = ProcessInfo.processInfo.environment
        var settings = FuzzSettings()
        if let text = environment["DESCENT_FUZZ_SEED"] {
            let digits = text.replacingOccurrences(of: "_", with: "").lowercased()
            let seed = digits.hasPrefix("0x") ? UInt64(digits.dropFirst(2), radix: 16) : UInt64(digits)
            settings.seed = try #require(
                seed, "DESCENT_FUZZ_SEED=\(text) is not a decimal or 0x-hex u64", sourceLocation: sourceLocation)
        }
        if let text = environment["DESCENT_FUZZ_CASES"] {
            settings.cases = try #require(
                Int(text).flatMap { $0 > 0 ? $0 : nil }, "DESCENT_FUZZ_CASES=\(text) is not a positive count",
                sourceLocation: sourceLocation)
        }
        return settings
    }
}

// MARK: - Checking

/// Decodes inputs, checks every outcome, and counts the outcomes by name.
private struct DecodeChecker {
    let test: String
    let seed: UInt64
    private var outcomes: [String: Int] = [:]
    private var unmodifiedDecoded = 0
    private var violations = 0

    init(test: String, seed: UInt64, cases: Int) {
        self.test = test
        self.seed = seed
        // Printed first: after a trap, this line is all that is left to replay the run with.
        print("CodecFuzz \(test): seed \(hex(seed)), \(cases) cases")
    }

    /// A refusal must be the decoding error `frames` call for; an acceptance must re-encode to `frames`.
    mutating func check(_ frames: [[UInt8]], _ context: @autoclosure () -> String) {
        let message: Message
        do {
            message = try MessageCodec.decode(frames)
        } catch {
            outcomes[error.decodingCaseName ?? "not a decoding error", default: 0] += 1
            if let complaint = problem(with: error, for: frames) { violation(complaint, frames, context()) }
            return
        }
        outcomes["accepted", default: 0] += 1
        let reencoded = MessageCodec.encode(message)
        guard !sameBytes(reencoded, frames) else { return }
        let stable = (try? MessageCodec.decode(reencoded)).map { sameBytes(MessageCodec.encode($0), reencoded) }
        violation(
            "accepted as \(message.kind), but re-encodes to other frames (which decode "
                + (stable == true ? "stably" : "UNSTABLY") + "):\n\(describe(reencoded))",
            frames, context())
    }

    /// `frames` are the encoding of `message`: they must decode to it, NaN payloads included.
    mutating func checkUnmodified(_ message: Message, _ frames: [[UInt8]], _ context: @autoclosure () -> String) {
        do {
            let decoded = try MessageCodec.decode(frames)
            // `==` is false for NaN and true for -0 == 0; the bytes of the re-encoding are exact.
            if (message.containsNaN || decoded == message) && sameBytes(MessageCodec.encode(decoded), frames) {
                unmodifiedDecoded += 1
            } else {
                violation("unmodified \(message.kind) decoded to another message", frames, context())
            }
        } catch {
            violation("unmodified \(message.kind) refused: \(error)", frames, context())
        }
    }

    /// Prints the tally; expects no violations and every outcome in `expected` reached.
    func finish(reaching expected: [String], if checksSpread: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let tally = outcomes.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }
        print(
            "CodecFuzz \(test): seed \(hex(seed)), \(outcomes.values.reduce(0, +)) cases, "
                + "\(unmodifiedDecoded) unmodified encodings decoded exactly; " + tally.joined(separator: ", "))
        #expect(violations == 0, "\(violations) inputs decoded wrongly", sourceLocation: sourceLocation)
        if checksSpread {
            let missed = expected.filter { outcomes[$0] == nil }
            #expect(missed.isEmpty, "the fuzzer never reached \(missed)", sourceLocation: sourceLocation)
        }
    }

    /// Records the first few violations in full; the rest are only counted.
    private mutating func violation(_ problem: String, _ frames: [[UInt8]], _ context: String) {
        violations += 1
        guard violations <= 10 else { return }
        Issue.record("\(test), seed \(hex(seed)), \(context): \(problem)\ninput:\n\(describe(frames))")
    }
}

/// What is wrong with `error` as the answer to `frames`, or nil if it is the right answer.
private func problem(with error: WireError, for frames: [[UInt8]]) -> String? {
    let wrong = "threw \(error.decodingCaseName ?? "") (\(error))"
    if let implausible = implausibility(of: error) { return "\(wrong): \(implausible)" }
    guard let first = frames.first else { return error == .emptyMessage ? nil : "\(wrong), not emptyMessage" }
    // The first frame is checked before anything else; for later frames the order is not pinned.
    if let expected = expectedFrameError(first) {
        return error == expected ? nil : "\(wrong), not \(expected.decodingCaseName ?? "") (\(expected))"
    }
    if frames.count == 1 && littleEndian(first, at: 18, size: 2) != 1 {
        return error == .badPartNumbering ? nil : "\(wrong), not badPartNumbering for a lone frame of several"
    }
    guard frames.dropFirst().allSatisfy({ expectedFrameError($0) == nil }) else { return nil }
    switch error {
    case .badPartNumbering, .inconsistentParts:
        return frames.count > 1 ? nil : "\(wrong) for a lone frame"
    case .malformedPayload, .trailingBytes:
        return nil
    default:
        return "\(wrong), though every frame passes the frame checks"
    }
}

/// The error a frame must raise by itself, in the order of docs/PROTOCOL.md, reading the header
/// byte by byte rather than with `FrameHeader`; nil if it passes every check of a single frame.
private func expectedFrameError(_ frame: [UInt8]) -> WireError? {
    let headerSize = WireProtocol.headerSize
    guard frame.count >= headerSize else { return .truncated(expected: headerSize, got: frame.count) }
    let magic = UInt32(littleEndian(frame, at: 0, size: 4))
    guard magic == WireProtocol.magic else { return .badMagic(magic) }
    let version = UInt16(littleEndian(frame, at: 4, size: 2))
    guard version == WireProtocol.protocolVersion else {
        return .versionMismatch(expected: WireProtocol.protocolVersion, got: version)
    }
    guard MessageKind(rawValue: frame[6]) != nil else { return .unknownKind(frame[6]) }
    guard frame[7] == 0 else { return .unsupportedFlags(frame[7]) }
    let part = littleEndian(frame, at: 16, size: 2)
    let parts = littleEndian(frame, at: 18, size: 2)
    guard parts >= 1, part < parts else { return .badPartNumbering }
    let length = Int(littleEndian(frame, at: 20, size: 4))
    guard length <= WireProtocol.maxFramePayload else { return .oversizedFrame(length) }
    let available = frame.count - headerSize
    guard available >= length else { return .truncated(expected: length, got: available) }
    guard available == length else { return .trailingBytes(available - length) }
    let stated = UInt32(littleEndian(frame, at: 24, size: 4))
    let checksum = frame.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
    guard checksum == stated else { return .badChecksum(expected: stated, got: checksum) }
    return nil
}

/// Why `error` cannot be true of any input to `decode`, or nil if it could be.
private func implausibility(of error: WireError) -> String? {
    guard error.decodingCaseName != nil else { return "not an error decoding can raise" }
    return switch error {
    case .badMagic(let magic): magic == WireProtocol.magic ? "the magic is right" : nil
    case .versionMismatch(let expected, let got):
        expected == WireProtocol.protocolVersion && got != expected ? nil : "the versions do not mismatch"
    case .unknownKind(let kind): MessageKind(rawValue: kind) == nil ? nil : "the kind is known"
    case .unsupportedFlags(let flags): flags != 0 ? nil : "the flags are 0"
    case .truncated(let expected, let got): 0 <= got && got < expected ? nil : "nothing is missing"
    case .trailingBytes(let count): count > 0 ? nil : "nothing is left over"
    case .oversizedFrame(let length): length > WireProtocol.maxFramePayload ? nil : "the length is within the limit"
    case .badChecksum(let expected, let got): expected != got ? nil : "the checksums agree"
    default: nil
    }
}

extension WireError {
    /// The case's name; nil for the transport errors (`zmq`, `closed`, `timedOut`, ...),
    /// which decoding must never raise.
    fileprivate var decodingCaseName: String? {
        switch self {
        case .badMagic: "badMagic"
        case .versionMismatch: "versionMismatch"
        case .unknownKind: "unknownKind"
        case .unsupportedFlags: "unsupportedFlags"
        case .truncated: "truncated"
        case .trailingBytes: "trailingBytes"
        case .oversizedFrame: "oversizedFrame"
        case .badChecksum: "badChecksum"
        case .badPartNumbering: "badPartNumbering"
        case .inconsistentParts: "inconsistentParts"
        case .malformedPayload: "malformedPayload"
        case .emptyMessage: "emptyMessage"
        default: nil
        }
    }
}

extension Message {
    fileprivate var containsNaN: Bool {
        switch self {
        case .params(let params): params.values.contains { $0.isNaN }
        case .partial(let partial):
            // 16-bit gradients compare as bit patterns, so only Float32 ones can hold a NaN unequal to itself.
            if case .float32(let gradients) = partial.gradients, gradients.contains(where: \.isNaN) {
                true
            } else {
                partial.lossSum.isNaN || partial.computeSeconds.isNaN
            }
        case .shard(let chunk): chunk.values.contains { $0.isNaN }
        case .paramsPart(let part): part.values.contains { $0.isNaN }
        case .rangeState(let state): state.values.contains { $0.isNaN }
        case .reduced(let reduced): reduced.values.contains { $0.isNaN }
        case .reduceStep(let step): step.learningRate.isNaN
        case .reducerAssign(let assign):
            [
                assign.optimizer.momentum, assign.optimizer.beta1, assign.optimizer.beta2, assign.optimizer.epsilon,
                assign.optimizer.weightDecay,
            ].contains { $0.isNaN }
        case .localSteps(let steps):
            [
                steps.learningRate, steps.optimizer.momentum, steps.optimizer.beta1, steps.optimizer.beta2,
                steps.optimizer.epsilon, steps.optimizer.weightDecay,
            ].contains { $0.isNaN }
        case .hello, .welcome, .refuse, .shardReady, .step, .heartbeat, .bye, .relay, .reducers, .join, .stateRequest,
            .reducerNote:
            false
        }
    }
}

/// Byte-for-byte equality, with `memcmp` so that megabyte frames compare quickly in debug builds.
private func sameBytes(_ a: [[UInt8]], _ b: [[UInt8]]) -> Bool {
    a.count == b.count
        && zip(a, b).allSatisfy { x, y in
            x.count == y.count
                && x.withUnsafeBytes { x in
                    y.withUnsafeBytes { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
                }
        }
}

/// Frames as hex, each cut at 1000 bytes, for a failure report to quote.
private func describe(_ frames: [[UInt8]]) -> String {
    guard !frames.isEmpty else { return "no frames" }
    return frames.enumerated().map { index, frame in
        let shown = frame.prefix(1000).map { String(format: "%02x", $0) }.joined()
        return "frame \(index) (\(frame.count) bytes): \(shown)\(frame.count > 1000 ? "…" : "")"
    }.joined(separator: "\n")
}

private func hex(_ value: UInt64) -> String {
    String(format: "0x%016llX", value)
}

/// The `size`-byte little-endian integer at `offset`.
private func littleEndian(_ bytes: [UInt8], at offset: Int, size: Int) -> UInt64 {
    (0..<size).reduce(0) { value, index in value | UInt64(bytes[offset + index]) << (8 * index) }
}

/// Writes the low `size` bytes of `value` little-endian at `offset`, as far as `bytes` reach.
private func write(_ value: UInt64, size: Int, at offset: Int, into bytes: inout [UInt8]) {
    for index in 0..<size where offset + index < bytes.count {
        bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
    }
}

// MARK: - Inputs

/// The random inputs of one case, from a stream of its own so each case is independent of
/// how much randomness the ones before it used.
private struct FuzzSource {
    private var random: SplitMix64

    init(seed: UInt64, stream: UInt64, case index: Int) {
        // The generator scrambles its state before output, so neighbouring seeds give unrelated streams.
        random = SplitMix64(seed: seed ^ (stream << 56) ^ UInt64(index))
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        Int.random(in: range, using: &random)
    }

    mutating func chance(_ percent: Int) -> Bool {
        int(0...99) < percent
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count { withUnsafeBytes(of: random.next()) { bytes.append(contentsOf: $0) } }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// The edges (0, 1, the maximum, the middle) a quarter of the time, small values another
    /// quarter, otherwise any value.
    mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T {
        switch int(0...7) {
        case 0, 1: [0, 1, 2, T.max / 2, T.max / 2 + 1, T.max - 1, T.max][int(0...6)]
        case 2, 3: T(int(0...16))
        default: T(truncatingIfNeeded: random.next())
        }
    }

    mutating func float() -> Float {
        switch int(0...9) {
        case 0:
            [
                .nan, -.nan, Float(bitPattern: 0x7FA0_0001), -0.0, .infinity, -.infinity,
                .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            ][int(0...7)]
        case 1...5: Float(int(-4000...4000)) / 16
        default: Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
        }
    }

    mutating func double() -> Double {
        switch int(0...9) {
        case 0:
            [
                .nan, Double(bitPattern: 0xFFF0_0000_0000_0001), -0.0, .infinity, .leastNonzeroMagnitude,
                .greatestFiniteMagnitude,
            ][int(0...5)]
        case 1...5: Double(int(-4000...4000)) / 16
        default: Double(bitPattern: random.next())
        }
    }

    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in float() }
    }

    /// Mostly a handful of elements, now and then a few hundred.
    mutating func length() -> Int {
        chance(2) ? int(0...400) : int(0...8)
    }

    /// Up to a dozen scalars of every UTF-8 width, or now and then exactly the 4096-byte limit.
    mutating func string() -> String {
        if chance(1) {
            let scalar = String(scalar())
            let width = scalar.utf8.count
            return String(repeating: scalar, count: WireProtocol.maxStringBytes / width)
                + String(repeating: "a", count: WireProtocol.maxStringBytes % width)
        }
        var scalars = String.UnicodeScalarView()
        for _ in 0..<int(0...12) { scalars.append(scalar()) }
        return String(scalars)
    }

    mutating func scalar() -> Unicode.Scalar {
        let value =
            switch int(0...9) {
            case 0...5: int(0...0x7F)
            case 6: int(0x80...0x7FF)
            case 7: int(0x800...0xD7FF)
            case 8: int(0xE000...0xFFFF)
            default: int(0x1_0000...0x10_FFFF)
            }
        return Unicode.Scalar(UInt32(value))!
    }

    /// A pin as the wire carries it: an empty string means none.
    mutating func pin() -> String? {
        let text = string()
        return text.isEmpty ? nil : text
    }

    /// A valid message of any kind, with random fields that pass the decoder's payload checks.
    mutating func message() -> Message {
        let kind = MessageKind.allCases[int(0...MessageKind.allCases.count - 1)]
        return switch kind {
        case .hello:
            .hello(
                Hello(
                    protocolVersion: chance(80) ? WireProtocol.protocolVersion : integer(), name: string(),
                    profile: ArithmeticProfile(
                        blas: string(), kernel: string(), pin: pin(), threads: int(0...64),
                        features: CPUFeatures(architecture: string(), flags: ["avx2", "fma"]), elementary: string()),
                    relayEndpoint: chance(50) ? "" : string(), reducerEndpoint: chance(50) ? "" : string(),
                    reducerPublicKey: chance(50) ? "" : curveKey()))
        case .welcome:
            .welcome(
                Welcome(
                    rank: integer(), heartbeatMilliseconds: integer(), threads: integer(),
                    layers: (0..<length()).map { _ in integer() }, activation: string(), seed: integer(),
                    gradientEncoding: encoding(), blasKernel: string()
                ))
        case .refuse: .refuse(Refuse(reason: string(), kernel: chance(50) ? "" : string()))
        case .shard:
            .shard(shardChunk(examples: length(), features: chance(5) ? int(0...64) : int(0...6), bulk: false))
        case .shardReady: .shardReady(ShardReady(shardID: integer(), examples: integer()))
        case .params: .params(Params(step: integer(), values: FloatArray(floats(length()))))
        case .step: .step(Step(step: integer(), treeShards: integer(), plan: plan()))
        case .partial: .partial(partial(count: length(), bulk: false))
        case .heartbeat: .heartbeat(Heartbeat(step: integer()))
        case .bye: .bye(Bye(reason: string()))
        case .relay: .relay(Relay(parentAddress: string(), children: (0..<int(0...3)).map { _ in string() }))
        case .paramsPart:
            paramsPart()
        case .reducers, .join, .reducerAssign, .rangeState, .stateRequest, .reduceStep, .reduced, .reducerNote:
            reducerMessage(kind)
        case .localSteps:
            localSteps()
        }
    }

    /// A span as a coordinator sends it: the decoder's checks hold.
    mutating func localSteps() -> Message {
        let shardCount = int(1...64)
        let parties = int(1...min(shardCount, 8))
        let step = UInt64(int(0...1_000_000))
        let shards = Set((0..<int(0...4)).map { _ in UInt32(int(0...shardCount - 1)) }).sorted()
        let schedules: [LearningRateSchedule] = [
            .constant, .step(everyEpochs: int(1...10), factor: 0.5), .cosine(totalSteps: int(1...100_000)),
        ]
        var optimizer = OptimizerSettings(kind: OptimizerKind.allCases[int(0...OptimizerKind.allCases.count - 1)])
        optimizer.weightDecay = chance(50) ? 0 : 0.001
        return .localSteps(
            LocalSteps(
                step: step, last: step + UInt64(int(1...4096)), pid: Int32(int(1...4_000_000)),
                fd: Int32(int(0...1000)),
                party: UInt32(int(0...parties - 1)), parties: UInt32(parties), shards: shards,
                shardCount: UInt32(shardCount), exampleCount: UInt64(shardCount + int(0...100_000)),
                batch: integer(), seed: integer(), learningRate: Float(int(1...1000)) / 1000,
                schedule: schedules[int(0...2)], optimizer: optimizer, updates: integer(),
                timeoutMilliseconds: UInt32(int(1...100_000))))
    }

    /// A piece that fits its total, as the decoder demands.
    mutating func paramsPart() -> Message {
        let values = floats(max(1, length()))
        let offset = chance(50) ? 0 : int(0...1000)
        let total = UInt32(offset + values.count + (chance(50) ? 0 : int(0...1000)))
        return .paramsPart(
            ParamsPart(step: integer(), offset: UInt32(offset), total: total, values: FloatArray(values)))
    }

    /// A valid reducer message (protocol 9) of `kind`, with random fields that pass the decoder's checks.
    mutating func reducerMessage(_ kind: MessageKind) -> Message {
        switch kind {
        case .reducers:
            let boundaries = self.boundaries()
            let count = boundaries.count - 2
            let keyed = chance(50)
            return .reducers(
                Reducers(
                    token: max(1, integer()), boundaries: boundaries, endpoints: (0..<count).map { _ in string() },
                    publicKeys: (0..<count).map { _ in keyed ? curveKey() : "" }))
        case .join: return .join(Join(token: integer()))
        case .reducerAssign:
            let boundaries = self.boundaries(atLeast: 3)
            var optimizer = OptimizerSettings(kind: OptimizerKind.allCases[int(0...2)])
            optimizer.momentum = float()
            optimizer.beta1 = float()
            optimizer.beta2 = float()
            optimizer.epsilon = float()
            optimizer.weightDecay = float()
            return .reducerAssign(
                ReducerAssign(
                    rank: UInt32(int(1...boundaries.count - 2)), heartbeatMilliseconds: integer(),
                    layers: (0..<length()).map { _ in integer() }, activation: string(), shardCount: integer(),
                    boundaries: boundaries, optimizer: optimizer, updates: integer(), step: integer()))
        case .rangeState:
            let values = floats(max(1, length()))
            return .rangeState(
                RangeState(
                    step: integer(), updates: integer(),
                    offset: chance(50)
                        ? UInt32(int(0...100_000)) : UInt32.max - UInt32(values.count - 1) - UInt32(int(0...9)),
                    part: UInt8(int(0...2)), values: FloatArray(values)))
        case .stateRequest: return .stateRequest(StateRequest(step: integer()))
        case .reduceStep:
            return .reduceStep(
                ReduceStep(
                    step: integer(), learningRate: float(), exampleCount: integer(),
                    tokens: (0..<length()).map { _ in integer() }))
        case .reduced:
            let values = floats(max(1, length()))
            return .reduced(
                Reduced(
                    step: integer(), marks: integer(), bytesReceived: integer(),
                    offset: chance(50) ? 0 : UInt32(int(0...100_000)), values: FloatArray(values)))
        default:
            let shardSpan: UInt32 = chance(50) ? 1 : max(1, integer())
            return .reducerNote(
                ReducerNote(
                    step: integer(), shardID: min(integer(), UInt32.max - shardSpan), shardSpan: shardSpan,
                    verdict: UInt8(int(0...1)), reason: string()))
        }
    }

    /// Boundaries as REDUCERS carries them: 0 first, strictly increasing, up to 65 of them.
    mutating func boundaries(atLeast minimum: Int = 2) -> [UInt32] {
        var boundaries: [UInt32] = [0]
        let count = chance(5) ? Reducers.maxRanges + 1 : int(minimum...6)
        while boundaries.count < count { boundaries.append(boundaries.last! + UInt32(int(1...100_000))) }
        return boundaries
    }

    /// One of a few valid Z85 CURVE keys (libzmq's documented test keys).
    mutating func curveKey() -> String {
        [
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
        ][int(0...2)]
    }

    mutating func shardChunk(examples: Int, features: Int, bulk: Bool) -> ShardChunk {
        let shardCount = max(1, integer(UInt32.self))
        let firstExample = min(integer(), UInt32.max - UInt32(examples))
        let end = firstExample + UInt32(examples)
        return ShardChunk(
            shardID: chance(50) ? shardCount - 1 : UInt32.random(in: 0..<shardCount, using: &random),
            shardCount: shardCount,
            features: UInt32(features),
            shardExamples: chance(50) ? end : UInt32.random(in: end...UInt32.max, using: &random),
            firstExample: firstExample,
            labels: (0..<examples).map { _ in Int32(truncatingIfNeeded: integer(UInt32.self)) },
            values: bulk ? bulkFloats(features * examples) : floats(features * examples)
        )
    }

    mutating func plan() -> [ShardWork] {
        var shardIDs = Set<UInt32>()
        var plan: [ShardWork] = []
        for _ in 0..<int(0...5) {
            let shardID: UInt32 = integer()
            guard shardIDs.insert(shardID).inserted else { continue }
            guard chance(50) else {
                let indices = (0..<length()).map { _ in Int32(bitPattern: integer()) }
                plan.append(ShardWork(shard: Int(shardID), selection: .list(indices)))
                continue
            }
            // Indices are u32, so a range may end at 2³² at most; 0 &- start is 2³² − start.
            let start: UInt32 = integer()
            let longest = start == 0 ? UInt32.max : 0 &- start
            let count = chance(50) ? longest : UInt32.random(in: 0...longest, using: &random)
            plan.append(ShardWork(shard: Int(shardID), selection: .range(Int(start)..<Int(start) + Int(count))))
        }
        return plan
    }

    mutating func encoding() -> GradientEncoding {
        GradientEncoding.allCases[int(0...GradientEncoding.allCases.count - 1)]
    }

    /// A partial of `count` gradients in any encoding; 16-bit ones of any bit pattern. Half are
    /// one shard's, the rest span any shards whose end, `shardID + shardSpan`, fits a u32.
    mutating func partial(count: Int, bulk: Bool) -> Partial {
        let shardSpan: UInt32 = chance(50) ? 1 : max(1, integer())
        let shardID = min(integer(), UInt32.max - shardSpan)
        let exampleCount: UInt32 = integer()
        let encoding = encoding()
        let gradients: PartialGradients =
            switch encoding {
            case .float32: .float32(FloatArray(bulk ? bulkFloats(count) : floats(count)))
            case .float16, .bfloat16:
                PartialGradients(encoding, bits: HalfArray(bulk ? bulkBits(count) : (0..<count).map { _ in integer() }))
            }
        return Partial(
            step: integer(), shardID: shardID, shardSpan: shardSpan, exampleCount: exampleCount,
            correctCount: chance(50) ? exampleCount : UInt32.random(in: 0...exampleCount, using: &random),
            lossSum: double(), computeSeconds: double(), gradients: gradients
        )
    }

    /// Floats of any bit pattern, generated fast enough for megabyte messages.
    mutating func bulkFloats(_ count: Int) -> [Float] {
        let raw = bytes(4 * count)
        return [Float](unsafeUninitializedCapacity: count) { floats, initialized in
            raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(floats).copyMemory(from: $0) }
            initialized = count
        }
    }

    /// 16-bit patterns of any value, generated fast enough for megabyte messages.
    mutating func bulkBits(_ count: Int) -> [UInt16] {
        let raw = bytes(2 * count)
        return [UInt16](unsafeUninitializedCapacity: count) { bits, initialized in
            raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(bits).copyMemory(from: $0) }
            initialized = count
        }
    }

    // The multi-frame messages overrun whole frames by a little, so their last frame is small.

    mutating func multiFrameParams() -> Message {
        let count = 2 * WireProtocol.maxFramePayload / 4 + int(0...64)
        return .params(Params(step: integer(), values: FloatArray(bulkFloats(count))))
    }

    /// The values' width sets how many make a frame.
    mutating func multiFramePartial(_ encoding: GradientEncoding) -> Message {
        var partial = partial(count: 0, bulk: true)
        let count = WireProtocol.maxFramePayload / encoding.byteWidth + int(0...64)
        partial.gradients =
            switch encoding {
            case .float32: .float32(FloatArray(bulkFloats(count)))
            case .float16, .bfloat16: PartialGradients(encoding, bits: HalfArray(bulkBits(count)))
            }
        return .partial(partial)
    }

    mutating func multiFrameShard() -> Message {
        .shard(shardChunk(examples: 1025 + int(0...3), features: 1024, bulk: true))
    }

    /// Random bytes; half the frames start with a valid magic, and some of those with more of a
    /// valid header, so that the later header checks are reached too.
    mutating func randomFrame() -> [UInt8] {
        var frame = bytes(chance(10) ? int(0...WireProtocol.headerSize - 1) : int(0...600))
        let validFields = chance(50) ? int(1...4) : 0
        if validFields >= 1 { write(UInt64(WireProtocol.magic), size: 4, at: 0, into: &frame) }
        if validFields >= 2 { write(UInt64(WireProtocol.protocolVersion), size: 2, at: 4, into: &frame) }
        if validFields >= 3 { write(UInt64(int(1...MessageKind.allCases.count)), size: 1, at: 6, into: &frame) }
        if validFields >= 4 { write(0, size: 1, at: 7, into: &frame) }
        return frame
    }

    // MARK: Damage

    /// Damages `frames` as a bad link, a buggy peer or an attacker might, without fixing checksums.
    mutating func damage(_ frames: inout [[UInt8]]) {
        guard !frames.isEmpty else { return }
        let count = frames.count
        let index = int(0...count - 1)
        switch int(0...9) {
        case 0...2: setHeaderField(of: &frames[index], frameCount: count)
        case 3...7: edit(&frames[index], resizing: true)
        default: rearrange(&frames)
        }
    }

    /// Damages a multi-frame message: parts rearranged, swapped with another message's, their
    /// headers edited, their bytes edited, or a payload edited and resealed.
    mutating func damageParts(_ frames: inout [[UInt8]], others: [[[UInt8]]]) {
        guard !frames.isEmpty else { return }
        let count = frames.count
        let index = int(0...count - 1)
        switch int(0...9) {
        case 0, 1: rearrange(&frames)
        case 2:
            let other = others[int(0...others.count - 1)]
            if index < other.count { frames[index] = other[index] }
        case 3, 4: setHeaderField(of: &frames[index], frameCount: count)
        // The last frame is small, so edits that resize or copy it are cheap.
        case 5: edit(&frames[count - 1], resizing: true)
        case 6: edit(&frames[index], resizing: false)
        case 7, 8: editSealed(&frames, at: index, edits: int(1...2), resizing: false)
        default: editSealed(&frames, at: index, edits: 1, resizing: true)
        }
    }

    /// Edits the payload of `frames[index]`, then rewrites its length and CRC-32C (offsets 20
    /// and 24) so the edits reach the payload parser; mostly also the steps in the headers, so
    /// they get past the step check too.
    mutating func editSealed(_ frames: inout [[UInt8]], at index: Int, edits: Int, resizing: Bool) {
        let headerSize = WireProtocol.headerSize
        guard frames[index].count >= headerSize else { return }
        var payload = Array(frames[index][headerSize...])
        for _ in 0..<edits { edit(&payload, resizing: resizing) }
        var frame = Array(frames[index][..<headerSize]) + payload
        write(UInt64(payload.count), size: 4, at: 20, into: &frame)
        write(UInt64(CRC32C.checksum(payload)), size: 4, at: 24, into: &frame)
        frames[index] = frame
        if chance(70) { alignSteps(&frames) }
    }

    /// Copies the step that a STEP, PARTIAL or HEARTBEAT payload starts with into every header.
    private func alignSteps(_ frames: inout [[UInt8]]) {
        let stepped = [MessageKind.step, .partial, .heartbeat].map(\.rawValue)
        let headerSize = WireProtocol.headerSize
        guard let first = frames.first, first.count >= headerSize + 8, stepped.contains(first[6]) else { return }
        let step = Array(first[headerSize..<headerSize + 8])
        for index in frames.indices where frames[index].count >= 16 {
            frames[index].replaceSubrange(8..<16, with: step)
        }
    }

    /// Sets one header field (magic, version, kind, flags, step, part, parts, payloadLength or
    /// checksum) to an edge value, a small one, or any value.
    mutating func setHeaderField(of frame: inout [UInt8], frameCount: Int) {
        let (offset, size) = [(0, 4), (4, 2), (6, 1), (7, 1), (8, 8), (16, 2), (18, 2), (20, 4), (24, 4)][int(0...8)]
        let payloadLength = frame.count - WireProtocol.headerSize
        let edges: [Int] = [
            0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFF_FFFF, -1, frameCount, frameCount + 1,
            WireProtocol.maxFramePayload, WireProtocol.maxFramePayload + 1, payloadLength - 1, payloadLength + 1,
        ]
        let value =
            switch int(0...3) {
            case 0: UInt64(truncatingIfNeeded: edges[int(0...edges.count - 1)])
            case 1: UInt64(int(0...16))
            default: random.next()
            }
        write(value, size: size, at: offset, into: &frame)
    }

    /// One edit of `bytes`: bits flipped, bytes overwritten, an edge count or broken UTF-8
    /// written over them, or, if `resizing`, bytes cut, appended, inserted, deleted or spliced
    /// in from another message's payload.
    mutating func edit(_ bytes: inout [UInt8], resizing: Bool) {
        let operation = int(0...(resizing ? 8 : 3))
        guard !bytes.isEmpty || operation >= 5 else { return }
        let at = position(in: bytes.count)
        switch operation {
        case 0:
            for _ in 0..<int(1...3) { bytes[position(in: bytes.count)] ^= 1 << UInt8(int(0...7)) }
        case 1:
            for _ in 0..<int(1...4) { bytes[position(in: bytes.count)] = UInt8(int(0...255)) }
        case 2:
            write(UInt64(edgeCount(remaining: bytes.count - at - 4)), size: 4, at: at, into: &bytes)
        case 3:
            let broken: [[UInt8]] = [
                [0x80], [0xFF], [0xC3, 0x28], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80],
                [0xF4, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98],
            ]
            let sequence = broken[int(0...broken.count - 1)]
            bytes.replaceSubrange(at..<min(at + sequence.count, bytes.count), with: sequence.prefix(bytes.count - at))
        case 4: bytes.removeLast(int(1...bytes.count))
        case 5: bytes += self.bytes(int(1...16))
        case 6: bytes.insert(contentsOf: self.bytes(int(1...8)), at: int(0...bytes.count))
        case 7: bytes.removeSubrange(at..<min(bytes.count, at + int(1...8)))
        default:
            let donor = TestFrames.payload(of: MessageCodec.encode(message())[0])
            let start = int(0...donor.count)
            bytes.insert(contentsOf: donor[start..<min(donor.count, start + int(1...32))], at: int(0...bytes.count))
        }
    }

    /// Drops, duplicates or reorders frames, or adds another message's frame or a junk one.
    mutating func rearrange(_ frames: inout [[UInt8]]) {
        guard !frames.isEmpty else { return }
        let index = int(0...frames.count - 1)
        switch int(0...4) {
        case 0: frames.remove(at: index)
        case 1: frames.insert(frames[index], at: int(0...frames.count))
        case 2: frames.shuffle(using: &random)
        case 3: frames.insert(MessageCodec.encode(message())[0], at: int(0...frames.count))
        default: frames.insert(bytes(int(0...64)), at: int(0...frames.count))
        }
    }

    /// An offset in `count` bytes (0 if there are none), most often near an end, where the
    /// header, the counts and the lengths live.
    private mutating func position(in count: Int) -> Int {
        guard count > 0 else { return 0 }
        let near = min(count, 64) - 1
        return switch int(0...3) {
        case 0: int(0...near)
        case 1: count - 1 - int(0...near)
        default: int(0...count - 1)
        }
    }

    /// A u32 a count or length check must handle: tiny, at the string limit, where four or
    /// nine bytes an element pass 2³², the maximum, or about what the bytes left can hold.
    private mutating func edgeCount(remaining: Int) -> UInt32 {
        let edges: [Int] = [
            0, 1, 2, 3, 4, 8, 9, 4096, 4097, 0x3FFF_FFFF, 0x4000_0000, 0x7FFF_FFFF, 0x8000_0000,
            0xFFFF_FFFE, 0xFFFF_FFFF, remaining, remaining / 4, remaining / 4 + 1, remaining / 9 + 1,
        ]
        return UInt32(truncatingIfNeeded: edges[int(0...edges.count - 1)])
    }
}
