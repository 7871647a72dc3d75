import Foundation
import Testing

extension EndToEnd {
    /// The launchers in deploy/: the cross-host proof in network namespaces and SLURM, run for real
    /// where the machine allows it, and the checks that keep the manifests, the compose file and
    /// the scripts in step with the flags the executables document.
    @Suite("Deployment")
    struct DeployTests {
        /// The exit status of a script that cannot run on this machine (automake's convention).
        static let skipStatus: Int32 = 77

        /// Flags of other tools that the deploy scripts use, so that the flag check can tell them
        /// from Descent's.
        static let otherToolsFlags: Set<String> = [
            // sbatch, srun
            "--job-name", "--ntasks", "--cpus-per-task", "--time", "--signal", "--output", "--nodes",
            "--parsable", "--export", "--kill-on-bad-exit", "--overlap", "--ntasks-per-node", "--distribution",
            // munged, munge, unmunge
            "--force", "--socket", "--key-file", "--pid-file", "--log-file", "--seed-file", "--no-input",
            // torchrun, mpirun
            "--standalone", "--nproc-per-node", "--no-python", "--nnodes", "--rdzv-backend", "--rdzv-endpoint",
            "--allow-run-as-root", "--oversubscribe", "--hostfile",
            // ps, swift build (named in a comment)
            "--ppid", "--static-swift-stdlib",
        ]

        /// Runs `bash deploy/RELATIVE` with DESCENT_BIN naming the binaries under test.
        static func runScript(
            _ relative: String, _ arguments: [String] = [], in scratch: ScratchDirectory, timeout: Duration
        ) async throws -> ProcessOutcome {
            try await LaunchedProcess.run(
                "/usr/bin/env", ["bash", DeployFiles.path(relative)] + arguments,
                environment: ["DESCENT_BIN": Binaries.directory], in: scratch, timeout: timeout)
        }

        /// The reason a script gave for skipping (exit 77 and a `SKIP: reason` line), or nil if it ran.
        static func skipReason(_ outcome: ProcessOutcome) -> String? {
            guard outcome.exited, outcome.status == skipStatus else { return nil }
            let line = outcome.stdoutLines.last { $0.hasPrefix("SKIP: ") }
            return line.map { String($0.dropFirst("SKIP: ".count)) } ?? ""
        }

        static var hasIPCommand: Bool {
            ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].contains {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }

        // MARK: Across hosts, for real

