import Testing

@testable import Core

/// Core's path helpers, which stand in for NSString's path methods where Core used them.
@Suite struct PathNameTests {
    @Test(arguments: [
        ("/a/b/c", "/a/b", "c"), ("a/b/c", "a/b", "c"), ("c", "", "c"), ("/c", "/", "c"), ("/", "/", "/"),
        ("a/b/", "a", "b"), ("a//b", "a", "b"),
        ("runs/checkpoint-000000010.safetensors", "runs", "checkpoint-000000010.safetensors"),
        ("", "", ""), ("./x", ".", "x"),
    ])
    func directoryAndLastComponent(path: String, directory: String, last: String) {
        #expect(PathName.directory(of: path) == directory, "\(path)")
        #expect(PathName.lastComponent(of: path) == last, "\(path)")
    }

    @Test(arguments: [
        ("runs", "a.safetensors", "runs/a.safetensors"), ("runs/", "a.safetensors", "runs/a.safetensors"),
        ("/", "a", "/a"), ("", "a", "a"),
    ])
    func join(directory: String, name: String, joined: String) {
        #expect(PathName.join(directory, name) == joined)
    }
}
