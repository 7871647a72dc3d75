import Core
import Wire

/// Everything the pool sends to its workers, and the parameters it shares with local ones: the
/// one place the pool's parts write to the transport.
final class WorkerOutbox {
    private let transport: any Transport
    /// Memory shared with local workers lives in the ZeroMQ transport; other transports have none.
    private let sharedMemory: ZeroMQTransport?

    /// An outbox for PARAMS messages of `paramsFrameBytes`, shared with the local workers that map
    /// them: those compute from the coordinator's own copy of each step's PARAMS, where it lies.
    init(transport: any Transport, paramsFrameBytes: Int) {
        self.transport = transport
        sharedMemory = transport as? ZeroMQTransport
        sharedMemory?.shareParameters(frameBytes: paramsFrameBytes)
    }

    func send(_ message: Message, to peer: PeerID) throws(WireError) {
        try transport.send(message, to: peer)
    }

    func send(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) {
        try transport.send(frames, to: peer)
    }

    /// Sends `frames` if `peer`'s queue has room; false, sending nothing, if it is full.
    func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) -> Bool {
        guard let sharedMemory else {
            try transport.send(frames, to: peer)
            return true
        }
        return try sharedMemory.sendIfRoom(frames, to: peer)
    }

    /// W, b kept in the parameters shared with local workers, so that a step's PARAMS is made
    /// around them without a copy; nil without shared memory.
    func parameterStorage(layout: ParameterLayout) -> (ParameterBuffer, ParameterBuffer)? {
        guard let (current, next, owner) = sharedMemory?.sharedParameterStorage(count: layout.count) else {
            return nil
        }
        return (
            ParameterBuffer(layout: layout, placedAt: current, keptBy: owner),
            ParameterBuffer(layout: layout, placedAt: next, keptBy: owner)
        )
    }

    /// The step's PARAMS on the shared parameters: the frames to send a worker that reads them
    /// (`readsSharedParameters`) in place of the PARAMS; nil when no worker does.
    func publishParameters(step: Int, values: ParameterBuffer) -> [[UInt8]]? {
        sharedMemory?.publishParameters(
            step: UInt64(step), values: UnsafeBufferPointer(start: values.values, count: values.count))
    }

    /// Whether `peer` computes from the shared parameters.
    func readsSharedParameters(_ peer: PeerID) -> Bool {
        sharedMemory?.readsSharedParameters(peer) ?? false
    }

    /// Whether large frames to and from `peer` go through shared memory.
    func sharesMemory(with peer: PeerID) -> Bool {
        sharedMemory?.sharesMemory(with: peer) ?? false
    }

    /// Unmaps what is shared with `peer`, which is gone.
    func releaseSharedMemory(with peer: PeerID) {
        sharedMemory?.releaseSharedMemory(with: peer)
    }

    /// Closes the transport; nothing is sent or received after.
    func close() {
        transport.close()
    }
}
