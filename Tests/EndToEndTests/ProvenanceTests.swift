import Core
import Foundation
import Testing

extension EndToEnd {
    /// Outputs users can trust: a model says where it came from, and the metrics endpoint speaks
    /// Prometheus' format to the letter and stays up for the last scrape.
    @Suite("provenance and the metrics a scraper reads")
    struct ProvenanceTests {
        let scratch: ScratchDirectory
        let csv: String

        init() throws {
            scratch = try ScratchDirectory("provenance")
            csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
        }

        @Test func aModelRecordsItsProvenance() async throws {
            let out = scratch.file("model.safetensors")
            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--test-dataset", "csv:\(csv)", "--layers",
                    "8,16,3", "--optimizer", "adam", "--lr", "0.01", "--lr-schedule", "cosine", "--batch", "32",
                    "--epochs", "2", "--seed", "11", "--shards", "2", "--out", out,
                ], in: scratch)
            #expect(outcome.succeeded, "\(outcome.transcript)")
            let metadata = try SafetensorsFile.read(from: out).metadata
            let expected = [
                "seed": "11", "optimizer": "adam", "lr": "0.01", "lr_schedule": "cosine", "batch": "32", "shards": "2",
                "epochs": "2", "data": csv, "test_data": csv, "descent_version": DescentVersion.text,
            ]
            for (key, value) in expected {
                #expect(metadata[key] == value, "\(key): \(metadata[key] ?? "missing"), expected \(value)")
            }
            for key in ["momentum", "weight_decay", "schedule", "blas_kernel", "test_loss"] {
                #expect(metadata[key] != nil, "no \(key) in \(metadata.keys.sorted())")
            }
            let fingerprint = try #require(metadata["data_fingerprint"])
            #expect(fingerprint.count == 16 && fingerprint.allSatisfy(\.isHexDigit), "fingerprint \(fingerprint)")
            // The model's test accuracy is the one the summary reports.
            let accuracy = try #require(metadata["test_accuracy"])
            #expect(outcome.stdoutLines.last?.contains("\"test_accuracy\":\(accuracy),") == true, "\(outcome.stdout)")

            // The data as read: standardizing it changes nothing of its fingerprint.
            let standardizedOut = scratch.file("standardized.safetensors")
            let standardized = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--steps", "1",
                    "--standardize", "--out", standardizedOut,
                ], in: scratch)
            #expect(standardized.succeeded, "\(standardized.transcript)")
            #expect(try SafetensorsFile.read(from: standardizedOut).metadata["data_fingerprint"] == fingerprint)

            // The same examples give the same fingerprint; one changed value another.
            var changed = LabelledData.synthetic()
            changed.rows[0][0] += 0.5
            let other = try changed.write(to: scratch.file("changed.csv"))
            let otherOut = scratch.file("other.safetensors")
            let rerun = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(other)", "--layers", "8,16,3", "--steps", "1", "--out",
                    otherOut,
                ],
                in: scratch)
            #expect(rerun.succeeded, "\(rerun.transcript)")
            #expect(try SafetensorsFile.read(from: otherOut).metadata["data_fingerprint"] != fingerprint)
        }

        /// After the run, `--metrics-linger` keeps the endpoint up: the final figures, test metrics
        /// included, are scraped, and `promtool check metrics` accepts them (HELP and TYPE lines).
        @Test func promtoolAcceptsTheLastScrapeOfALingeringEndpoint() async throws {
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--test-dataset", "csv:\(csv)", "--layers",
                    "8,16,3", "--steps", "20", "--metrics-port", "0", "--metrics-linger", "120", "--out",
                    scratch.file("model.safetensors"),
                ], in: scratch)
            defer { if coordinator.isRunning { coordinator.send(SIGKILL) } }
            var port: Int?
            let ended = await coordinator.poll(timeout: .seconds(60)) {
                port = port ?? MonitoringTests.loggedMetricsPort(coordinator.stderrSoFar)
                return !coordinator.isRunning || coordinator.stdoutSoFar.contains("\"status\":\"completed\"")
            }
            try #require(ended && coordinator.isRunning, "the run did not end and linger:\n\(coordinator.stderrSoFar)")
            let metricsPort = try #require(port, "no port logged:\n\(coordinator.stderrSoFar)")
            let response = try HTTPResponse.get("/metrics", port: metricsPort)
            #expect(response.status == 200)
            let metrics = try PrometheusText(response.body)
            #expect(metrics.value("descent_step") == 20, "\(response.body)")
            #expect(metrics.hasSeries("descent_test_accuracy"), "\(response.body)")
            #expect(response.body.contains("# HELP descent_step "), "\(response.body)")

            let scrape = scratch.file("scrape.txt")
            try response.body.write(toFile: scrape, atomically: true, encoding: .utf8)
            let check = try await LaunchedProcess.run(
                "/bin/sh", ["-c", "promtool check metrics < '\(scrape)'"], in: scratch, timeout: .seconds(30))
            #expect(check.succeeded, "promtool check metrics:\n\(check.transcript)")

            // Ctrl-C ends the wait; the run itself had completed.
            coordinator.send(SIGINT)
            let outcome = try await coordinator.wait(timeout: .seconds(10))
            #expect(outcome.succeeded, "\(outcome.transcript)")
        }
    }
}
