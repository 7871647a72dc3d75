import Foundation
import Testing

extension EndToEnd {
    /// `GET /` of `--metrics-port`: the page a person opens to watch a run, loaded in a real
    /// (headless) browser while the run goes on.
    @Suite("live page: the run drawn in a browser")
    struct LivePageTests {
        @Test func aBrowserSeesTheCurvesAndALaterStepOnTheNextLoad() async throws {
            _ = try HeadlessBrowser.executable()
            let scratch = try ScratchDirectory("live-page")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            // Far more steps than the test waits for: it stops the run itself once it has looked.
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--test-dataset", "csv:\(csv)", "--layers",
                    "8,16,3", "--batch", "32", "--steps", "1000000000", "--metrics-port", "0", "--out",
                    "interrupted.safetensors",
                ],
                in: scratch)
            var port: Int?
            _ = await coordinator.poll(timeout: .seconds(30)) {
                port = MonitoringTests.loggedMetricsPort(coordinator.stderrSoFar)
                return port != nil || !coordinator.isRunning
            }
            let live = try #require(port, "no metrics port logged:\n\(coordinator.stderrSoFar)")

            // Enough steps for curves with many points and a few evaluations.
            let before = try await Self.historyStep(port: live, of: coordinator, atLeast: 200)
            let first = LivePageDOM(
                html: try await HeadlessBrowser.dumpDOM(
                    "http://127.0.0.1:\(live)/", in: scratch, profile: "browser-1"))
            let firstStep = try #require(
                first.text(id: "step").flatMap { Int($0) }, "no step on the page:\n\(first.html)")
            #expect(firstStep >= before, "the page shows step \(firstStep), the run was at \(before) before it loaded")
            #expect(first.text(id: "total") == "1000000000", "total \(first.text(id: "total") ?? "none")")
            #expect(first.text(id: "state") == "training", "state \(first.text(id: "state") ?? "none")")
            let loss = try #require(
                first.text(id: "loss").flatMap { Double($0) }, "no loss on the page:\n\(first.html)")
            #expect(loss.isFinite && loss > 0, "loss \(loss)")
            #expect(first.text(id: "eta").map { $0.contains(":") } == true, "ETA \(first.text(id: "eta") ?? "none")")
            for chart in ["loss-chart", "accuracy-chart", "speed-chart"] {
                let smooth = first.paths(chart: chart, kind: "smooth")
                let points = smooth.map(LivePageDOM.pointCount).max() ?? 0
                #expect(points >= 100, "\(chart): a smoothed curve of \(points) points:\n\(first.html)")
            }
            for chart in ["loss-chart", "accuracy-chart"] {
                let raw = first.paths(chart: chart, kind: "raw").map(LivePageDOM.pointCount).max() ?? 0
                #expect(raw >= 100, "\(chart): a raw curve of \(raw) points")
                #expect(first.circles(chart: chart, kind: "test") >= 1, "\(chart): no evaluation drawn")
            }
            #expect(first.html.contains("the run computes in-process"), "no in-process note in the workers' table")

            _ = try await Self.historyStep(port: live, of: coordinator, atLeast: firstStep + 1)
            let second = LivePageDOM(
                html: try await HeadlessBrowser.dumpDOM(
                    "http://127.0.0.1:\(live)/", in: scratch, profile: "browser-2"))
            let secondStep = try #require(second.text(id: "step").flatMap { Int($0) }, "no step:\n\(second.html)")
            #expect(secondStep > firstStep, "the second load shows step \(secondStep), the first \(firstStep)")

            try await MonitoringTests.stop(coordinator)
            #expect(scratch.exists("interrupted.safetensors"), "the interrupted run did not keep its model in --out")
            for profile in ["browser-1", "browser-2"] {
                let directory = scratch.file(profile)
                let gone = await coordinator.poll(timeout: .seconds(10)) {
                    HeadlessBrowser.processes(using: directory).isEmpty
                }
                #expect(gone, "browser processes outlived --dump-dom: \(HeadlessBrowser.processes(using: directory))")
            }
        }

        /// Bad cursors are refused, and a client that hangs up before its answer (a browser tab
        /// closed) leaves the run going.
        @Test func theEndpointSurvivesBadRequestsAndHangUps() async throws {
            let scratch = try ScratchDirectory("live-page-400")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let port = try FreePort.next()
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "32",
                    "--steps", "1000000000", "--metrics-port", String(port), "--out", "interrupted.safetensors",
                ],
                in: scratch)
            _ = try await Self.historyStep(port: port, of: coordinator, atLeast: 1)
            let page = try HTTPResponse.get("/", port: port)
            #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(page.body.contains("<svg id=\"loss-chart\""), "\(page.body.prefix(300))")
            for bad in ["/history?since=abc", "/history?since=-3", "/history?since"] {
                let response = try HTTPResponse.get(bad, port: port)
                #expect(response.status == 400, "GET \(bad): status \(response.status)")
            }
            for _ in 0..<50 { try HTTPResponse.hangUp(after: "/", port: port) }
            let later = try HTTPResponse.get("/history?since=1", port: port)
            #expect(later.status == 200, "GET /history?since=1: status \(later.status)")
            #expect(
                coordinator.isRunning,
                "the coordinator ended after bad requests and hang-ups:\n\(coordinator.stderrSoFar)")
            try await MonitoringTests.stop(coordinator)
        }

        /// Polls `/status` every 20 ms until its step (in-process: the last step recorded, the one
        /// `/history` ends with) is at least `step`, which it returns; fails if the run ends or 30 s
        /// pass first.
        static func historyStep(
            port: Int, of coordinator: LaunchedProcess, atLeast step: Int,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> Int {
            var found: Int?
            var lastProblem = "no answer"
            _ = await coordinator.poll(timeout: .seconds(30)) {
                guard coordinator.isRunning else { return true }
                do {
                    let response = try HTTPResponse.get("/status", port: port)
                    let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                    let latest = object?["step"] as? Int
                    if let latest, latest >= step { found = latest }
                    lastProblem = "status \(response.status), latest step \(latest.map(String.init) ?? "none")"
                } catch {
                    lastProblem = "\(error)"
                }
                return found != nil
            }
            guard let found else {
                try #require(
                    coordinator.isRunning, "the coordinator ended:\n\(coordinator.stderrSoFar)",
                    sourceLocation: sourceLocation)
                throw HarnessError.malformedOutput(
                    "/status on port \(port) never reached step \(step): \(lastProblem)")
            }
            return found
        }
    }
}
