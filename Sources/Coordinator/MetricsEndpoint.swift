import Foundation
import Logging
import Prometheus

/// `--metrics-port`: serves the Prometheus registry at `GET /metrics`, the run's state as JSON at
/// `GET /status` (`RunStatus`), its curves so far at `GET /history?since=N` (`RunHistory`) and the
/// live page that draws them at `GET /` (`LivePage`), over plain HTTP/1.1.
///
/// A few connections at a time, each on a thread of its own, so that a browser's idle preconnected
/// socket cannot hold up a scraper; it answers anything else with 404 or 400 and closes every
/// connection after one response.
final class MetricsEndpoint: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let status: RunStatus
    private let history: RunHistory
    private let listener: Int32
    let port: Int
    private let lock = NSLock()
    private var running = true
    /// Connections served at once; the next waits in the listen queue.
    private let slots = DispatchSemaphore(value: 4)

    init(
        host: String, port: Int, registry: PrometheusCollectorRegistry, status: RunStatus = RunStatus(),
        history: RunHistory = RunHistory()
    ) throws {
        self.registry = registry
        self.status = status
        self.history = history
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
            slots.wait()
            DispatchQueue.global().async { [self] in
                respond(client)
                close(client)
                slots.signal()
            }
        }
    }

    private func respond(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: 4096)
        let count = read(client, &request, request.count)
        guard count > 0 else { return }
        let line = String(decoding: request[..<count].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let answer = Self.answer(line, metrics: registry.emitToBuffer, status: status, history: history)
        let head = """
            HTTP/1.1 \(answer.code)\r\nContent-Type: \(answer.type); charset=utf-8\r\n\
            Content-Length: \(answer.body.count)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n
            """
        writeAll(client, Array(head.utf8) + answer.body)
    }

    /// What a response says: its status, content type and body.
    struct Answer {
        var code: String
        var type: String
        var body: [UInt8]
    }

    /// The answer to the request line `line` (`GET /history?since=12 HTTP/1.1`).
    static func answer(
        _ line: String, metrics: () -> [UInt8], status: RunStatus, history: RunHistory
    ) -> Answer {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        let target = parts.count >= 2 && parts[0] == "GET" ? parts[1] : ""
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        switch path {
        case "/": return Answer(code: "200 OK", type: "text/html", body: Array(LivePage.html.utf8))
        case "/metrics": return Answer(code: "200 OK", type: "text/plain; version=0.0.4", body: metrics())
        case "/status": return Answer(code: "200 OK", type: "application/json", body: status.json())
        case "/history":
            guard let since = since(in: target) else {
                return Answer(
                    code: "400 Bad Request", type: "text/plain",
                    body: Array("since must be a whole number of 0 or more\n".utf8))
            }
            return Answer(code: "200 OK", type: "application/json", body: history.json(since: since))
        default:
            return Answer(
                code: "404 Not Found", type: "text/plain", body: Array("GET /, /metrics, /status or /history\n".utf8))
        }
    }

    /// The `since` of a target's query: 0 when absent, nil when not a whole number of 0 or more.
    static func since(in target: Substring) -> Int? {
        guard let query = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return 0 }
        for pair in query.split(separator: "&") {
            let field = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard field.first == "since" else { continue }
            guard field.count == 2, let value = Int(field[1]), value >= 0 else { return nil }
            return value
        }
        return 0
    }

    /// `bytes` to the client; one that has gone away ends the writing, never the process (no SIGPIPE).
    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        #if os(Linux)
            let flags = Int32(MSG_NOSIGNAL)
        #else
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &yes, socklen_t(MemoryLayout<Int32>.size))
            let flags: Int32 = 0
        #endif
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, flags) }
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
