import Foundation
import Testing

@testable import Core

/// The metrics file's and summary's one-line JSON objects.
@Suite struct JSONLineTests {
    @Test func membersKeepTheirOrderAndParseBack() throws {
        var line = JSONLine()
        line.add("step", 3)
        line.add("loss", 0.25)
        line.add("nan", Double.nan)
        line.add("workers", ["1": 512, "0": 511])
        line.add("note", "quote \" slash \\ newline \n tab \t bell \u{7} é")
        #expect(
            line.text
                == #"{"step":3,"loss":0.25,"nan":null,"workers":{"0":511,"1":512},"note":"quote \" slash \\ newline \n tab \t bell \u0007 é"}"#
        )
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.text.utf8)) as? [String: Any])
        #expect(parsed["step"] as? Int == 3)
        #expect(parsed["note"] as? String == "quote \" slash \\ newline \n tab \t bell \u{7} é")
        #expect(parsed["nan"] is NSNull)
    }

    @Test func anEmptyLineIsAnEmptyObject() {
        #expect(JSONLine().text == "{}")
        var empty = JSONLine()
        empty.add("workers", [String: Int]())
        #expect(empty.text == #"{"workers":{}}"#)
    }

    @Test func keysAreEscapedLikeValues() {
        var line = JSONLine()
        line.add("a\"b", "plain")
        #expect(line.text == #"{"a\"b":"plain"}"#)
    }
}
