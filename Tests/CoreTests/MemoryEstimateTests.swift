import Core
import Testing

@Suite("memory estimate before allocation")
struct MemoryEstimateTests {
    /// 784-256-128-10 has 235,146 parameters; sgd keeps W+b, the sum and one partial (3 vectors),
    /// adam two more; a batch of 128 holds Z, A and dZ for the 394 units of every layer after the input.
    @Test func countsParametersOptimizerStateAndActivations() throws {
        let shape = try NetworkShape(parsing: "784,256,128,10", activation: .relu)
        let sgd = try MemoryEstimate(shape: shape, batch: 128, optimizer: .sgd)
        #expect(sgd.parameters == 235_146)
        #expect(sgd.bytes == 235_146 * 4 * 3 + 394 * 128 * 12)
        let adam = try MemoryEstimate(shape: shape, batch: 128, optimizer: .adam)
        #expect(adam.bytes - sgd.bytes == 235_146 * 4 * 2)
    }

    @Test func refusesWhatTheMachineCannotHoldAndAcceptsWhatItCan() throws {
        let shape = try NetworkShape(parsing: "8,5,3", activation: .relu)
        let estimate = try MemoryEstimate(shape: shape, batch: 4, optimizer: .momentum)
        #expect(throws: Never.self) { try estimate.check(available: UInt64(estimate.bytes)) }
        #expect(throws: ConfigurationError.self) { try estimate.check(available: UInt64(estimate.bytes - 1)) }
    }

    @Test func sizesBeyondSixtyFourBitsAreAnErrorNotATrap() throws {
        let shape = try NetworkShape(parsing: "8,10000000000,10000000000,3", activation: .relu)
        #expect(throws: ConfigurationError.self) { try MemoryEstimate(shape: shape, batch: 1, optimizer: .sgd) }
        let wide = try NetworkShape(parsing: "8,1000000000,3", activation: .relu)
        #expect(throws: ConfigurationError.self) {
            try MemoryEstimate(shape: wide, batch: Int.max / 2, optimizer: .sgd)
        }
    }
}
