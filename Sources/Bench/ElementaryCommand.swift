import ArgumentParser
import Core
import Foundation

/// `descent-bench elementary`: Descent's elementary functions against glibc's on a matrix of Floats.
struct ElementaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "elementary",
        abstract: "Time Descent's tanh, logistic and exp against glibc's, in nanoseconds per element."
    )

    @Option(help: "Floats per pass (a hidden layer's n × m).")
    var count: Int = 256 * 1024

    @Option(help: "Seconds to spend on each measurement.")
    var seconds: Double = 1

    /// Prints ElementaryFingerprint's lines instead: ElementaryTests compare them across processes.
    @Flag(help: .hidden)
    var fingerprint = false

    func run() {
        if fingerprint {
            for line in ElementaryFingerprint.lines() { print(line) }
            return
        }
        var rng = Xoshiro256(seed: 1)
        // Pre-activations for tanh and the logistic; softmax passes z − max ≤ 0 to exp.
        let hidden = (0..<count).map { _ in Float(rng.nextUnit() * 10 - 5) }
        let shifted = (0..<count).map { _ in Float(-rng.nextUnit() * 20) }
        print("function   glibc ns/element  Descent ns/element")
        row("tanh", hidden, glibc: { Foundation.tanh($0) }, descent: Elementary.tanh(inPlace:count:))
        row("logistic", hidden, glibc: glibcLogistic, descent: Elementary.logistic(inPlace:count:))
        row("exp", shifted, glibc: { Foundation.exp($0) }, descent: Elementary.exp(inPlace:count:))
    }

    /// Core's logistic as it was before CElementary, on glibc's expf.
    private func glibcLogistic(_ z: Float) -> Float {
        if z >= 0 { return 1 / (1 + Foundation.exp(-z)) }
        let e = Foundation.exp(z)
        return e / (1 + e)
    }

    private func row(
        _ name: String, _ input: [Float], glibc: (Float) -> Float,
        descent: (UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        var output = input
        let scalar = nanosecondsPerElement {
            output.withUnsafeMutableBufferPointer { out in
                for i in input.indices { out[i] = glibc(input[i]) }
            }
        }
        let vectorised = nanosecondsPerElement {
            output.withUnsafeMutableBufferPointer { out in
                _ = out.initialize(from: input)
                descent(out.baseAddress!, out.count)
            }
        }
        let cells = [name.padding(toLength: 10, withPad: " ", startingAt: 0), String(format: "%16.2f", scalar)]
        print(cells.joined() + String(format: "  %18.2f", vectorised))
    }

    /// Runs `pass` (one pass over `count` Floats) for `seconds` after one warm-up pass.
    private func nanosecondsPerElement(_ pass: () -> Void) -> Double {
        pass()
        let clock = ContinuousClock()
        let start = clock.now
        var passes = 0
        while clock.now - start < .seconds(seconds) {
            pass()
            passes += 1
        }
        let elapsed = clock.now - start
        return Double(elapsed.components.seconds) * 1e9 / Double(passes * count)
            + Double(elapsed.components.attoseconds) * 1e-9 / Double(passes * count)
    }
}
