import CElementary

/// The elementary functions on Descent's training path: the same bits on every host that runs the
/// same binary (CElementary).
///
/// glibc chooses FMA or non-FMA code for expf, logf, tanhf, powf and the Double exp, log, cos by
/// CPU, and the two can round differently (expf(−63.099461) differs by an ulp), so a worker on
/// another CPU could compute other bits. The Float functions are within 0.5 + 1e-6 ulps of the
/// exact value: correctly rounded except within about 1e-6 ulp of a tie; ElementaryTests check
/// every Float input the training path can pass them.
public enum Elementary {
    /// e^x.
    public static func exp(_ x: Float) -> Float { descent_expf(x) }

    /// log x.
    public static func log(_ x: Float) -> Float { descent_logf(x) }

    /// log(1 + x).
    public static func log1p(_ x: Float) -> Float { descent_log1pf(x) }

    /// tanh x.
    public static func tanh(_ x: Float) -> Float { descent_tanhf(x) }

    /// 1 / (1 + e^−x), without overflow for large |x|.
    public static func logistic(_ x: Float) -> Float { descent_logisticf(x) }

    /// x[i] = e^x[i] for i < count: the bits of `exp(_:)`, vectorised.
    public static func exp(inPlace x: UnsafeMutablePointer<Float>, count: Int) {
        descent_expf_array(x, x, count)
    }

    /// x[i] = tanh x[i] for i < count: the bits of `tanh(_:)`, vectorised.
    public static func tanh(inPlace x: UnsafeMutablePointer<Float>, count: Int) {
        descent_tanhf_array(x, x, count)
    }

    /// x[i] = 1 / (1 + e^−x[i]) for i < count: the bits of `logistic(_:)`, vectorised.
    public static func logistic(inPlace x: UnsafeMutablePointer<Float>, count: Int) {
        descent_logisticf_array(x, x, count)
    }

    /// base^exponent for base ≥ 0, computed in Double and rounded once (within 0.5 + 1e-6 ulps).
    public static func pow(_ base: Float, _ exponent: Float) -> Float { descent_powf(base, exponent) }

    /// e^x in Double, within 1 ulp.
    public static func exp(_ x: Double) -> Double { descent_exp(x) }

    /// log x in Double, within 2 ulps.
    public static func log(_ x: Double) -> Double { descent_log(x) }

    /// cos(π·x), without rounding π·x first, within 2 ulps.
    public static func cos(piTimes x: Double) -> Double { descent_cospi(x) }
}
