import ArgumentParser
import CSharedMemory
import Core
import Foundation

/// `descent-bench local-step`: issue 24's design measured with Descent's own arithmetic before it
/// is built into the roles. N processes on one machine step among themselves in shared memory —
/// each computes its shards' partials into the shared area, a futex barrier, each adds its range
/// of the parameters by the reduction tree and updates it by the run's optimizer onto the next
/// parameter slot, a second barrier — with no coordinator and no messages. The same run in one
/// thread (`Trainer`, in-process) is timed beside it, and the weights of both are compared bit
/// for bit.
struct LocalStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local-step",
        abstract: "Time N local processes stepping among themselves in shared memory against one thread."
    )

    @Option(help: "Layer sizes.")
    var layers = "784,256,128,10"

    @Option(help: "Processes.")
    var workers = 2

    @Option(help: "Shards (0: one per process).")
    var shards = 0

    @Option(help: "Examples per step.")
    var batch = 128

    @Option(help: "Steps per run (the first tenth is not counted).")
    var steps = 1500

    @Option(help: "sgd, momentum or adam.")
    var optimizer = "adam"

    @Option(help: "Learning rate.")
    var learningRate: Float = 0.001

    @Option(help: "Dataset spec, as for coordinator train.")
    var dataset = "fashion-mnist"

    @Option(help: "Rounds, the one-thread run and the local one alternated in each.")
    var rounds = 3

    @Option(help: "Pauses a process spins at a barrier before it sleeps.")
    var spins: UInt32 = 0

    @Option(
        help:
            "Milliseconds between the parent's looks at the steps done (a coordinator writing metrics lines); 0: it only waits."
    )
    var observe = 0

    @Option(help: .hidden)
    var role: Int?

    @Option(help: .hidden)
    var area: String?

    func validate() throws {
        guard workers >= 1, batch >= 1, steps >= 10, rounds >= 1, OptimizerKind(rawValue: optimizer) != nil else {
            throw ValidationError("--workers, --batch, --rounds ≥ 1, --steps ≥ 10, --optimizer sgd|momentum|adam")
        }
    }

    var shardCount: Int { shards > 0 ? shards : workers }

    func options() throws -> TrainingOptions {
        var options = TrainingOptions(shape: try NetworkShape(parsing: layers, activation: .relu))
        options.optimizer = OptimizerSettings(kind: OptimizerKind(rawValue: optimizer)!)
        options.learningRate = learningRate
        options.batch = batch
        options.steps = steps
        options.shards = shardCount
        return options
    }

    func run() throws {
        BLAS.setThreads(1)
        let data = try DatasetSpec(parsing: dataset).load(split: .train)
        if let role, let area {
            let shared = try StepArea(path: area, layout: ParameterLayout(shape: try options().shape), create: false)
            try LocalStepper(options: try options(), dataset: data, area: shared, rank: role, workers: workers)
                .run(spins: spins)
            return
        }
        var single: [Double] = []
        var local: [Double] = []
        for round in 1...rounds {
            let (time, reference) = try oneThread(data: data)
            single.append(time)
            let (median, weights) = try localRun(data: data)
            local.append(median)
            let same = weights.map(\.bitPattern) == reference.map(\.bitPattern)
            print(
                String(
                    format: "round %d: one thread %.3f ms, %d local processes %.3f ms (%.2fx), weights %@", round,
                    time * 1e3, workers, median * 1e3, time / median, same ? "bit-identical" : "DIFFER"))
            guard same else { throw ValidationError("the local step's weights differ from one thread's") }
        }
        let (s, l) = (single.sorted()[single.count / 2], local.sorted()[local.count / 2])
        print(
            String(
                format: "median: one thread %.3f ms, local %.3f ms a step: %.2fx (%@, batch %d, %d shards)", s * 1e3,
                l * 1e3, s / l, optimizer, batch, shardCount))
    }

    /// The in-process trainer on one thread: its median step and final weights.
    private func oneThread(data: Dataset) throws -> (median: Double, weights: [Float]) {
        let options = try options()
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let source = InProcessGradients(dataset: data, plan: plan, layout: ParameterLayout(shape: options.shape))
        let trainer = try Trainer(
            options: options, exampleCount: data.count, source: source, testSet: nil, initial: nil)
        var times: [Double] = []
        var last = DispatchTime.now()
        _ = try trainer.run(onStep: { _ in
            let now = DispatchTime.now()
            times.append(Double(now.uptimeNanoseconds - last.uptimeNanoseconds) / 1e9)
            last = now
        })
        return (Self.median(times), trainer.parameters.array)
    }

    /// The local processes' run: its median step and final weights.
    private func localRun(data: Dataset) throws -> (median: Double, weights: [Float]) {
        let options = try options()
        let layout = ParameterLayout(shape: options.shape)
        let path = "/dev/shm/descent-local-step-\(getpid())"
        let area = try StepArea(path: path, layout: layout, create: true, shards: shardCount, steps: steps)
        defer { unlink(path) }
        Initializer.initialize(area.parameters(slot: 0), seed: options.seed)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let children = try (0..<workers).map { rank in
            let process = Process()
            var arguments = [
                "local-step", "--role", "\(rank)", "--area", path, "--layers", layers, "--workers", "\(workers)",
                "--shards", "\(shardCount)", "--batch", "\(batch)", "--steps", "\(steps)", "--optimizer", optimizer,
                "--learning-rate", "\(learningRate)", "--dataset", dataset, "--spins", "\(spins)",
            ]
            if workers <= cpus, FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
                arguments = ["-c", "\(rank)", executable] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: executable)
            }
            process.arguments = arguments
            try process.run()
            return process
        }
        if observe > 0 { observeSteps(area, while: children) }
        for child in children { child.waitUntilExit() }
        guard children.allSatisfy({ $0.terminationStatus == 0 }) else {
            throw ValidationError("a local process failed")
        }
        let times = (0..<steps).map { area.stepSeconds[$0] }
        for rank in 0..<workers {
            let compute = Self.median((0..<steps).map { area.phases(step: $0, rank: rank)[0] })
            let reduce = Self.median((0..<steps).map { area.phases(step: $0, rank: rank)[1] })
            print(
                String(
                    format: "  process %d: compute %.3f ms, sum and update %.3f ms", rank, compute * 1e3, reduce * 1e3))
        }
        return (Self.median(times), area.parameters(slot: steps % 2).array)
    }

    /// Every `observe` ms, a metrics line for each step done since the last look, as a
    /// coordinator would write: loss and accuracy from the shards' statistics; until the last
    /// step, or until no process is left to do it.
    private func observeSteps(_ area: StepArea, while children: [Process]) {
        guard let sink = FileHandle(forWritingAtPath: "/dev/null") else { return }
        var seen = 0
        while seen < steps, children.contains(where: \.isRunning) {
            usleep(useconds_t(observe * 1000))
            let done = Int(descent_load_acquire_u64(area.committed))
            var text = ""
            for step in seen..<done {
                var (loss, correct, examples) = (0.0, 0.0, 0.0)
                for k in 0..<area.shards {
                    let stats = area.statistics(step: step, shard: k)
                    (loss, correct, examples) = (loss + stats[0], correct + stats[1], examples + stats[2])
                }
                var line = JSONLine()
                line.add("step", step + 1)
                line.add("loss", loss / examples)
                line.add("accuracy", correct / examples)
                line.add("step_s", area.stepSeconds[step])
                text += line.text + "\n"
            }
            sink.write(Data(text.utf8))
            seen = done
        }
    }

    static func median(_ times: [Double]) -> Double {
        let kept = times.dropFirst(times.count / 10).sorted()
        return kept[kept.count / 2]
    }
}

