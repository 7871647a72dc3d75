import Foundation

/// deploy/k8s as the deployment tests compare it: every resource by `Kind/name`, and the pieces
/// that must agree — the coordinator's Service, Job, pod and container, the workers' and the
/// reducers' likewise, and the `train.yaml` its ConfigMap holds.
struct KubernetesManifests {
    static let serviceName = "descent-coordinator"
    static let reducerServiceName = "descent-reducer"

    /// deploy/k8s's YAML files, relative to deploy/.
    let files: [String]
    /// Each file's documents, by absolute path.
    let documents: [String: [Any]]
    /// Every resource but the Kustomization, by `Kind/name`.
    let resources: [String: [String: Any]]
    let service: [String: Any]
    let workerWorkload: [String: Any]
    let coordinatorPod: [String: Any]
    let workerPod: [String: Any]
    let coordinator: [String: Any]
    let worker: [String: Any]
    /// The reducers (`--reducers`): their headless Service, workload, pod and container.
    let reducerService: [String: Any]
    let reducerWorkload: [String: Any]
    let reducerPod: [String: Any]
    let reducer: [String: Any]

    /// `command` then `args` of the coordinator's container.
    var coordinatorArguments: [String] { coordinator.strings("command") + coordinator.strings("args") }
    var workerArguments: [String] { worker.strings("command") + worker.strings("args") }
    var reducerArguments: [String] { reducer.strings("command") + reducer.strings("args") }

