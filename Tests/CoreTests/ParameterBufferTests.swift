import Testing

@testable import Core

@Suite struct ParameterBufferTests {
    /// Memory that frees itself, and says so.
    final class Owner {
        let values: UnsafeMutablePointer<Float>
        let freed: (Bool) -> Void
        init(count: Int, freed: @escaping (Bool) -> Void) {
            values = .allocate(capacity: count)
            for i in 0..<count { values[i] = Float(i) * 0.5 }
            self.freed = freed
        }
        deinit {
            values.deallocate()
            freed(true)
        }
    }

    /// A buffer over values it borrows reads them in place and keeps their owner alive as long as
    /// it lives — no longer; it never frees them itself.
    @Test func borrowedValuesLiveAsLongAsTheBuffer() {
        let layout = ParameterLayout(shape: try! NetworkShape(layers: [3, 4, 2], activation: .relu))
        var freed = false
        var buffer: ParameterBuffer? = {
            let owner = Owner(count: layout.count) { freed = $0 }
            return ParameterBuffer(layout: layout, borrowing: owner.values, owner: owner)
        }()
        #expect(!freed, "the buffer holds its owner")
        #expect(buffer?.ownsValues == false)
        #expect(buffer?.array == (0..<layout.count).map { Float($0) * 0.5 })
        #expect(buffer?.weight(2).pointee == Float(layout.weightOffsets[2]) * 0.5)
        buffer = nil
        #expect(freed, "the owner goes with the buffer")
        #expect(ParameterBuffer(layout: layout).ownsValues)
    }
}
