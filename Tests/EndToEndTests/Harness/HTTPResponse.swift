import Foundation

/// One HTTP/1.1 response, fetched over a plain socket the way a Prometheus scraper asks: nothing
/// stands between the test and the bytes the endpoint wrote.
struct HTTPResponse {
    let status: Int
    /// Header names lowercased.
    let headers: [String: String]
    let body: String

    /// `GET path` from 127.0.0.1:`port`, reading until the server closes the connection.
    static func get(_ path: String, port: Int, timeout: Duration = .seconds(5)) throws -> HTTPResponse {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.setup("socket(): errno \(errno)") }
        defer { close(fd) }
        let (whole, attoseconds) = timeout.components
        var limit = timeval(tv_sec: Int(whole), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw HarnessError.setup("connect(127.0.0.1:\(port)): errno \(errno)") }

        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        var offset = 0
        while offset < request.count {
            let written = request.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard written > 0 else { throw HarnessError.setup("writing to 127.0.0.1:\(port): errno \(errno)") }
            offset += written
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { break }
            guard count > 0 else { throw HarnessError.setup("reading from 127.0.0.1:\(port): errno \(errno)") }
            received += chunk[..<count]
        }
        return try parse(String(decoding: received, as: UTF8.self))
    }

    /// Sends `GET path` to 127.0.0.1:`port` and hangs up at once with a reset, reading nothing:
    /// the server's answer then meets a closed connection.
    static func hangUp(after path: String, port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.setup("socket(): errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw HarnessError.setup("connect(127.0.0.1:\(port)): errno \(errno)")
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    private static func parse(_ text: String) throws -> HTTPResponse {
        guard let split = text.range(of: "\r\n\r\n") else {
            throw HarnessError.malformedOutput("no end of the HTTP head in: \(text.prefix(300))")
        }
        let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/"), let status = Int(statusParts[1]) else {
            throw HarnessError.malformedOutput("not an HTTP status line: \(head[0])")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return HTTPResponse(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}

/// A Prometheus text exposition (format 0.0.4): one `name{labels} value` sample per line.
struct PrometheusText {
    /// Each sample's series — the name with its labels, as written — and value.
    let samples: [(series: String, value: Double)]

    init(_ text: String) throws {
        samples = try text.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("#") }.map { line in
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw HarnessError.malformedOutput("not a Prometheus sample: \(line)")
            }
            return (String(line[..<space]), value)
        }
    }

    /// The value of the unlabelled series `name`.
    func value(_ name: String) -> Double? { samples.first { $0.series == name }?.value }

    /// Whether a series `name` is exposed, with `label` (`phase="compute"`) among its labels if given.
    func hasSeries(_ name: String, label: String? = nil) -> Bool {
        samples.contains { sample in
            let (seriesName, labels) =
                sample.series.firstIndex(of: "{").map {
                    (
                        String(sample.series[..<$0]),
                        sample.series[$0...].dropFirst().dropLast().split(separator: ",").map(String.init)
                    )
                } ?? (sample.series, [])
            return seriesName == name && (label.map(labels.contains) ?? true)
        }
    }
}