        /// Four network namespaces on a bridge stand for four hosts; one worker's link is cut mid-run.
        @Test func namespaceClusterSurvivesACutLinkBitExactly() async throws {
            let scratch = try ScratchDirectory("netns")
            _ = try Binaries.coordinator()
            _ = try Binaries.worker()
            let outcome = try await Self.runScript("netns/cluster-test", in: scratch, timeout: .seconds(150))
            if let reason = Self.skipReason(outcome) {
                print("DeployTests: deploy/netns/cluster-test SKIPPED: \(reason)")
                #expect(!reason.isEmpty, "cluster-test exited 77 without a `SKIP: reason` line\n\(outcome.transcript)")
                #expect(
                    !(getuid() == 0 && Self.hasIPCommand),
                    "cluster-test skipped although this runs as root with `ip`: \(reason)\n\(outcome.transcript)")
                return
            }
            #expect(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stdout.contains("PASS:") && outcome.stdout.contains("byte-identical"),
                "cluster-test ended well without reporting its proof\n\(outcome.transcript)")
        }

        /// descent.sbatch under a throwaway single-node SLURM, then resumed from its checkpoints,
        /// then with DESCENT_REDUCERS=2 (a reducer in an srun step of its own, which registers).
        @Test func sbatchScriptCompletesOnASingleNodeSlurm() async throws {
            let scratch = try ScratchDirectory("slurm")
            _ = try Binaries.coordinator()
            let outcome = try await Self.runScript("slurm/test-single-node", in: scratch, timeout: .seconds(210))
            if let reason = Self.skipReason(outcome) {
                print("DeployTests: deploy/slurm/test-single-node SKIPPED: \(reason)")
                #expect(
                    !reason.isEmpty, "test-single-node exited 77 without a `SKIP: reason` line\n\(outcome.transcript)")
                return
            }
            #expect(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stdout.contains("PASS:") && outcome.stdout.contains("--launcher slurm")
                    && outcome.stdout.contains("DESCENT_REDUCERS=2 and its reducer registered"),
                "test-single-node ended well without reporting its checks\n\(outcome.transcript)")
        }

        // MARK: Kubernetes

        @Test func kubernetesResourcesHaveKnownKindsAndAreAllApplied() async throws {
            let scratch = try ScratchDirectory("k8s-kinds")
            let k8s = try await KubernetesManifests.load(in: scratch)
            let apiVersions = [
                "ConfigMap": "v1", "Service": "v1", "Secret": "v1", "PersistentVolumeClaim": "v1",
                "Job": "batch/v1", "StatefulSet": "apps/v1", "Kustomization": "kustomize.config.k8s.io/v1beta1",
            ]
            for file in k8s.files {
                let documents = k8s.documents[DeployFiles.path(file)] ?? []
                #expect(!documents.isEmpty, "\(file) holds no document")
                for document in documents {
                    let resource = document as? [String: Any] ?? [:]
                    let kind = resource.string("kind") ?? "none"
                    #expect(apiVersions[kind] != nil, "\(file): unexpected kind \(kind)")
                    #expect(
                        resource.string("apiVersion") == apiVersions[kind],
                        "\(file): \(kind) has apiVersion \(resource.string("apiVersion") ?? "none"), expected \(apiVersions[kind] ?? "?")"
                    )
                    #expect(
                        kind == "Kustomization" || resource.mapping("metadata").string("name") != nil,
                        "\(file): a \(kind) without a name")
                }
            }
            let kustomization = k8s.documents[DeployFiles.path("k8s/kustomization.yaml")]?.first as? [String: Any]
            let listed = Set((kustomization ?? [:]).list("resources").compactMap { $0 as? String })
            let manifests = Set(k8s.files.map { ($0 as NSString).lastPathComponent }).subtracting(["kustomization.yaml"]
            )
            #expect(
                listed == manifests,
                "kustomization.yaml lists \(listed.sorted()), the directory holds \(manifests.sorted())")
        }

        @Test func kubernetesServiceFrontsTheCoordinatorOnThePortsItBinds() async throws {
            let scratch = try ScratchDirectory("k8s-ports")
            let k8s = try await KubernetesManifests.load(in: scratch)
            let config = try await k8s.coordinatorConfig(in: scratch).settings
            let spec = k8s.service.mapping("spec")
            #expect(spec.string("clusterIP") == "None", "the coordinator's Service is not headless")
            let selector = spec.mapping("selector")
            #expect(
                KubernetesManifests.matches(selector, k8s.coordinatorPod.mapping("metadata").mapping("labels")),
                "the Service's selector \(selector) misses the coordinator pod")
            #expect(
                !KubernetesManifests.matches(selector, k8s.workerPod.mapping("metadata").mapping("labels")),
                "the Service's selector \(selector) also selects worker pods")
            #expect(
                !KubernetesManifests.matches(selector, k8s.reducerPod.mapping("metadata").mapping("labels")),
                "the Service's selector \(selector) also selects reducer pods")

            let servicePorts = k8s.servicePorts
            let containerPorts = k8s.coordinatorPorts
            let bindPort = KubernetesManifests.port(of: config.string("bind") ?? "")
            #expect(bindPort == 5555, "the coordinator binds \(config.string("bind") ?? "nothing"), expected port 5555")
            #expect(
                servicePorts["zmq"]?.int("port") == bindPort,
                "the Service's zmq port is not the bound port \(bindPort ?? -1)")
            #expect(
                containerPorts["zmq"] == bindPort,
                "the container declares ZeroMQ port \(containerPorts["zmq"] ?? -1), the coordinator binds \(bindPort ?? -1)"
            )
            let metricsPort = config.int("metrics-port")
            #expect(metricsPort == 9464, "metrics-port is \(metricsPort ?? -1), expected 9464")
            #expect(
                servicePorts["metrics"]?.int("port") == metricsPort && containerPorts["metrics"] == metricsPort,
                "the Service's and the container's metrics ports are not metrics-port \(metricsPort ?? -1)")
            #expect(config.string("metrics-host") == "0.0.0.0", "the metrics endpoint listens on loopback only")
            for (name, port) in servicePorts {
                let target = port["targetPort"].map { "\($0)" } ?? String(port.int("port") ?? -1)
                let declared = containerPorts[target] != nil || containerPorts.values.contains(Int(target) ?? -1)
                #expect(
                    declared, "Service port \(name) targets \(target), which the coordinator container does not declare"
                )
            }
            for (role, arguments) in [("workers", k8s.workerArguments), ("reducers", k8s.reducerArguments)] {
                let connect = KubernetesManifests.value(of: "--connect", in: arguments)
                #expect(
                    connect == "tcp://\(KubernetesManifests.serviceName):\(bindPort ?? -1)",
                    "\(role) connect to \(connect ?? "nothing"), not the Service \(KubernetesManifests.serviceName) on the bound port"
                )
            }
        }

        /// Each reducer takes pieces at its own pod's address (the downward API) on a port its
        /// container declares and its headless Service fronts; the Service selects reducers only.
        @Test func kubernetesReducersTakePiecesAtTheirPodAddress() async throws {
            let scratch = try ScratchDirectory("k8s-reducers")
            let k8s = try await KubernetesManifests.load(in: scratch)
            let reduceAt = KubernetesManifests.value(of: "--reduce-at", in: k8s.reducerArguments) ?? "none"
            let port = KubernetesManifests.port(of: reduceAt)
            #expect(
                reduceAt == "tcp://$(POD_IP):\(port ?? -1)",
                "the reducer binds \(reduceAt), not tcp://$(POD_IP):PORT (its pod's address, which workers reach)")
            #expect(
                KubernetesManifests.fieldPath(of: "POD_IP", in: k8s.reducer) == "status.podIP",
                "POD_IP does not come from the downward API's status.podIP")
            #expect(
                KubernetesManifests.ports(of: k8s.reducer)["reduce"] == port,
                "the reducer container does not declare port \(port ?? -1) as `reduce`")

            let spec = k8s.reducerService.mapping("spec")
            #expect(spec.string("clusterIP") == "None", "the reducers' Service is not headless")
            let selector = spec.mapping("selector")
            #expect(
                KubernetesManifests.matches(selector, k8s.reducerPod.mapping("metadata").mapping("labels")),
                "the reducers' Service selector \(selector) misses the reducer pods")
            for (role, pod) in [("worker", k8s.workerPod), ("coordinator", k8s.coordinatorPod)] {
                #expect(
                    !KubernetesManifests.matches(selector, pod.mapping("metadata").mapping("labels")),
                    "the reducers' Service selector \(selector) also selects the \(role) pods")
            }
            let servicePort = spec.list("ports").compactMap { $0 as? [String: Any] }.first
            #expect(
                servicePort?.int("port") == port && servicePort.map { "\($0["targetPort"] ?? "")" } == "reduce",
                "the reducers' Service does not front port \(port ?? -1) (targetPort reduce)")
            if k8s.reducerWorkload.string("kind") == "StatefulSet" {
                #expect(
                    k8s.reducerWorkload.mapping("spec").string("serviceName") == KubernetesManifests.reducerServiceName,
                    "the reducer StatefulSet's serviceName is not \(KubernetesManifests.reducerServiceName)")
            } else {
                #expect(
                    k8s.reducerPod.mapping("spec").string("subdomain") == KubernetesManifests.reducerServiceName,
                    "the reducer pods' subdomain is not \(KubernetesManifests.reducerServiceName)")
            }
        }

        @Test func kubernetesConfigMapHoldsTrainFlagsTheCoordinatorAccepts() async throws {
            let scratch = try ScratchDirectory("k8s-config")
            let k8s = try await KubernetesManifests.load(in: scratch)
            let help = try await HelpFlags.read(in: scratch)
            let (path, config) = try await k8s.coordinatorConfig(in: scratch)
            for key in config.keys.sorted() {
                let isFlag = help.train.contains("--\(key)")
                #expect(isFlag, "ConfigMap key `\(key)` is not a `coordinator train` flag")
            }
            let printed = try await Descent.coordinator(["train", "--config", path, "--print-config"], in: scratch)
            #expect(printed.succeeded, "the coordinator rejects the ConfigMap's train.yaml\n\(printed.transcript)")

            let spec = k8s.workerWorkload.mapping("spec")
            if k8s.workerWorkload.string("kind") == "Job" {
                #expect(spec.string("completionMode") == "Indexed", "the worker Job is not Indexed")
                #expect(
                    spec.int("parallelism") == spec.int("completions"),
                    "the worker Job's parallelism and completions differ")
            }
            let started = spec.int("parallelism") ?? spec.int("replicas")
            #expect(
                config.int("workers") == started,
                "the coordinator waits for \(config.int("workers") ?? -1) workers, \(started ?? -1) are started")
            #expect(
                (config.int("shards") ?? 0) > (config.int("workers") ?? 0),
                "shards do not exceed workers: no room for joiners")

            let reducerSpec = k8s.reducerWorkload.mapping("spec")
            if k8s.reducerWorkload.string("kind") == "Job" {
                #expect(reducerSpec.string("completionMode") == "Indexed", "the reducer Job is not Indexed")
                #expect(
                    reducerSpec.int("parallelism") == reducerSpec.int("completions"),
                    "the reducer Job's parallelism and completions differ")
            }
            let reducersStarted = reducerSpec.int("parallelism") ?? reducerSpec.int("replicas")
            let reducers = config.int("reducers") ?? 1
            #expect(reducers >= 2, "the ConfigMap sets no `reducers` above 1, so the reducer pods would wait unused")
            #expect(
                reducers - 1 == reducersStarted,
                "the coordinator waits for \(reducers - 1) reducer(s) (reducers: \(reducers)), \(reducersStarted ?? -1) are started"
            )
            #expect(
                config.string("resume") != nil && config.int("checkpoint-every") != nil,
                "a restarted coordinator pod would not resume")
            let onVolume = config.string("resume").flatMap {
                KubernetesManifests.volume(mountedAbove: $0 + "/x", in: k8s.coordinator, pod: k8s.coordinatorPod)
            }
            #expect(onVolume?["persistentVolumeClaim"] != nil, "checkpoints are not on a PersistentVolumeClaim")
        }

        @Test func kubernetesKeysComeFromOneSecretReadOnlyAndPrivate() async throws {
            let scratch = try ScratchDirectory("k8s-keys")
            let k8s = try await KubernetesManifests.load(in: scratch)
            let config = try await k8s.coordinatorConfig(in: scratch).settings
            let workerKeys = ["--curve-secret-key", "--server-public-key"].map {
                KubernetesManifests.value(of: $0, in: k8s.workerArguments)
            }
            let reducerKeys = ["--curve-secret-key", "--server-public-key"].map {
                KubernetesManifests.value(of: $0, in: k8s.reducerArguments)
            }
            // The reducers share the workers' key pair, whose public key the coordinator authorizes.
            let fileNames = { (paths: [String?]) in paths.map { $0.map { ($0 as NSString).lastPathComponent } } }
            #expect(
                fileNames(reducerKeys) == fileNames(workerKeys),
                "the reducers' keys \(reducerKeys) are not the workers' \(workerKeys)")
            var secretNames: Set<String> = []
            for (role, pod, keyPaths) in [
                ("coordinator", k8s.coordinatorPod, [config.string("curve-secret-key")]),
                ("worker", k8s.workerPod, workerKeys),
                ("reducer", k8s.reducerPod, reducerKeys),
            ] {
                let secrets = pod.mapping("spec").list("volumes").compactMap { $0 as? [String: Any] }.filter {
                    $0["secret"] != nil
                }
                #expect(!secrets.isEmpty, "the \(role) pod mounts no Secret")
                var items: Set<String> = []
                for volume in secrets {
                    let secret = volume.mapping("secret")
                    secretNames.insert(secret.string("secretName") ?? "none")
                    let mode = secret.int("defaultMode")
                    #expect(
                        mode == 0o400 || mode == 0o600,
                        "\(role): Secret volume \(volume.string("name") ?? "?") has mode \(mode.map { String($0, radix: 8) } ?? "644 (default)"), expected 0400 or 0600"
                    )
                    items.formUnion(secret.list("items").compactMap { ($0 as? [String: Any])?.string("key") })
                    for container in KubernetesManifests.allContainers(in: pod) {
                        for mount in container.list("volumeMounts").compactMap({ $0 as? [String: Any] })
                        where mount.string("name") == volume.string("name") {
                            #expect(
                                mount["readOnly"] as? Bool == true,
                                "\(role): container \(container.string("name") ?? "?") mounts the Secret writable")
                        }
                    }
                }
                for keyPath in keyPaths {
                    let file = ((keyPath ?? "none") as NSString).lastPathComponent
                    #expect(
                        items.contains(file),
                        "\(role): key \(keyPath ?? "none") is not among the Secret's items \(items.sorted())")
                }
            }
            #expect(
                secretNames == ["descent-keys"],
                "the pods mount Secrets \(secretNames.sorted()), expected descent-keys only")
            let authorized = config.string("authorized-keys") ?? "none"
            #expect(
                KubernetesManifests.volume(
                    mountedAbove: authorized + "/worker.pub", in: k8s.coordinator, pod: k8s.coordinatorPod) != nil,
                "authorized-keys \(authorized) is on none of the coordinator's volumes")
        }

        @Test func kubernetesContainersHaveResourcesOneImageAndDocumentedFlags() async throws {
            let scratch = try ScratchDirectory("k8s-containers")
            let k8s = try await KubernetesManifests.load(in: scratch)
            let help = try await HelpFlags.read(in: scratch)
            #expect(
                k8s.coordinatorArguments.prefix(2) == ["coordinator", "train"],
                "the coordinator container does not run `coordinator train`: \(k8s.coordinatorArguments)")
            #expect(
                k8s.workerArguments.first == "worker",
                "the worker container does not run `worker`: \(k8s.workerArguments)")
            Self.expectFlags(
                k8s.coordinatorArguments, in: help.train, "k8s coordinator container", executable: "coordinator train")
            Self.expectFlags(k8s.workerArguments, in: help.worker, "k8s worker container", executable: "worker")
            #expect(
                k8s.reducerArguments.first == "worker" && k8s.reducerArguments.contains("--reduce-at"),
                "the reducer container does not run `worker --reduce-at`: \(k8s.reducerArguments)")
            Self.expectFlags(k8s.reducerArguments, in: help.worker, "k8s reducer container", executable: "worker")

            var images: Set<String> = []
            for pod in [k8s.coordinatorPod, k8s.workerPod, k8s.reducerPod] {
                for container in KubernetesManifests.allContainers(in: pod) {
                    let name = container.string("name") ?? "?"
                    images.insert(container.string("image") ?? "none")
                    for level in ["requests", "limits"] {
                        let amounts = container.mapping("resources").mapping(level)
                        #expect(
                            amounts["cpu"] != nil && amounts["memory"] != nil,
                            "container \(name) has no cpu and memory \(level)")
                    }
                    let security = container.mapping("securityContext")
                    #expect(
                        security["allowPrivilegeEscalation"] as? Bool == false,
                        "container \(name) may escalate privileges")
                }
            }
            #expect(images.count == 1, "the manifests name several images: \(images.sorted())")
        }

        // MARK: Docker

        @Test func composeFileAndDockerfileAgreeWithTheManifests() async throws {
            let scratch = try ScratchDirectory("compose")
            let help = try await HelpFlags.read(in: scratch)
            let composePath = DeployFiles.path("docker/compose.yaml")
            let k8sCoordinatorPath = DeployFiles.path("k8s/coordinator.yaml")
            let parsed = try await YAMLDocuments.load([composePath, k8sCoordinatorPath], in: scratch)
            let compose = try #require(parsed[composePath]?.first as? [String: Any], "compose.yaml is not a mapping")
            let services = compose.mapping("services")
            let coordinator = try #require(services["coordinator"] as? [String: Any], "no service `coordinator`")
            let worker = try #require(services["worker"] as? [String: Any], "no service `worker`")

            let k8sImages = Set(
                (parsed[k8sCoordinatorPath] ?? []).compactMap { $0 as? [String: Any] }
                    .flatMap { KubernetesManifests.allContainers(in: $0.mapping("spec").mapping("template")) }
                    .compactMap { $0.string("image") })
            let composeImages = Set(services.values.compactMap { ($0 as? [String: Any])?.string("image") })
            #expect(
                composeImages.count == 1 && composeImages == k8sImages,
                "compose images \(composeImages.sorted()) and Kubernetes images \(k8sImages.sorted()) differ")

            for (name, service) in services {
                guard let build = (service as? [String: Any])?.mapping("build"), !build.isEmpty else { continue }
                let context = ((composePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
                    build.string("context") ?? ".")
                let dockerfile = (context as NSString).appendingPathComponent(
                    build.string("dockerfile") ?? "Dockerfile")
                #expect(
                    FileManager.default.fileExists(atPath: dockerfile),
                    "service \(name) builds \(dockerfile), which does not exist")
            }

            // The coordinator runs the image's entrypoint, `coordinator`; workers override it.
            let coordinatorArguments = coordinator.strings("command")
            let workerArguments = worker.strings("entrypoint") + worker.strings("command")
            #expect(
                coordinatorArguments.first == "train",
                "the coordinator service does not run `train`: \(coordinatorArguments)")
            #expect(workerArguments.first == "worker", "the worker service does not run `worker`: \(workerArguments)")
            Self.expectFlags(
                coordinatorArguments, in: help.train, "compose coordinator", executable: "coordinator train")
            Self.expectFlags(workerArguments, in: help.worker, "compose worker", executable: "worker")
            for case let service as [String: Any] in services.values {
                let script = (service.strings("entrypoint") + service.strings("command")).joined(separator: " ")
                for command in script.components(separatedBy: ";") where FlagTokens.target(of: command) == .keygen {
                    Self.expectFlags(
                        command.components(separatedBy: " "), in: help.keygen, "compose keygen",
                        executable: "coordinator keygen")
                }
            }

            let bindPort = KubernetesManifests.port(
                of: KubernetesManifests.value(of: "--bind", in: coordinatorArguments) ?? "")
            let connect = KubernetesManifests.value(of: "--connect", in: workerArguments) ?? ""
            #expect(
                connect == "tcp://coordinator:\(bindPort ?? -1)",
                "workers connect to \(connect), not the coordinator service on its bound port \(bindPort ?? -1)")
            #expect(
                coordinator.list("expose").map { "\($0)" }.contains(String(bindPort ?? -1)),
                "the coordinator service does not expose \(bindPort ?? -1)")
            let metricsPort = KubernetesManifests.value(of: "--metrics-port", in: coordinatorArguments)
            #expect(
                metricsPort == "9464" && coordinator.list("ports").contains { "\($0)".hasSuffix(":9464") },
                "the metrics port is not 9464 and published")

            // The reducer, a `worker --reduce-at` run by a shell that finds its container's address.
            let reducer = try #require(services["reducer"] as? [String: Any], "no service `reducer`")
            let reducerScript = (reducer.strings("entrypoint") + reducer.strings("command")).joined(separator: " ")
            let reducerWords = reducerScript.components(separatedBy: " ")
            #expect(
                reducerScript.contains("exec worker "), "the reducer service does not run `worker`: \(reducerScript)")
            Self.expectFlags(reducerWords, in: help.worker, "compose reducer", executable: "worker")
            let reducerConnect = KubernetesManifests.value(of: "--connect", in: reducerWords) ?? ""
            #expect(
                reducerConnect == "tcp://coordinator:\(bindPort ?? -1)",
                "the reducer connects to \(reducerConnect), not the coordinator service on its bound port")
            let reduceAt = reducerScript.range(of: #"--reduce-at "tcp://[^"]*""#, options: .regularExpression).map {
                String(reducerScript[$0].dropLast())
            }
            let reducePort = reduceAt.flatMap { KubernetesManifests.port(of: $0) }
            #expect(
                reduceAt?.contains("hostname -i") == true && reducePort != nil,
                "the reducer does not take pieces at its container's address (hostname -i) on a port: \(reducerScript)")
            #expect(
                reducer.list("expose").map { "\($0)" }.contains(String(reducePort ?? -1)),
                "the reducer service does not expose its port \(reducePort ?? -1)")
            let reducers = KubernetesManifests.value(of: "--reducers", in: coordinatorArguments) ?? ""
            #expect(
                reducers.contains("DESCENT_REDUCERS"),
                "the coordinator's --reducers is \(reducers), not set from DESCENT_REDUCERS beside --scale reducer")

            for (name, service, keyFlags) in [
                ("coordinator", coordinator, ["--curve-secret-key", "--authorized-keys"]),
                ("worker", worker, ["--curve-secret-key", "--server-public-key"]),
                ("reducer", reducer, ["--curve-secret-key", "--server-public-key"]),
            ] {
                let arguments = (service.strings("entrypoint") + service.strings("command")).flatMap {
                    $0.components(separatedBy: " ")
                }
                let targets = service.list("volumes").compactMap {
                    ($0 as? String)?.split(separator: ":").dropFirst().first.map(String.init)
                }
                for flag in keyFlags {
                    let path = try #require(
                        KubernetesManifests.value(of: flag, in: arguments), "the \(name) service has no \(flag)")
                    #expect(
                        targets.contains { path.hasPrefix($0 + "/") },
                        "\(name): \(flag) \(path) is on none of its volumes \(targets)")
                }
            }

            let dockerfile = try DeployFiles.text("docker/Dockerfile")
            let stages = dockerfile.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
            #expect(stages.count >= 2, "the Dockerfile is not multi-stage")
            #expect(
                stages.last?.contains("debian:bookworm-slim") == true, "the runtime stage is not debian:bookworm-slim")
            for package in ["libzmq3-dev", "libopenblas-dev", "zlib1g-dev", "libzmq5", "libopenblas0"] {
                #expect(dockerfile.contains(package), "the Dockerfile installs no \(package)")
            }
            #expect(dockerfile.contains("EXPOSE 5555 9464"), "the Dockerfile does not expose 5555 and 9464")
            #expect(dockerfile.contains("swift build -c release"), "the Dockerfile does not build in release mode")
        }

        // MARK: Scripts

        /// Every `--flag` a script passes is one the executable it runs documents in `--help`.
        @Test func scriptsPassOnlyFlagsTheExecutablesDocument() async throws {
            let scratch = try ScratchDirectory("flags")
            let help = try await HelpFlags.read(in: scratch)
            let scripts = DeployFiles.shellScripts()
            for script in scripts {
                let text = try DeployFiles.text(script)
                let own = FlagTokens.ownOptions(of: text)
                for (number, line) in FlagTokens.logicalLines(text).enumerated() {
                    let target = FlagTokens.target(of: line)
                    let allowed: Set<String> =
                        switch target {
                        case .train: help.train
                        case .keygen: help.keygen
                        case .worker: help.worker
                        case .unknown: help.any
                        }
                    for flag in FlagTokens.occurrences(line)
                    where !own.contains(flag) && !Self.otherToolsFlags.contains(flag) {
                        let documented = allowed.contains(flag)
                        #expect(
                            documented,
                            "deploy/\(script) logical line \(number + 1): \(flag) is not a flag of \(target.rawValue)\n\(line)"
                        )
                    }
                }
            }
        }

        @Test func everyShellScriptParsesAndIsExecutable() async throws {
            let scratch = try ScratchDirectory("bash-n")
            let scripts = DeployFiles.shellScripts()
            for expected in [
                "netns/cluster-test", "slurm/descent.sbatch", "slurm/descent-srun.sbatch", "slurm/test-single-node",
                "ssh/launch", "local/train", "torchrun/train", "mpi/train",
            ] {
                #expect(scripts.contains(expected), "deploy/\(expected) is missing or not a shell script")
            }
            for script in scripts {
                let outcome = try await LaunchedProcess.run(
                    "/usr/bin/env", ["bash", "-n", DeployFiles.path(script)], in: scratch, timeout: .seconds(30))
                #expect(outcome.succeeded, "bash -n deploy/\(script)\n\(outcome.transcript)")
                #expect(
                    FileManager.default.isExecutableFile(atPath: DeployFiles.path(script)),
                    "deploy/\(script) is not executable")
            }
        }

        @Test func sbatchScriptDocumentsEverySetting() throws {
            let text = try DeployFiles.text("slurm/descent.sbatch")
            let header = text.split(separator: "\n").prefix { $0.hasPrefix("#") }.joined(separator: "\n")
            let pattern = try NSRegularExpression(pattern: "DESCENT_[A-Z_]+")
            let body = text.dropFirst(header.count)
            let used = Set(
                pattern.matches(in: String(body), range: NSRange(body.startIndex..., in: body)).map {
                    (String(body) as NSString).substring(with: $0.range)
                })
            for variable in used.sorted() {
                #expect(
                    header.contains(variable), "descent.sbatch reads \(variable) but its header does not document it")
            }
            #expect(
                text.contains("scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -1"),
                "the coordinator's node is not the allocation's first")
            #expect(text.contains("srun "), "workers are not started with srun")
        }

        @Test func sshLaunchDryRunPrintsEachHostsCommands() async throws {
            let scratch = try ScratchDirectory("ssh-launch")
            let hostsFile = scratch.file("hosts")
            try """
            # the cluster
            alice@node1.example.org

              bob@10.0.0.7   # the second box
            # carol@retired.example.org
            node3
            """.write(toFile: hostsFile, atomically: true, encoding: .utf8)
            let keys = scratch.file("keys")
            let logs = scratch.file("logs")
            let outcome = try await Self.runScript(
                "ssh/launch",
                [
                    "--dry-run", "--coordinator-addr", "10.9.8.7", "--port", "6000", "--keys", keys, "--logs", logs,
                    hostsFile, "--", "--dataset", "fashion-mnist", "--epochs", "1",
                ],
                in: scratch, timeout: .seconds(30))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let lines = outcome.stdoutLines
            func index(_ description: String, _ predicate: (String) -> Bool) -> Int {
                guard let found = lines.firstIndex(where: predicate) else {
                    Issue.record("no \(description) in the dry run:\n\(outcome.stdout)")
                    return -1
                }
                return found
            }

            #expect(!outcome.stdout.contains("carol"), "a commented-out host was used")
            let coordinatorLine = index("coordinator command") {
                $0.contains("coordinator train --workers 3 --bind tcp://0.0.0.0:6000")
            }
            if coordinatorLine >= 0 {
                let line = lines[coordinatorLine]
                #expect(
                    line.contains("--curve-secret-key \(keys)/coordinator.key --authorized-keys \(keys)/authorized"),
                    "the coordinator runs without CURVE: \(line)")
                #expect(
                    line.hasSuffix("--dataset fashion-mnist --epochs 1"),
                    "the extra flags do not reach the coordinator: \(line)")
            }
            for host in ["alice@node1.example.org", "bob@10.0.0.7", "node3"] {
                let prepare = index("mkdir on \(host)") {
                    $0.hasPrefix("ssh ") && $0.contains(" \(host) ") && $0.contains("mkdir -p .descent")
                }
                let copy = index("scp to \(host)") {
                    $0.hasPrefix("scp ") && $0.contains("/worker ") && $0.contains(".key ")
                        && $0.contains("coordinator.pub") && $0.hasSuffix(" \(host):.descent/")
                }
                let start = index("worker start on \(host)") {
                    $0.hasPrefix("ssh ") && $0.contains(" \(host) ")
                        && $0.contains("nohup ./worker --connect tcp://10.9.8.7:6000")
                        && $0.contains("--curve-secret-key ") && $0.contains("--server-public-key coordinator.pub")
                }
                let stop = index("worker stop on \(host)") {
                    $0.hasPrefix("ssh ") && $0.contains(" \(host) ") && $0.contains("kill ")
                }
                let collect = index("log collection from \(host)") {
                    $0.hasPrefix("scp ") && $0.contains(" \(host):.descent/") && $0.contains(".log \(logs)/")
                }
                #expect(
                    prepare < copy && copy < coordinatorLine && coordinatorLine < start && start < stop
                        && stop < collect,
                    "\(host): expected mkdir, copy, coordinator, start, stop, collect in that order\n\(outcome.stdout)")
            }
            #expect(
                !FileManager.default.fileExists(atPath: keys) && !FileManager.default.fileExists(atPath: logs),
                "the dry run created files")
        }

        /// With --reducers, the dry run makes each reducer a key pair, copies it and the worker to
        /// its host, starts `worker --reduce-at` there at the host's address on its own port after
        /// the coordinator (which gets `--reducers S`), and stops and collects it like a worker.
        @Test func sshLaunchDryRunStartsReducers() async throws {
            let scratch = try ScratchDirectory("ssh-launch-reducers")
            let hostsFile = scratch.file("hosts")
            try "alice@node1.example.org\nbob@10.0.0.7\n".write(toFile: hostsFile, atomically: true, encoding: .utf8)
            let reducerHostsFile = scratch.file("reducer-hosts")
            try "# reducers on hosts of their own\ncarol@10.0.0.9\nred.example.org\n".write(
                toFile: reducerHostsFile, atomically: true, encoding: .utf8)
            let keys = scratch.file("keys")
            let logs = scratch.file("logs")
            let outcome = try await Self.runScript(
                "ssh/launch",
                [
                    "--dry-run", "--coordinator-addr", "10.9.8.7", "--port", "6000", "--keys", keys, "--logs", logs,
                    "--reducers", "4", "--reducer-hosts", reducerHostsFile, "--reducer-port", "7000", hostsFile, "--",
                    "--epochs", "1",
                ],
                in: scratch, timeout: .seconds(30))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let lines = outcome.stdoutLines
            func index(_ description: String, _ predicate: (String) -> Bool) -> Int {
                guard let found = lines.firstIndex(where: predicate) else {
                    Issue.record("no \(description) in the dry run:\n\(outcome.stdout)")
                    return -1
                }
                return found
            }
            let coordinatorLine = index("coordinator command with --reducers 4") {
                $0.contains("coordinator train --workers 2 --bind tcp://0.0.0.0:6000")
                    && $0.contains("--authorized-keys \(keys)/authorized --reducers 4 --epochs 1")
            }
            // Three reducers over two reducer hosts: the first host takes reducers 1 and 3.
            for (rank, host, address) in [
                (1, "carol@10.0.0.9", "10.0.0.9"), (2, "red.example.org", "$(hostname -I"),
                (3, "carol@10.0.0.9", "10.0.0.9"),
            ] {
                let name = "reducer\(rank)-\(host.split(separator: "@").last ?? "")"
                let keygen = index("keygen of \(name)") {
                    $0.contains("coordinator keygen --out \(keys) --name \(name)")
                }
                let authorize = index("authorization of \(name)") {
                    $0.hasPrefix("cp ") && $0.hasSuffix("\(keys)/authorized/\(name).pub")
                }
                let copy = index("scp of \(name)") {
                    $0.hasPrefix("scp ") && $0.contains("/worker ") && $0.contains("\(name).key ")
                        && $0.contains("coordinator.pub") && $0.hasSuffix(" \(host):.descent/")
                }
                let start = index("start of \(name) on \(host)") {
                    $0.hasPrefix("ssh ") && $0.contains(" \(host) ")
                        && $0.contains("nohup ./worker --connect tcp://10.9.8.7:6000 --name \(name) ")
                        && $0.contains("--reduce-at tcp://\(address)") && $0.contains(":\(7000 + rank - 1) ")
                        && $0.contains("--curve-secret-key \(name).key --server-public-key coordinator.pub")
                }
                let stop = index("stop of \(name)") {
                    $0.hasPrefix("ssh ") && $0.contains(" \(host) ") && $0.contains("kill $(cat \(name).pid)")
                }
                let collect = index("log collection of \(name)") {
                    $0.hasPrefix("scp ") && $0.contains(" \(host):.descent/\(name).log \(logs)/")
                }
                #expect(
                    keygen < authorize && authorize < copy && copy < coordinatorLine && coordinatorLine < start
                        && start < stop && stop < collect,
                    "\(name): expected keygen, authorize, copy, coordinator, start, stop, collect in that order\n\(outcome.stdout)"
                )
            }
            #expect(
                !outcome.stdout.contains("reducer4"), "four ranges take three reducers, not four\n\(outcome.stdout)")
        }

        // MARK: Helpers

        static func expectFlags(
            _ arguments: [String], in documented: Set<String>, _ place: String, executable: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            for flag in arguments.flatMap({ FlagTokens.occurrences($0) }) {
                let isDocumented = documented.contains(flag)
                #expect(
                    isDocumented, "\(place): \(flag) is not a flag of \(executable)", sourceLocation: sourceLocation)
            }
        }
    }
}
