import CZeroMQ
import Dispatch

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The ZAP handler (ZeroMQ RFC 27) that admits only workers whose CURVE public key is listed.
///
/// libzmq asks it, over `inproc://zeromq.zap.01`, about every CURVE handshake on a socket with a
/// ZAP domain; it must be running before the coordinator's socket binds. A refused worker learns
/// nothing but a 400; the coordinator is told the key and the address through `onDecision`.
public final class ZeroMQAuthenticator: @unchecked Sendable {
    /// The ZAP domain the coordinator's socket announces.
    public static let domain = "descent"

    public struct Decision: Sendable {
        public let allowed: Bool
        /// The client's public key, Z85.
        public let publicKey: String
        /// The client's IP address, as libzmq reports it.
        public let address: String
    }

    private let authorized: Set<String>
    private let onDecision: @Sendable (Decision) -> Void
    private let socket: UnsafeMutableRawPointer
    private let lock = Lock()
    private var running = true
    private let stopped = DispatchSemaphore(value: 0)

    public init(authorizedKeys: Set<String>, onDecision: @escaping @Sendable (Decision) -> Void) throws(WireError) {
        authorized = authorizedKeys
        self.onDecision = onDecision
        guard let socket = zmq_socket(ZeroMQTransport.context.handle, ZMQ_REP) else {
            throw ZeroMQAuthenticator.failure("zmq_socket (ZAP)")
        }
        var linger: Int32 = 0
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        guard zmq_bind(socket, "inproc://zeromq.zap.01") == 0 else {
            let failure = ZeroMQAuthenticator.failure("zmq_bind inproc://zeromq.zap.01")
            zmq_close(socket)
            throw failure
        }
        self.socket = socket
        detachThread { [self] in serve() }
    }

    /// Stops answering; call before the process closes its sockets.
    public func stop() {
        let wasRunning = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        if wasRunning { stopped.wait() }
    }

    private func serve() {
        var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        while lock.withLock({ running }) {
            guard zmq_poll(&item, 1, 100) > 0 else { continue }
            guard let request = receive(), request.count >= 6 else { continue }
            // version, request id, domain, address, routing id, mechanism, credentials…
            let requestID = request[1]
            let address = String(decoding: request[3], as: UTF8.self)
            let mechanism = String(decoding: request[5], as: UTF8.self)
            var allowed = false
            var publicKey = ""
            if mechanism == "CURVE", request.count >= 7, request[6].count == 32 {
                publicKey = ZeroMQAuthenticator.z85(request[6])
                allowed = authorized.contains(publicKey)
            }
            reply([
                Array("1.0".utf8), requestID, Array((allowed ? "200" : "400").utf8),
                Array((allowed ? "OK" : "not authorized").utf8), [], [],
            ])
            onDecision(Decision(allowed: allowed, publicKey: publicKey, address: address))
        }
        zmq_close(socket)
        stopped.signal()
    }

    private func receive() -> [[UInt8]]? {
        var parts: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            guard zmq_msg_recv(&message, socket, 0) >= 0 else {
                zmq_msg_close(&message)
                return nil
            }
            let size = zmq_msg_size(&message)
            parts.append(size > 0 ? [UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: size)) : [])
            let more = zmq_msg_more(&message) != 0
            zmq_msg_close(&message)
            if !more || parts.count > 16 { return parts }
        }
    }

    private func reply(_ parts: [[UInt8]]) {
        for (index, part) in parts.enumerated() {
            var bytes = part
            _ = zmq_send(socket, &bytes, bytes.count, index < parts.count - 1 ? ZMQ_SNDMORE : 0)
        }
    }

    static func failure(_ operation: String) -> WireError {
        let code = zmq_errno()
        let message = zmq_strerror(code).map { String(validatingCString: $0) ?? "" } ?? "unknown error"
        return .zmq(operation: operation, code: code, message: message)
    }

    /// Whether `text` is valid Z85 for 32 bytes.
    static func decodesAsKey(_ text: String) -> Bool {
        var bytes = [UInt8](repeating: 0, count: 32)
        return text.utf8.count == 40 && zmq_z85_decode(&bytes, text) != nil
    }

    /// A NUL-terminated C buffer of Z85 text as a String.
    static func z85String(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// 32 key bytes in Z85, the form key files and logs use.
    static func z85(_ key: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 41)
        var key = key
        _ = zmq_z85_encode(&buffer, &key, key.count)
        return z85String(buffer)
    }
}

/// CURVE key pairs, in Z85.
public enum CurveKeys {
    /// A new key pair from libzmq's generator.
    public static func generate() throws(WireError) -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else {
            throw ZeroMQAuthenticator.failure("zmq_curve_keypair")
        }
        return (ZeroMQAuthenticator.z85String(publicKey), ZeroMQAuthenticator.z85String(secretKey))
    }

    /// The public key that belongs to a secret key; nil when `secretKey` is not a Z85 key.
    public static func publicKey(forSecret secretKey: String) -> String? {
        guard secretKey.utf8.count == 40 else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        return ZeroMQAuthenticator.z85String(publicKey)
    }
}
