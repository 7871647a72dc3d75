import Foundation
import Testing

extension EndToEnd {
    /// What a person or a scraper watching a run sees: the progress line on a terminal and off
    /// it, `--quiet`, the Prometheus endpoint, and `--help` against the contract.
    @Suite("monitoring: progress, Prometheus, help")
    struct MonitoringTests {
        /// 600 steps of the default network: long enough (about 2 s) for many 100 ms redraws.
        static let fashionMNISTRun = ["train", "--in-process", "--dataset", "fashion-mnist", "--steps", "600"]

        // MARK: Progress line

        @Test func onATerminalTheProgressLineIsRedrawnInPlace() async throws {
            let scratch = try ScratchDirectory("progress-tty")
            let outcome = try await PseudoTerminal.coordinator(
                Self.fashionMNISTRun + ["--out", "tty.safetensors"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let screen = outcome.stdout

            #expect(
                screen.utf8.contains(Array(("\r" + ProgressOutput.eraseLine).utf8)),
                "no carriage return + ESC[2K redraw on a terminal:\n\(outcome.transcript)")
            let redraws = ProgressOutput.redraws(screen)
            let steps = redraws.compactMap { ProgressOutput.step(of: $0) }
            let distinct = Set(steps.map(\.step))
            #expect(
                distinct.count >= 3,
                "\(distinct.count) distinct steps drawn in place: \(distinct.sorted())\n\(outcome.transcript)")
            #expect(
                steps.allSatisfy { $0.total == 600 }, "a redraw names a total other than 600: \(steps.map(\.total))")
            #expect(steps.last?.step == 600, "the last redraw is not of step 600: \(redraws.last ?? "none")")
            for line in redraws {
                let missing = ProgressOutput.missingFields(line)
                #expect(missing.isEmpty, "the progress line \"\(line)\" lacks \(missing)")
            }

            let last = try #require(ProgressOutput.screenLines(screen).last, "nothing on the terminal")
            let summary = try JSONLines.object(last, source: "the last line on the terminal")
            #expect(summary.int("steps") == 600, "\(summary)")
        }

        @Test func pipedTheProgressIsPlainLinesWithoutEscapes() async throws {
            let scratch = try ScratchDirectory("progress-pipe")
            let outcome = try await Descent.coordinator(
                Self.fashionMNISTRun + ["--out", "piped.safetensors"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")

            for (name, text) in [("stdout", outcome.stdout), ("stderr", outcome.stderr)] {
                #expect(!text.utf8.contains(0x1B), "an escape byte (0x1B) on piped \(name):\n\(outcome.transcript)")
                #expect(!text.utf8.contains(0x0D), "a carriage return on piped \(name):\n\(outcome.transcript)")
            }
            let progress = outcome.stderrLines.filter { ProgressOutput.step(of: $0) != nil }
            let last = try #require(progress.last, "no plain progress line on stderr:\n\(outcome.transcript)")
            let step = ProgressOutput.step(of: last)
            #expect(step?.step == 600 && step?.total == 600, "the last progress line is not of the last step: \(last)")
            #expect(
                ProgressOutput.missingFields(last).isEmpty,
                "the progress line \"\(last)\" lacks \(ProgressOutput.missingFields(last))")
            #expect(try outcome.summary().int("steps") == 600)
        }

        /// `--quiet`, piped and on a terminal: no progress and no info lines, the summary still
        /// last. The same run without `--quiet` shows both, so the checks can see them.
        @Test func quietKeepsOnlyTheSummary() async throws {
            let scratch = try ScratchDirectory("quiet")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let run = [
                "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "32", "--steps",
                "300",
            ]
            func isInfoLog(_ line: String) -> Bool {
                line.contains(" info descent.") || line.contains(" notice descent.")
            }

            let loud = try await Descent.coordinator(run + ["--out", "loud.safetensors"], in: scratch)
            try #require(loud.succeeded, "\(loud.transcript)")
            #expect(
                loud.stderrLines.contains { ProgressOutput.step(of: $0) != nil },
                "no progress line without --quiet:\n\(loud.transcript)")
            #expect(loud.stderrLines.contains(where: isInfoLog), "no info line without --quiet:\n\(loud.transcript)")

            let quiet = try await Descent.coordinator(run + ["--out", "quiet.safetensors", "--quiet"], in: scratch)
            try #require(quiet.succeeded, "\(quiet.transcript)")
            #expect(
                !quiet.stderrLines.contains { ProgressOutput.step(of: $0) != nil },
                "a progress line with --quiet:\n\(quiet.transcript)")
            #expect(!quiet.stderrLines.contains(where: isInfoLog), "an info line with --quiet:\n\(quiet.transcript)")
            #expect(try quiet.summary().int("steps") == 300, "\(quiet.transcript)")

