/// The few path manipulations Core needs, on plain strings (Core does without Foundation's
/// NSString, so that a worker process does not load it).
public enum PathName {
    /// `directory` and `name` joined by one slash: "runs" + "a.safetensors" → "runs/a.safetensors".
    public static func join(_ directory: String, _ name: String) -> String {
        guard !directory.isEmpty else { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The path without its last component: "/a/b/c" → "/a/b", "c" → "", "/c" → "/".
    public static func directory(of path: String) -> String {
        let trimmed = trailingSlashesRemoved(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        let parent = trailingSlashesRemoved(String(trimmed[..<slash]))
        return parent.isEmpty ? "/" : parent
    }

    /// The last component: "/a/b/c" → "c", "a/b/" → "b".
    public static func lastComponent(of path: String) -> String {
        let trimmed = trailingSlashesRemoved(path)
        guard trimmed != "/", let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    private static func trailingSlashesRemoved(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }
}
