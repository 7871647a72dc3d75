import Foundation

/// The live processes of this machine, read from /proc: how a test sees which workers a
/// coordinator left behind.
enum ProcessTable {
    struct Entry {
        let pid: Int32
        let parent: Int32
        /// R, S, D, Z, T, … from /proc/PID/stat.
        let state: Character
        let arguments: [String]

        /// A zombie has exited and only waits to be reaped.
        var isAlive: Bool { state != "Z" && state != "X" }
    }

    static func entries() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { Int32($0) }.compactMap(entry)
    }

    static func entry(_ pid: Int32) -> Entry? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let nameEnd = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state, then the parent pid; comm itself may hold spaces and parentheses.
        let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
        guard fields.count >= 2, let state = fields[0].first, let parent = Int32(fields[1]) else { return nil }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return Entry(pid: pid, parent: parent, state: state, arguments: arguments)
    }

    /// Every live process below `pid`, parents before their children.
    static func descendants(of pid: Int32) -> [Int32] {
        let all = entries().filter(\.isAlive)
        var found: [Int32] = []
        var frontier = [pid]
        while let next = frontier.popLast() {
            let children = all.filter { $0.parent == next }.map(\.pid)
            found += children
            frontier += children
        }
        return found
    }

    /// Live `worker` processes that belong to the coordinator `coordinatorPID`: its children, and
    /// — should they outlive it and be re-parented — any whose command line names it
    /// (`--parent-pid PID`) or its private socket directory (`descent-PID`).
    static func workers(of coordinatorPID: Int32) -> [Entry] {
        entries().filter { entry in
            guard entry.isAlive, entry.pid != coordinatorPID,
                let program = entry.arguments.first, (program as NSString).lastPathComponent == "worker"
            else { return false }
            if entry.parent == coordinatorPID { return true }
            let names = zip(entry.arguments, entry.arguments.dropFirst())
                .contains { $0 == "--parent-pid" && $1 == String(coordinatorPID) }
            return names || entry.arguments.contains { $0.contains("descent-\(coordinatorPID)/") }
        }
    }

    /// A readable list of processes, for failure messages.
    static func describe(_ entries: [Entry]) -> String {
        entries.map { "pid \($0.pid) (parent \($0.parent), state \($0.state)): \($0.arguments.joined(separator: " "))" }
            .joined(separator: "\n")
    }
}
