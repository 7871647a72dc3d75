import Foundation
import Testing

@testable import Coordinator

/// What the metrics endpoint answers to each request line, well-formed or not.
@Suite("metrics endpoint routes")
struct MetricsEndpointTests {
    static func answer(_ line: String, history: RunHistory = RunHistory()) -> MetricsEndpoint.Answer {
        MetricsEndpoint.answer(
            line, metrics: { Array("descent_step 3\n".utf8) }, status: RunStatus(), history: history)
    }

    @Test func servesThePageTheFiguresAndTheHistory() throws {
        let page = Self.answer("GET / HTTP/1.1")
        #expect(page.code == "200 OK" && page.type == "text/html")
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(html.hasPrefix("<!doctype html>") && html.contains("/history?since="), "\(html.prefix(200))")
        let elsewhere = html.replacingOccurrences(of: "\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!elsewhere.contains("http://") && !elsewhere.contains("https://"), "the page fetches from elsewhere")
        #expect(!html.contains("<script src") && !html.contains("<link"), "the page loads a resource")
        #expect(!html.contains("innerHTML"), "the page writes markup from data")

        #expect(Self.answer("GET /metrics HTTP/1.1").body == Array("descent_step 3\n".utf8))
        #expect(Self.answer("GET /status HTTP/1.1").type == "application/json")

        let history = RunHistory()
        for step in 1...3 {
            history.record(
                RunHistory.Point(
                    step: step, epoch: 1, loss: 1, accuracy: 0.5, learningRate: 0.1, examplesPerSecond: 10))
        }
        let all = Self.answer("GET /history HTTP/1.1", history: history)
        #expect(all.code == "200 OK" && all.type == "application/json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(all.body)) as? [String: Any])
        #expect((object["points"] as? [Any])?.count == 3)
        let after = Self.answer("GET /history?x=1&since=2 HTTP/1.1", history: history)
        let rest = try #require(try JSONSerialization.jsonObject(with: Data(after.body)) as? [String: Any])
        #expect((rest["points"] as? [[String: Any]])?.compactMap { $0["step"] as? Int } == [3])
    }

    @Test func badRequestsAreRefusedNotServed() {
        for line in [
            "GET /history?since=abc HTTP/1.1", "GET /history?since=-1 HTTP/1.1", "GET /history?since= HTTP/1.1",
            "GET /history?since HTTP/1.1", "GET /history?since=99999999999999999999999 HTTP/1.1",
        ] {
            #expect(Self.answer(line).code == "400 Bad Request", "\(line)")
        }
        for line in [
            "", "GET", "POST / HTTP/1.1", "GET /other HTTP/1.1", "GET //metrics HTTP/1.1", "\u{0}\u{1}",
            "GET ?since=1 HTTP/1.1", "GET /index.html HTTP/1.1",
        ] {
            #expect(Self.answer(line).code == "404 Not Found", "\(line.debugDescription)")
        }
    }
}
