import Foundation

/// Why a metrics file could not be plotted, or the plot not written; every message names the file.
enum CurvePlotError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case unreadable(file: String, reason: String)
    case badLine(file: String, line: Int, reason: String)
    case noMetrics(file: String)
    case writeFailed(file: String, reason: String)

    var description: String {
        switch self {
        case .missingFile(let file): return "\(file): no such file"
        case .unreadable(let file, let reason): return "\(file): cannot read: \(reason)"
        case .badLine(let file, let line, let reason): return "\(file), line \(line): \(reason)"
        case .noMetrics(let file): return "\(file): holds no step or eval lines to plot"
        case .writeFailed(let file, let reason): return "\(file): cannot write the plot: \(reason)"
        }
    }
}

extension CurvePlot.Run {
    /// Reads a `--metrics` file: step lines give the train curves, `"event":"eval"` lines the
    /// test curves, and lines with any other event are passed over.
    ///
    /// A resumed run appends steps it already logged before the crash, so each step keeps its
    /// last line. Null values (non-finite numbers, as `JSONLine` writes them) are left out.
    init(metricsFile path: String, name: String) throws(CurvePlotError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path) }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(file: path, reason: "not UTF-8 text, or \(error.localizedDescription)")
        }

        var trainLoss: [Double: Double] = [:]
        var trainAccuracy: [Double: Double] = [:]
        var testLoss: [Double: Double] = [:]
        var testAccuracy: [Double: Double] = [:]
        var lastStep: Double?
        var sawMetrics = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let number = index + 1
            let object: [String: Any]
            do {
                guard let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw CurvePlotError.badLine(file: path, line: number, reason: "not a JSON object")
                }
                object = parsed
            } catch let error as CurvePlotError {
                throw error
            } catch {
                throw .badLine(file: path, line: number, reason: "not valid JSON: \(Self.excerpt(line))")
            }

            switch object["event"] as? String {
            case nil:
                guard let step = Self.number(object["step"]) else {
                    throw .badLine(file: path, line: number, reason: "a step line without a numeric \"step\"")
                }
                trainLoss[step] = Self.number(object["loss"])
                trainAccuracy[step] = Self.number(object["accuracy"])
                lastStep = step
                sawMetrics = true
            case "eval":
                // An eval line follows the step it evaluated; older files did not repeat the step.
                guard let step = Self.number(object["step"]) ?? lastStep else {
                    throw .badLine(
                        file: path, line: number, reason: "an eval line without a \"step\" and before any step line")
                }
                testLoss[step] = Self.number(object["test_loss"])
                testAccuracy[step] = Self.number(object["test_accuracy"])
                sawMetrics = true
            default:
                continue
            }
        }
        guard sawMetrics else { throw .noMetrics(file: path) }
        self.init(
            name: name,
            trainLoss: Self.points(trainLoss), trainAccuracy: Self.points(trainAccuracy),
            testLoss: Self.points(testLoss), testAccuracy: Self.points(testAccuracy))
    }

    /// A finite JSON number, or nil for null, a missing key or anything else.
    private static func number(_ value: Any?) -> Double? {
        guard let value, !(value is NSNull), !(value is String), let number = value as? Double, number.isFinite else {
            return nil
        }
        return number
    }

    private static func points(_ values: [Double: Double]) -> [CurvePlot.Point] {
        values.keys.sorted().map { CurvePlot.Point(step: $0, value: values[$0]!) }
    }

    /// The start of a bad line, short enough for a one-line message.
    private static func excerpt(_ line: String) -> String {
        let limit = 40
        return line.count <= limit ? "'\(line)'" : "'\(line.prefix(limit))…'"
    }
}