            let terminal = try await PseudoTerminal.coordinator(
                run + ["--out", "quiet-tty.safetensors", "--quiet"], in: scratch)
            try #require(terminal.succeeded, "\(terminal.transcript)")
            #expect(
                !terminal.stdout.utf8.contains(0x1B),
                "an escape sequence on the terminal with --quiet:\n\(terminal.transcript)")
            let lines = ProgressOutput.screenLines(terminal.stdout)
            #expect(lines.count == 1, "more than the summary on the terminal with --quiet:\n\(terminal.transcript)")
            let summary = try JSONLines.object(lines.last ?? "", source: "the last line on the terminal")
            #expect(summary.int("steps") == 300)
        }

        // MARK: Prometheus

        @Test func prometheusServesTheLiveFigures() async throws {
            let scratch = try ScratchDirectory("prometheus")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let port = try FreePort.next()
            // Far more steps than the test waits for: it stops the run itself once it has looked.
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "32",
                    "--steps", "10000000", "--metrics-port", String(port), "--out", "interrupted.safetensors",
                ],
                in: scratch)

            let first = try await Self.scrape(port: port, of: coordinator, until: { $0 >= 1 })
            let contentType = first.response.headers["content-type"] ?? ""
            #expect(contentType.hasPrefix("text/plain"), "Content-Type \(contentType)")
            let metrics = try PrometheusText(first.response.body)
            for name in [
                "descent_step", "descent_loss", "descent_examples_per_second", "descent_workers_alive",
                "descent_workers_lost_total", "descent_rejected_messages_total", "descent_bytes_sent_total",
            ] {
                #expect(metrics.hasSeries(name), "no \(name) in:\n\(first.response.body)")
            }
            for phase in ["compute", "compute_slowest", "step"] {
                #expect(
                    metrics.hasSeries("descent_step_phase_seconds_bucket", label: "phase=\"\(phase)\""),
                    "no \(phase)-phase histogram:\n\(first.response.body)")
            }
            #expect(
                metrics.value("descent_workers_alive") == 1,
                "in-process: \(metrics.value("descent_workers_alive") ?? .nan) workers alive")
            #expect(
                metrics.value("descent_loss").map { $0.isFinite && $0 > 0 } == true,
                "loss \(metrics.value("descent_loss") ?? .nan)")

            let second = try await Self.scrape(port: port, of: coordinator, until: { $0 > first.step })
            #expect(second.step > first.step)

            let other = try HTTPResponse.get("/other", port: port)
            #expect(other.status == 404, "GET /other: status \(other.status)")
            try await Self.stop(coordinator)
            #expect(scratch.exists("interrupted.safetensors"), "the interrupted run did not keep its model in --out")
        }

        /// `--metrics-port 0` picks a free port and logs it; with two local workers the endpoint
        /// counts them and the bytes sent to them.
        @Test func prometheusCountsLocalWorkersAndTheirBytes() async throws {
            let scratch = try ScratchDirectory("prometheus-2w")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--local-workers", "2", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "32",
                    "--steps", "10000000", "--metrics-port", "0", "--out", "interrupted.safetensors",
                    // Bytes are counted on messages.
                    "--no-local-steps",
                ],
                in: scratch)
            var port: Int?
            let logged = await coordinator.poll(timeout: .seconds(30)) {
                port = Self.loggedMetricsPort(coordinator.stderrSoFar)
                return port != nil || !coordinator.isRunning
            }
            let metricsPort = try #require(
                port,
                "no \"Prometheus metrics at http://…:PORT/metrics\" logged (\(logged)):\n\(coordinator.stderrSoFar)")

            let first = try await Self.scrape(port: metricsPort, of: coordinator, until: { $0 >= 1 })
            let firstMetrics = try PrometheusText(first.response.body)
            #expect(
                firstMetrics.value("descent_workers_alive") == 2,
                "\(firstMetrics.value("descent_workers_alive") ?? .nan) workers alive")
            let firstBytes = try #require(firstMetrics.value("descent_bytes_sent_total"), "no descent_bytes_sent_total")
            #expect(firstBytes > 0, "no bytes sent after \(first.step) steps with 2 workers")

            let second = try await Self.scrape(port: metricsPort, of: coordinator, until: { $0 > first.step })
            let secondMetrics = try PrometheusText(second.response.body)
            let secondBytes = try #require(
                secondMetrics.value("descent_bytes_sent_total"), "no descent_bytes_sent_total")
            #expect(
                secondBytes > firstBytes,
                "bytes sent did not grow from step \(first.step) (\(firstBytes)) to step \(second.step) (\(secondBytes))"
            )
            #expect(secondMetrics.value("descent_workers_alive") == 2)
            #expect(secondMetrics.value("descent_workers_lost_total") == 0)

            try await Self.stop(coordinator)
            let leftovers = ProcessTable.workers(of: coordinator.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        /// Scrapes `/metrics` every 20 ms until `descent_step` satisfies `condition`; fails if the
        /// run ends or 30 s pass first.
        static func scrape(
            port: Int, of coordinator: LaunchedProcess, until condition: (Double) -> Bool,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> (response: HTTPResponse, step: Double) {
            var found: (HTTPResponse, Double)?
            var lastProblem = "no answer"
            _ = await coordinator.poll(timeout: .seconds(30)) {
                guard coordinator.isRunning else { return true }
                do {
                    let response = try HTTPResponse.get("/metrics", port: port)
                    guard response.status == 200 else {
                        lastProblem = "status \(response.status)"
                        return false
                    }
                    if let step = try PrometheusText(response.body).value("descent_step"), condition(step) {
                        found = (response, step)
                        return true
                    }
                    lastProblem = "descent_step not yet there"
                } catch {
                    lastProblem = "\(error)"
                }
                return false
            }
            guard let found else {
                try #require(
                    coordinator.isRunning, "the coordinator ended before the scrape:\n\(coordinator.stderrSoFar)",
                    sourceLocation: sourceLocation)
                throw HarnessError.malformedOutput(
                    "/metrics on port \(port) never showed the step wanted: \(lastProblem)")
            }
            return found
        }

        /// Interrupts a run the way Ctrl-C does and waits for it to end.
        static func stop(_ coordinator: LaunchedProcess) async throws {
            coordinator.send(SIGINT)
            let outcome = try await coordinator.wait(timeout: .seconds(30))
            #expect(outcome.failedCleanly, "after SIGINT:\n\(outcome.transcript)")
        }

        /// The port of `Prometheus metrics at http://HOST:PORT/metrics` in the log.
        static func loggedMetricsPort(_ stderr: String) -> Int? {
            for line in stderr.split(separator: "\n") {
                guard let start = line.range(of: "Prometheus metrics at http://"),
                    let end = line[start.upperBound...].range(of: "/metrics")
                else { continue }
                let hostAndPort = line[start.upperBound..<end.lowerBound]
                if let colon = hostAndPort.lastIndex(of: ":") {
                    return Int(hostAndPort[hostAndPort.index(after: colon)...])
                }
            }
            return nil
        }

        // MARK: Help against the contract

        @Test func helpListsEveryContractFlagAndEveryListedFlagParses() async throws {
            let scratch = try ScratchDirectory("help")
            let contract = try ContractFlags.read()
            let commands = ["train", "evaluate", "predict", "keygen", "plot", "inspect", "export", "worker"]
            try #require(
                Set(contract.flags.keys) == Set(commands),
                "the contract names commands \(contract.flags.keys.sorted()), expected \(commands)")
            try #require(
                (contract.flags["train"]?.count ?? 0) >= 25,
                "only \(contract.flags["train"] ?? []) read from the contract's train table")

            let root = try await Descent.coordinator(["--help"], in: scratch)
            try #require(root.succeeded, "\(root.transcript)")
            for command in commands where command != "worker" {
                #expect(
                    root.stdout.contains("  \(command)"), "coordinator --help does not list \(command):\n\(root.stdout)"
                )
            }

            let workerPort = try FreePort.next()
            // Arguments that satisfy each command's required ones and do nothing lasting (train
            // only prints its settings), so the only way a flag can fail to parse is by being unknown.
            let bases: [String: (program: String, arguments: [String], value: String)] = [
                "train": ("coordinator", ["train", "--in-process", "--print-config"], "1"),
                "evaluate": (
                    "coordinator", ["evaluate", "--model", "absent.safetensors", "--dataset", "csv:absent.csv"], "1"
                ),
                "predict": (
                    "coordinator", ["predict", "--model", "absent.safetensors", "--input", "csv:absent.csv"], "1"
                ),
                "keygen": ("coordinator", ["keygen", "--out", "keys", "--name", "probe"], "1"),
                "plot": ("coordinator", ["plot", "absent.jsonl", "--out", "absent.svg"], "1"),
                "inspect": ("coordinator", ["inspect", "absent.safetensors"], "1"),
                "export": (
                    "coordinator",
                    ["export", "--model", "absent.safetensors", "--format", "onnx", "--out", "absent.onnx"], "1"
                ),
                "worker": (
                    "worker", ["--connect", "tcp://127.0.0.1:\(workerPort)", "--register-timeout", "0.2"], "0.2"
                ),
            ]
            for command in commands {
                let base = try #require(bases[command])
                let helpArguments = command == "worker" ? ["--help"] : [command, "--help"]
                let help = try await Self.run(base.program, helpArguments, in: scratch)
                try #require(help.succeeded, "\(help.transcript)")
                let listed = HelpListing(help.stdout)
                let missing = (contract.flags[command] ?? []).filter { !listed.flags.contains($0) }
                #expect(missing.isEmpty, "\(help.command) lacks the contract's \(missing):\n\(help.stdout)")

                let control = try await Self.run(base.program, base.arguments + ["--no-such-flag-at-all"], in: scratch)
                #expect(
                    control.stderr.contains("Unknown option"),
                    "an unknown flag to \(command) was not reported as one:\n\(control.transcript)")
                for (flag, takesValue) in listed.definitions where flag != "--help" {
                    let probe = try await Self.run(
                        base.program, base.arguments + [flag] + (takesValue ? [base.value] : []), in: scratch)
                    #expect(
                        !probe.stderr.contains("Unknown option"),
                        "\(command) --help shows \(flag), but the parser refuses it:\n\(probe.transcript)")
                }
            }
        }

        static func run(_ program: String, _ arguments: [String], in scratch: ScratchDirectory) async throws
            -> ProcessOutcome
        {
            let executable = program == "worker" ? try Binaries.worker() : try Binaries.coordinator()
            return try await LaunchedProcess.run(executable, arguments, in: scratch, timeout: .seconds(30))
        }
    }
}