/// The shared area: two barrier words, each process's finiteness marks, each shard's partial and
/// statistics, two slots of W, b (a step reads one and writes the other), and step times.
final class StepArea {
    let layout: ParameterLayout
    let base: UnsafeMutableRawPointer
    let bytes: Int
    let shards: Int
    let steps: Int
    private static let header = 4096
    private var slotBytes: Int { (layout.count * 4 + 4095) / 4096 * 4096 }

    init(path: String, layout: ParameterLayout, create: Bool, shards: Int = 0, steps: Int = 0) throws {
        self.layout = layout
        let fd = open(path, create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0o600)
        guard fd >= 0 else { throw ValidationError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let slot = (layout.count * 4 + 4095) / 4096 * 4096
        if create {
            let size = Self.header + (shards + 2) * slot + steps * 8 + steps * shards * 24 + steps * 64 * 16
            guard ftruncate(fd, off_t(size)) == 0 else { throw ValidationError("ftruncate \(path)") }
        }
        var status = stat()
        fstat(fd, &status)
        bytes = Int(status.st_size)
        guard let base = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw ValidationError("mmap \(path)")
        }
        self.base = base
        if create {
            base.storeBytes(of: UInt64(shards), toByteOffset: 512, as: UInt64.self)
            base.storeBytes(of: UInt64(steps), toByteOffset: 520, as: UInt64.self)
        }
        self.shards = Int(base.load(fromByteOffset: 512, as: UInt64.self))
        self.steps = Int(base.load(fromByteOffset: 520, as: UInt64.self))
    }

