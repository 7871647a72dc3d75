import Foundation

/// Debian's chromium, headless: loads a page, lets its script run for a fixed span of virtual
/// time (which stands still while a fetch is pending, so the polls it makes do not depend on the
/// machine's speed), and returns the DOM it ended with.
enum HeadlessBrowser {
    /// The browser's executable: `$DESCENT_CHROMIUM`, else chromium on the PATH. Missing, the test
    /// fails with how to install it: skipping would let the live page go untested.
    static func executable() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["DESCENT_CHROMIUM"], !path.isEmpty { return path }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories + ["/usr/bin"] {
                let path = (directory as NSString).appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        throw HarnessError.setup(
            "no chromium on the PATH: run scripts/install-deps --test (or point DESCENT_CHROMIUM at a Chromium)")
    }

    /// The DOM of `url` after `virtualMilliseconds` of the page's own time, with a profile of its
    /// own in `scratch` (removed with it) and no sandbox (the tests may run as root).
    static func dumpDOM(
        _ url: String, virtualMilliseconds: Int = 3000, in scratch: ScratchDirectory, profile: String
    ) async throws -> String {
        let arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--user-data-dir=\(try scratch.directory(profile))",
            "--virtual-time-budget=\(virtualMilliseconds)", "--dump-dom", url,
        ]
        let outcome = try await LaunchedProcess.run(
            try executable(), arguments, in: scratch, timeout: .seconds(90))
        guard outcome.succeeded, outcome.stdout.contains("</html>") else {
            throw HarnessError.malformedOutput("no DOM from the browser:\n\(outcome.transcript)")
        }
        return outcome.stdout
    }

    /// Live processes whose command line names `directory` (a browser's profile): what outlived it.
    static func processes(using directory: String) -> [ProcessTable.Entry] {
        ProcessTable.entries().filter { entry in
            entry.isAlive && entry.arguments.contains { $0.contains(directory) }
        }
    }
}

/// What the live page showed, read from the DOM a browser dumped.
struct LivePageDOM {
    let html: String

    /// The text of the element with `id` (`<b id="loss">0.1234</b>`), up to its first child.
    func text(id: String) -> String? {
        guard let attribute = html.range(of: " id=\"\(id)\""),
            let start = html[attribute.upperBound...].range(of: ">"),
            let end = html[start.upperBound...].range(of: "<")
        else { return nil }
        return String(html[start.upperBound..<end.lowerBound])
    }

    /// The `d` of each `<path … class="KIND">` inside the svg with `id`.
    func paths(chart id: String, kind: String) -> [String] {
        guard let start = html.range(of: "<svg id=\"\(id)\""),
            let end = html[start.upperBound...].range(of: "</svg>")
        else { return [] }
        let svg = html[start.upperBound..<end.lowerBound]
        return svg.components(separatedBy: "<path ").dropFirst().compactMap { element in
            let tag = element.prefix { $0 != ">" }
            guard tag.contains("class=\"\(kind)\""), let d = tag.range(of: "d=\"") else { return nil }
            return String(tag[d.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// How many points a path's `d` draws (`M x y L x y …`).
    static func pointCount(_ d: String) -> Int {
        d.filter { $0 == "M" || $0 == "L" }.count
    }

    /// How many `<circle … class="KIND">` the svg with `id` holds.
    func circles(chart id: String, kind: String) -> Int {
        guard let start = html.range(of: "<svg id=\"\(id)\""),
            let end = html[start.upperBound...].range(of: "</svg>")
        else { return 0 }
        return html[start.upperBound..<end.lowerBound].components(separatedBy: "<circle ").dropFirst()
            .filter { $0.prefix { $0 != ">" }.contains("class=\"\(kind)\"") }.count
    }
}
