import Core
import Foundation

/// How far apart two output files are.
enum ModelComparison {
    static func sameBytes(_ a: String, _ b: String) throws -> Bool {
        try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b))
    }

    /// Whether the two files hold the same tensors to the bit, whatever their metadata says (the
    /// kernel a model records differs between runs that were told to compute on different ones).
    static func sameTensors(_ a: String, _ b: String) throws -> Bool {
        let (x, y) = (try SafetensorsFile.read(from: a), try SafetensorsFile.read(from: b))
        return x.tensors.keys.sorted() == y.tensors.keys.sorted()
            && x.tensors.allSatisfy { key, tensor in
                guard let other = y.tensors[key], other.shape == tensor.shape else { return false }
                return zip(tensor.values, other.values).allSatisfy { $0.bitPattern == $1.bitPattern }
            }
    }

    /// max |Δ| / max |W| over every tensor, after checking both files hold the same tensors in
    /// the same shapes.
    static func relativeDifference(_ a: String, _ b: String) throws -> Double {
        let (x, y) = (try SafetensorsFile.read(from: a), try SafetensorsFile.read(from: b))
        guard x.tensors.keys.sorted() == y.tensors.keys.sorted(),
            x.tensors.allSatisfy({ y.tensors[$0.key]?.shape == $0.value.shape })
        else { throw HarnessError.malformedOutput("\(a) and \(b) hold different tensors") }
        var difference: Float = 0
        var magnitude: Float = 0
        for (name, tensor) in x.tensors {
            for (u, v) in zip(tensor.values, y.tensors[name]!.values) {
                difference = max(difference, abs(u - v))
                magnitude = max(magnitude, abs(u))
            }
        }
        return Double(difference) / Double(max(magnitude, .leastNormalMagnitude))
    }
}
