import CZeroMQ

/// A DEALER's CURVE handshake, which fails silently in libzmq: a socket monitor hears of it.
extension ZeroMQTransport {
    func startMonitor(_ socket: UnsafeMutableRawPointer) throws(WireError) {
        let address = "inproc://descent-monitor-\(UInt(bitPattern: socket))"
        let events =
            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
        try Self.check(zmq_socket_monitor(socket, address, events), "zmq_socket_monitor")
        guard let pair = zmq_socket(Self.context.handle, ZMQ_PAIR) else { throw Self.error("zmq_socket") }
        try Self.setOption(pair, ZMQ_LINGER, 0, "ZMQ_LINGER")
        try Self.check(zmq_connect(pair, address), "zmq_connect \(address)")
        monitor = pair
    }

    /// The last handshake failure the monitor reported, if any (e.g. the coordinator refused
    /// this worker's key), as a sentence.
    public func handshakeFailure() -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard let monitor else { return nil }
        var failure: String?
        while true {
            var event = zmq_msg_t()
            zmq_msg_init(&event)
            guard zmq_msg_recv(&event, monitor, ZMQ_DONTWAIT) >= 0 else {
                zmq_msg_close(&event)
                return failure ?? lastHandshakeFailure
            }
            var id: UInt16 = 0
            var value: UInt32 = 0
            if zmq_msg_size(&event) >= 6, let data = zmq_msg_data(&event) {
                id = data.loadUnaligned(as: UInt16.self)
                value = data.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            }
            let more = zmq_msg_more(&event) != 0
            zmq_msg_close(&event)
            if more {
                var address = zmq_msg_t()
                zmq_msg_init(&address)
                _ = zmq_msg_recv(&address, monitor, 0)
                zmq_msg_close(&address)
            }
            failure = Self.describe(event: Int32(id), value: value) ?? failure
            lastHandshakeFailure = failure ?? lastHandshakeFailure
        }
    }

    private static func describe(event: Int32, value: UInt32) -> String? {
        switch event {
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            "the coordinator refused this worker's CURVE key (status \(value))"
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            "the CURVE handshake failed (protocol error \(value)): is --server-public-key the coordinator's?"
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            "the CURVE handshake failed (error \(value)): check --server-public-key and this worker's key"
        default:
            nil
        }
    }
}
