import Foundation
import Logging
import Prometheus

/// `--metrics-port`: serves the Prometheus registry at `GET /metrics`, and the run's state as JSON
/// at `GET /status` (`RunStatus`), over plain HTTP/1.1.
///
/// One request at a time on a background thread is plenty for a scraper every few seconds; it
/// answers anything else with 404 and closes every connection after one response.
final class MetricsEndpoint: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let status: RunStatus
    private let listener: Int32
    let port: Int
    private let lock = NSLock()
    private var running = true

    init(host: String, port: Int, registry: PrometheusCollectorRegistry, status: RunStatus = RunStatus()) throws {
        self.registry = registry
        self.status = status
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetricsEndpoint.failure("socket", host: host, port: port) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw ConfigurationErrorText("--metrics-host '\(host)' is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = MetricsEndpoint.failure("bind", host: host, port: port)
            close(fd)
            throw error
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in serve() }
    }

    func stop() {
        lock.withLock { running = false }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while lock.withLock({ running }) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            respond(client)
            close(client)
        }
    }

    private func respond(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: 4096)
        let count = read(client, &request, request.count)
        guard count > 0 else { return }
        let line = String(decoding: request[..<count].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let path = parts.count >= 2 && parts[0] == "GET" ? parts[1].split(separator: "?").first ?? "" : ""
        let (code, type, body): (String, String, [UInt8])
        switch path {
        case "/metrics": (code, type, body) = ("200 OK", "text/plain; version=0.0.4", registry.emitToBuffer())
        case "/status": (code, type, body) = ("200 OK", "application/json", status.json())
        default: (code, type, body) = ("404 Not Found", "text/plain", Array("GET /metrics or /status\n".utf8))
        }
        let head =
            "HTTP/1.1 \(code)\r\nContent-Type: \(type); charset=utf-8\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        writeAll(client, Array(head.utf8) + body)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    private static func failure(_ call: String, host: String, port: Int) -> ConfigurationErrorText {
        ConfigurationErrorText(
            "--metrics-port: cannot \(call) \(host):\(port): \(String(validatingCString: strerror(errno)) ?? "error \(errno)")"
        )
    }
}

/// A one-line error for a setting that cannot be honoured.
struct ConfigurationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
