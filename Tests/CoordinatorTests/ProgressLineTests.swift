import Testing

@testable import Coordinator

@Suite struct ProgressLineTests {
    /// A loss shows 4 decimals, and below 0.001 3 significant digits: a run that still learns
    /// never reads as "loss 0.0000"; a loss of exactly 0 does.
    @Test func aSmallLossKeepsItsDigits() {
        #expect(ProgressLine.loss(0.40397) == "0.4040")
        #expect(ProgressLine.loss(2.5) == "2.5000")
        #expect(ProgressLine.loss(0.001) == "0.0010")
        #expect(ProgressLine.loss(0.000_123_4) == "1.23e-04")
        #expect(ProgressLine.loss(3.0e-9) == "3.00e-09")
        #expect(ProgressLine.loss(0) == "0.0000")
        #expect(ProgressLine.loss(.nan) == "nan")
    }
}