    deinit { munmap(base, bytes) }

    var barrier: UnsafeMutablePointer<UInt32> { base.assumingMemoryBound(to: UInt32.self) }

    func marks(_ rank: Int) -> UnsafeMutablePointer<UInt32> {
        (base + 256 + rank * 4).assumingMemoryBound(to: UInt32.self)
    }

    /// Shard k's Σ loss, correct count and example count in `step`.
    func statistics(step: Int, shard k: Int) -> UnsafeMutablePointer<Double> {
        (UnsafeMutableRawPointer(stepSeconds + steps) + (step * shards + k) * 24).assumingMemoryBound(to: Double.self)
    }

    /// Process `rank`'s seconds computing and reducing in `step`.
    func phases(step: Int, rank: Int) -> UnsafeMutablePointer<Double> {
        (UnsafeMutableRawPointer(stepSeconds + steps) + steps * shards * 24 + (step * 64 + rank) * 16)
            .assumingMemoryBound(to: Double.self)
    }

    /// Steps done by every process, written by process 0 after each step.
    var committed: UnsafeMutablePointer<UInt64> { (base + 64).assumingMemoryBound(to: UInt64.self) }

    /// Shard k's partial.
    func partial(_ k: Int) -> UnsafeMutablePointer<Float> {
        (base + Self.header + k * slotBytes).assumingMemoryBound(to: Float.self)
    }

    /// W, b in one of the two slots.
    func parameters(slot: Int) -> ParameterBuffer {
        ParameterBuffer(layout: layout, sharing: partial(shards + slot), owner: self)
    }

    var stepSeconds: UnsafeMutablePointer<Double> {
        (base + Self.header + (shards + 2) * slotBytes).assumingMemoryBound(to: Double.self)
    }
}

/// One local process's run: its part of every step (`RangeStepper`) over the shared area, timed.
struct LocalStepper {
    let options: TrainingOptions
    let dataset: Dataset
    let area: StepArea
    let rank: Int
    let workers: Int

    func run(spins: UInt32) throws {
        let plan = try ShardPlan(exampleCount: dataset.count, shards: options.shards)
        let mine = (rank * plan.shardCount / workers)..<((rank + 1) * plan.shardCount / workers)
        let memory = RangeStepper.Memory(
            partials: (0..<plan.shardCount).map(area.partial),
            parameters: [0, 1].map { area.partial(plan.shardCount + $0) },
            marks: (0..<workers).map { area.marks($0) }, statistics: area.statistics(step:shard:))
        let stepper = try RangeStepper(
            options: options, plan: plan,
            shards: mine.map { ShardData(id: $0, dataset: dataset, range: plan.ranges[$0]) },
            rank: rank, parties: workers, memory: memory)
        var last = DispatchTime.now()
        for step in 0..<(options.steps ?? 0) {
            var arrivals: [DispatchTime] = []
            try stepper.step(step) {
                arrivals.append(DispatchTime.now())
                guard descent_barrier_wait(area.barrier, UInt32(workers), spins, 10_000_000_000, nil) == 0 else {
                    throw ValidationError("process \(rank): a barrier timed out")
                }
                if arrivals.count == 1 { arrivals.append(DispatchTime.now()) }
            }
            let now = DispatchTime.now()
            area.phases(step: step, rank: rank)[0] = seconds(last, arrivals[0])
            area.phases(step: step, rank: rank)[1] = seconds(arrivals[1], arrivals[2])
            if rank == 0 {
                area.stepSeconds[step] = seconds(last, now)
                descent_store_release_u64(area.committed, UInt64(step + 1))
            }
            last = now
        }
    }
}

private func seconds(_ from: DispatchTime, _ to: DispatchTime) -> Double {
    Double(to.uptimeNanoseconds - from.uptimeNanoseconds) / 1e9
}
