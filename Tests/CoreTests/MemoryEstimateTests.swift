import Core
import Foundation
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

@Suite("memory a process may use")
struct AvailableMemoryTests {
    /// The process's own cgroup's limit counts, and its ancestors' (v1 `memory.limit_in_bytes`,
    /// v2 `memory.max`); "max" and the root's huge value do not.
    @Test func aCgroupLimitIsTheMemoryAvailable() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for directory in ["/memory/job/step", "/pod/c1"] {
            try FileManager.default.createDirectory(atPath: root + directory, withIntermediateDirectories: true)
        }
        let selfCgroup = root + "/self"
        try "4:memory:/job/step\n0::/pod/c1\n".write(toFile: selfCgroup, atomically: true, encoding: .utf8)
        func available() -> UInt64 { MemoryEstimate.available(cgroupRoot: root, selfCgroup: selfCgroup) }
        let machine = ProcessInfo.processInfo.physicalMemory
        #expect(available() == machine)
        try "max\n".write(toFile: root + "/pod/c1/memory.max", atomically: true, encoding: .utf8)
        try "9223372036854771712\n".write(
            toFile: root + "/memory/memory.limit_in_bytes", atomically: true, encoding: .utf8)
        #expect(available() == machine)
        try "1048576\n".write(toFile: root + "/pod/c1/memory.max", atomically: true, encoding: .utf8)
        #expect(available() == 1_048_576)
        // A limit on a cgroup above the process's own holds too.
        try "4096\n".write(toFile: root + "/memory/job/memory.limit_in_bytes", atomically: true, encoding: .utf8)
        #expect(available() == 4096)
        let shape = try NetworkShape(parsing: "784,256,128,10", activation: .relu)
        #expect(!(try MemoryEstimate(shape: shape, batch: 1, optimizer: .sgd).fits(in: 1_048_576)))
    }
}
