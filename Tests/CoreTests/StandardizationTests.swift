import Foundation
import Testing

@testable import Core

/// `--standardize`'s statistics: what they are, how they apply, and that a model and a checkpoint
/// keep them to the bit.
@Suite struct StandardizationTests {
    /// Three features of four examples, one example per column: feature 0 varies, feature 1 is
    /// constant, feature 2 is pixels 0–255.
    let features = Matrix(
        rows: 3, cols: 4,
        columnMajor: [
            1, 7, 0,
            2, 7, 255,
            3, 7, 51,
            6, 7, 102,
        ])

    @Test func statisticsAreTheMeanAndPopulationStdPerFeature() {
        let s = Standardization.of(features)
        // By hand: feature 0 has mean 3, deviations −2, −1, 0, 3, variance 14/4; feature 2 has
        // mean 102, deviations −102, 153, −51, 0, variance (102² + 153² + 51²)/4.
        let std2 = (Double(102 * 102 + 153 * 153 + 51 * 51) / 4).squareRoot()
        #expect(s.mean == [3, 7, 102])
        #expect(s.std == [Float((14.0 / 4).squareRoot()), 1, Float(std2)])
    }

    @Test func applyingIsXMinusMeanOverStdInFloat32() {
        let s = Standardization.of(features)
        let x = Matrix(rows: 3, cols: 4, columnMajor: features.columnMajorValues)
        s.apply(to: x)
        var flat = features.columnMajorValues
        s.apply(to: &flat)
        for j in 0..<4 {
            for i in 0..<3 {
                let expected = (features[i, j] - s.mean[i]) / s.std[i]
                #expect(x[i, j].bitPattern == expected.bitPattern)
                #expect(flat[j * 3 + i].bitPattern == expected.bitPattern)
            }
        }
        // The constant feature becomes 0, the others mean 0 and std 1.
        #expect((0..<4).allSatisfy { x[1, $0] == 0 })
        let column0 = (0..<4).map { Double(x[0, $0]) }
        #expect(abs(column0.reduce(0, +)) < 1e-6)
        #expect(abs(column0.map { $0 * $0 }.reduce(0, +) / 4 - 1) < 1e-6)
    }

    @Test func largestMagnitudeFindsUnscaledFeatures() {
        #expect(Standardization.largestMagnitude(features) == 255)
        #expect(Standardization.largestMagnitude(Matrix(rows: 2, cols: 1, columnMajor: [-12, 3])) == 12)
    }

    // MARK: Files

    private func directory() throws -> String {
        let path = NSTemporaryDirectory() + "descent-standardization-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aModelKeepsItsStatisticsToTheBit() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = try NetworkShape(layers: [3, 4, 2], activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 9)
        let s = Standardization.of(features)
        let path = dir + "/model.safetensors"
        try ModelFile.save(p, to: path, step: 3, standardization: s)

        let file = try SafetensorsFile.read(from: path)
        #expect(file.tensors["standardize.mean"] == .init(shape: [3], values: s.mean))
        #expect(file.tensors["standardize.std"] == .init(shape: [3], values: s.std))
        let loaded = try ModelFile.load(path)
        #expect(loaded.standardization == s)
        #expect(TestNetworks.bits(loaded.parameters) == TestNetworks.bits(p))

        try ModelFile.save(p, to: path, step: 3)
        #expect(try ModelFile.load(path).standardization == nil)
    }

    @Test func aModelWithBadStatisticsIsRefused() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = try NetworkShape(layers: [3, 2], activation: .relu)
        let path = dir + "/model.safetensors"
        let cases: [(String, (inout SafetensorsFile) -> Void)] = [
            ("standardize.mean", { $0.tensors["standardize.std"] = nil }),
            ("standardize.std", { $0.tensors["standardize.std"]!.values[1] = 0 }),
            ("standardize.mean", { $0.tensors["standardize.mean"] = .init(shape: [2], values: [0, 0]) }),
        ]
        for (culprit, damage) in cases {
            var file = ModelFile.encode(
                TestNetworks.randomParameters(shape, seed: 1), step: 1, standardization: Standardization.of(features))
            damage(&file)
            try file.write(to: path)
            let error = #expect(throws: ConfigurationError.self) { try ModelFile.load(path) }
            #expect("\(error.map { "\($0)" } ?? "")".contains(culprit), "\(String(describing: error))")
        }
    }

    @Test func aCheckpointKeepsTheStatisticsAndResumesWithThem() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = ExampleBatch(features: 3, count: 40, classes: 2, seed: 5).dataset
        let s = Standardization.of(data.features)
        s.apply(to: data.features)
        var options = TrainingOptions(shape: try NetworkShape(layers: [3, 4, 2], activation: .relu))
        options.batch = 8
        options.steps = 3
        let plan = try ShardPlan(exampleCount: data.count, shards: 1)
        let source = InProcessGradients(dataset: data, plan: plan, layout: ParameterLayout(shape: options.shape))
        let trainer = try Trainer(
            options: options, exampleCount: data.count, source: source, testSet: nil, initial: nil)
        _ = try trainer.run()
        let run = ["layers": "3,4,2", "activation": "relu", "standardize": "true"]
        let path = try Checkpoint.save(trainer, run: run, to: dir, standardization: s)

        let checkpoint = try Checkpoint.load(path, run: run)
        #expect(checkpoint.standardization == s)
        #expect(TestNetworks.bits(checkpoint.parameters) == TestNetworks.bits(trainer.parameters))
        #expect(try ModelFile.load(path).standardization == s)
        // A run without --standardize does not take it up.
        #expect(throws: ConfigurationError.self) {
            try Checkpoint.load(path, run: ["layers": "3,4,2", "activation": "relu"])
        }
    }
}