    static func load(in scratch: ScratchDirectory) async throws -> KubernetesManifests {
        let files = DeployFiles.all().filter { $0.hasPrefix("k8s/") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
        guard !files.isEmpty else { throw HarnessError.setup("no YAML files in deploy/k8s") }
        let documents = try await YAMLDocuments.load(files.map(DeployFiles.path), in: scratch)
        var resources: [String: [String: Any]] = [:]
        for file in files {
            for case let document as [String: Any] in documents[DeployFiles.path(file)] ?? []
            where document.string("kind") != "Kustomization" {
                resources["\(document.string("kind") ?? "?")/\(document.mapping("metadata").string("name") ?? "?")"] =
                    document
            }
        }
        func required<T>(_ value: T?, _ what: String) throws -> T {
            guard let value else { throw HarnessError.malformedOutput("deploy/k8s: \(what)") }
            return value
        }
        let coordinatorJob = try required(resources["Job/descent-coordinator"], "no Job descent-coordinator")
        let workerWorkload = try required(
            resources["Job/descent-worker"] ?? resources["StatefulSet/descent-worker"],
            "no Job (or StatefulSet) descent-worker")
        let reducerWorkload = try required(
            resources["Job/descent-reducer"] ?? resources["StatefulSet/descent-reducer"]
                ?? resources["Deployment/descent-reducer"],
            "no Job (or StatefulSet, or Deployment) descent-reducer")
        let coordinatorPod = coordinatorJob.mapping("spec").mapping("template")
        let workerPod = workerWorkload.mapping("spec").mapping("template")
        let reducerPod = reducerWorkload.mapping("spec").mapping("template")
        return KubernetesManifests(
            files: files, documents: documents, resources: resources,
            service: try required(resources["Service/\(serviceName)"], "no Service \(serviceName)"),
            workerWorkload: workerWorkload, coordinatorPod: coordinatorPod, workerPod: workerPod,
            coordinator: try required(
                container(named: "coordinator", in: coordinatorPod), "no container `coordinator`"),
            worker: try required(container(named: "worker", in: workerPod), "no container `worker`"),
            reducerService: try required(
                resources["Service/\(reducerServiceName)"], "no Service \(reducerServiceName)"),
            reducerWorkload: reducerWorkload, reducerPod: reducerPod,
            reducer: try required(container(named: "reducer", in: reducerPod), "no container `reducer`"))
    }

    /// The Service's ports by name.
    var servicePorts: [String: [String: Any]] {
        Dictionary(
            service.mapping("spec").list("ports").compactMap { $0 as? [String: Any] }.map {
                ($0.string("name") ?? "?", $0)
            }
        ) { first, _ in first }
    }

    /// The coordinator container's ports by name.
    var coordinatorPorts: [String: Int] { Self.ports(of: coordinator) }

    /// A container's ports by name.
    static func ports(of container: [String: Any]) -> [String: Int] {
        Dictionary(
            container.list("ports").compactMap { $0 as? [String: Any] }.map {
                ($0.string("name") ?? "?", $0.int("containerPort") ?? -1)
            }
        ) { first, _ in first }
    }

    /// The field of the pod that a container's environment variable `name` comes from (the
    /// downward API's `fieldRef.fieldPath`).
    static func fieldPath(of name: String, in container: [String: Any]) -> String? {
        container.list("env").compactMap { $0 as? [String: Any] }.first { $0.string("name") == name }?
            .mapping("valueFrom").mapping("fieldRef").string("fieldPath")
    }

    /// The ConfigMap file that the coordinator's `--config` names, written to `scratch` and
    /// parsed: its path and its mapping.
    func coordinatorConfig(in scratch: ScratchDirectory) async throws -> (path: String, settings: [String: Any]) {
        guard let configPath = Self.value(of: "--config", in: coordinatorArguments) else {
            throw HarnessError.malformedOutput("the coordinator container takes no --config")
        }
        guard let volume = Self.volume(mountedAbove: configPath, in: coordinator, pod: coordinatorPod),
            let name = volume.mapping("configMap").string("name")
        else {
            throw HarnessError.malformedOutput("no ConfigMap is mounted above \(configPath)")
        }
        let key = (configPath as NSString).lastPathComponent
        guard let text = resources["ConfigMap/\(name)"]?.mapping("data").string(key) else {
            throw HarnessError.malformedOutput("the coordinator mounts ConfigMap \(name), which defines no key \(key)")
        }
        let path = scratch.file(key)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        guard let settings = try await YAMLDocuments.load([path], in: scratch)[path]?.first as? [String: Any] else {
            throw HarnessError.malformedOutput("ConfigMap \(name)'s \(key) is not a mapping")
        }
        return (path, settings)
    }

    static func container(named name: String, in pod: [String: Any]) -> [String: Any]? {
        pod.mapping("spec").list("containers").compactMap { $0 as? [String: Any] }.first { $0.string("name") == name }
    }

    static func allContainers(in pod: [String: Any]) -> [[String: Any]] {
        (pod.mapping("spec").list("initContainers") + pod.mapping("spec").list("containers")).compactMap {
            $0 as? [String: Any]
        }
    }

    /// Every key of `selector` is a label of `labels` with the same value.
    static func matches(_ selector: [String: Any], _ labels: [String: Any]) -> Bool {
        !selector.isEmpty && selector.allSatisfy { labels.string($0.key) == ($0.value as? String) }
    }

    /// The volume of `pod` that `container` mounts at a directory above `path`.
    static func volume(mountedAbove path: String, in container: [String: Any], pod: [String: Any]) -> [String: Any]? {
        let mounts = container.list("volumeMounts").compactMap { $0 as? [String: Any] }
        guard let mount = mounts.first(where: { path.hasPrefix(($0.string("mountPath") ?? "\u{0}") + "/") }) else {
            return nil
        }
        return pod.mapping("spec").list("volumes").compactMap { $0 as? [String: Any] }.first {
            $0.string("name") == mount.string("name")
        }
    }

    /// The argument after `flag` (or after `flag=`).
    static func value(of flag: String, in arguments: [String]) -> String? {
        if let index = arguments.firstIndex(of: flag), index + 1 < arguments.count { return arguments[index + 1] }
        return arguments.first { $0.hasPrefix(flag + "=") }.map { String($0.dropFirst(flag.count + 1)) }
    }

    /// The port of `tcp://HOST:PORT`.
    static func port(of endpoint: String) -> Int? {
        endpoint.split(separator: ":").last.flatMap { Int($0) }
    }
}

/// Reading parsed YAML: missing keys read as empty.
extension Dictionary where Key == String, Value == Any {
    func mapping(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    func list(_ key: String) -> [Any] { self[key] as? [Any] ?? [] }
    func string(_ key: String) -> String? { self[key] as? String }
    /// A list of strings, or a single string as one (compose's `command: "…"`).
    func strings(_ key: String) -> [String] {
        if let single = self[key] as? String { return [single] }
        return list(key).map { "\($0)" }
    }
}
