import CZeroMQ

/// Socket options, set before the socket binds or connects.
extension ZeroMQTransport {
    static func apply(_ options: ZeroMQOptions, to socket: UnsafeMutableRawPointer) throws(WireError) {
        try setOption(socket, ZMQ_LINGER, options.lingerMilliseconds, "ZMQ_LINGER")
        try setOption(socket, ZMQ_SNDHWM, options.sendHighWaterMark, "ZMQ_SNDHWM")
        try setOption(socket, ZMQ_RCVHWM, options.receiveHighWaterMark, "ZMQ_RCVHWM")
        try setInt64Option(socket, ZMQ_MAXMSGSIZE, options.maxMessageBytes, "ZMQ_MAXMSGSIZE")
        try setOption(socket, ZMQ_SNDTIMEO, options.sendTimeoutMilliseconds, "ZMQ_SNDTIMEO")
        try setOption(socket, ZMQ_IMMEDIATE, options.immediate ? 1 : 0, "ZMQ_IMMEDIATE")
        try setOption(socket, ZMQ_SNDBUF, options.kernelBufferBytes, "ZMQ_SNDBUF")
        try setOption(socket, ZMQ_RCVBUF, options.kernelBufferBytes, "ZMQ_RCVBUF")
        // Zero means "libzmq's default", which is not always what setting 0 would mean.
        if options.heartbeatIntervalMilliseconds > 0 {
            try setOption(socket, ZMQ_HEARTBEAT_IVL, options.heartbeatIntervalMilliseconds, "ZMQ_HEARTBEAT_IVL")
        }
        if options.heartbeatTimeoutMilliseconds > 0 {
            try setOption(socket, ZMQ_HEARTBEAT_TIMEOUT, options.heartbeatTimeoutMilliseconds, "ZMQ_HEARTBEAT_TIMEOUT")
        }
        if options.heartbeatTTLMilliseconds > 0 {
            try setOption(socket, ZMQ_HEARTBEAT_TTL, options.heartbeatTTLMilliseconds, "ZMQ_HEARTBEAT_TTL")
        }
        if var routingID = options.routingID {
            try check(
                zmq_setsockopt(socket, ZMQ_ROUTING_ID, &routingID, routingID.count), "zmq_setsockopt ZMQ_ROUTING_ID")
        }
        switch options.curve {
        case nil:
            break
        case .server(let secretKey):
            try setOption(socket, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER")
            try setStringOption(socket, ZMQ_CURVE_SECRETKEY, secretKey, "ZMQ_CURVE_SECRETKEY")
            try setStringOption(socket, ZMQ_ZAP_DOMAIN, ZeroMQAuthenticator.domain, "ZMQ_ZAP_DOMAIN")
        case .client(let secretKey, let publicKey, let serverPublicKey):
            try setStringOption(socket, ZMQ_CURVE_SERVERKEY, serverPublicKey, "ZMQ_CURVE_SERVERKEY")
            try setStringOption(socket, ZMQ_CURVE_PUBLICKEY, publicKey, "ZMQ_CURVE_PUBLICKEY")
            try setStringOption(socket, ZMQ_CURVE_SECRETKEY, secretKey, "ZMQ_CURVE_SECRETKEY")
        }
    }

    /// Sets a string option (Z85 keys are passed as 40 characters without the terminator).
    private static func setStringOption(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: String, _ name: String
    ) throws(WireError) {
        var bytes = Array(value.utf8)
        try check(zmq_setsockopt(socket, option, &bytes, bytes.count), "zmq_setsockopt \(name)")
    }

    /// Sets an `int` option; libzmq refuses a value of any other size.
    static func setOption(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32, _ name: String
    ) throws(WireError) {
        var value = value
        try check(zmq_setsockopt(socket, option, &value, MemoryLayout<Int32>.size), "zmq_setsockopt \(name)")
    }

    /// Sets an `int64_t` option.
    private static func setInt64Option(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int64, _ name: String
    ) throws(WireError) {
        var value = value
        try check(zmq_setsockopt(socket, option, &value, MemoryLayout<Int64>.size), "zmq_setsockopt \(name)")
    }
}
