/// Where a step's PARAMS lies on a `ParameterBoard`, as the coordinator published it.
struct BoardReference: Equatable {
    var slot: UInt32
    var length: UInt32
    var step: UInt64
}
