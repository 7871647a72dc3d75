#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How the learning rate α changes over a run.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// α·γ^⌊epoch / every⌋.
    case step(everyEpochs: Int, factor: Float)
    /// α·½(1 + cos(π·step / totalSteps)) (Loshchilov & Hutter 2017, without restarts).
    case cosine(totalSteps: Int)

    public func rate(base alpha: Float, step: Int, epoch: Int) -> Float {
        switch self {
        case .constant:
            return alpha
        case .step(let every, let factor):
            return alpha * Elementary.pow(factor, Float(epoch / max(every, 1)))
        case .cosine(let total):
            let progress = Double(min(step, total)) / Double(max(total, 1))
            return alpha * Float(0.5 * (1 + Elementary.cos(piTimes: progress)))
        }
    }
}
