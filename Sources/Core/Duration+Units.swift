extension Duration {
    /// The duration as a floating-point number of seconds, for logs and metrics.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole milliseconds, never negative: a poll timeout.
    public var inMilliseconds: Int { max(0, Int(inSeconds * 1000)) }
}
