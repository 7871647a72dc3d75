import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

extension ZeroMQTransport {
    /// Waits up to `timeoutMilliseconds` (0 = poll, -1 = forever) until one of `transports` has a
    /// message to receive; returns the indices of those that have, empty when none had in time.
    /// Each transport is locked for the wait, as `receive` locks its own.
    public static func waitAny(
        _ transports: [ZeroMQTransport], timeoutMilliseconds: Int
    ) throws(WireError) -> [Int] {
        try withSockets(transports[...], []) { sockets throws(WireError) -> [Int] in
            var items = sockets.map { zmq_pollitem_t(socket: $0, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
            let deadline = ReceiveDeadline(timeoutMilliseconds: timeoutMilliseconds)
            while true {
                let ready = zmq_poll(&items, Int32(items.count), deadline.remainingMilliseconds)
                if ready >= 0 {
                    return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
                }
                let code = zmq_errno()
                guard code == EINTR else {
                    if code == ETERM { throw .closed }
                    throw error("zmq_poll", code: code)
                }
            }
        }
    }

    private static func withSockets<T>(
        _ rest: ArraySlice<ZeroMQTransport>, _ held: [UnsafeMutableRawPointer],
        _ body: ([UnsafeMutableRawPointer]) throws(WireError) -> T
    ) throws(WireError) -> T {
        guard let first = rest.first else { return try body(held) }
        return try first.withSocket { socket throws(WireError) -> T in
            try withSockets(rest.dropFirst(), held + [socket], body)
        }
    }

    /// A DEALER's send that never waits: false, and nothing sent, when the peer's queue is full.
    public func sendIfRoom(_ frames: [[UInt8]]) throws(WireError) -> Bool {
        try sendIfRoom(frames, toPeer: nil)
    }
}
