import Core
import Logging
import Wire

@testable import Coordinator

/// One training run in one process: a real `WorkerPool` over an `InMemoryTransport` ROUTER as the
/// trainer's `GradientSource`, and real workers on threads, each over a DEALER of that ROUTER.
struct RoleRun {
    /// 320 examples of 8 features in 3 classes; batches of 32 over 4 shards.
    static let dataset: Dataset = {
        var rng = Xoshiro256(seed: 18, stream: 7)
        let (features, count) = (8, 320)
        let values = (0..<features * count).map { _ in Float(rng.nextGaussian()) }
        let labels = (0..<count).map { _ in Int32(rng.next(below: 3)) }
        let matrix = Matrix(rows: features, cols: count, columnMajor: values)
        return Dataset(features: matrix, labels: labels, source: "roles")
    }()

    static func options() throws -> TrainingOptions {
        var options = TrainingOptions(shape: try NetworkShape(layers: [8, 16, 8, 3], activation: .relu))
        options.optimizer = OptimizerSettings(kind: .adam)
        options.learningRate = 0.05
        options.batch = 32
        options.epochs = 2
        options.shards = 4
        options.seed = 5
        return options
    }

    /// The weights `options` train to with every shard computed in this process: the reference.
    static func reference(_ options: TrainingOptions) throws -> [UInt32] {
        let plan = try ShardPlan(exampleCount: dataset.count, shards: options.shards)
        let source = InProcessGradients(dataset: dataset, plan: plan, layout: ParameterLayout(shape: options.shape))
        let trainer = try Trainer(
            options: options, exampleCount: dataset.count, source: source, testSet: nil, initial: nil)
        _ = try trainer.run()
        return trainer.parameters.array.map(\.bitPattern)
    }

    /// Short beats; a worker silent for `workerTimeout` is lost.
    static func settings(workers: Int, workerTimeout: Duration = .seconds(30)) -> PoolSettings {
        PoolSettings(
            expectedWorkers: workers, minWorkers: 1, registerTimeout: .seconds(10), workerTimeout: workerTimeout,
            heartbeat: .milliseconds(50), threads: 1, seed: 5)
    }

    let weights: [UInt32]
    let reports: [StepReport]
    /// Workers in the pool at the end.
    let workersLeft: Int
    let workers: [WorkerThread]
    /// Whether each worker's thread ended within a deadline once the run was over.
    let ended: [Bool]

    /// Trains `options` with `settings.expectedWorkers` workers; `layer` puts what it returns
    /// between worker `index`'s loop and its DEALER (the DEALER itself for a healthy worker).
    /// Once training ends the pool says goodbye, the DEALERs of the workers in `faulty` are
    /// closed (a lost worker hears no goodbye), and every worker thread is joined.
    static func train(
        _ options: TrainingOptions, settings: PoolSettings, faulty: Set<Int> = [],
        layer: (Int, InMemoryTransport) -> any WorkerTransport = { $1 }
    ) throws -> RoleRun {
        let router = InMemoryTransport.router()
        let plan = try ShardPlan(exampleCount: dataset.count, shards: options.shards)
        let pool = WorkerPool(
            transport: router, settings: settings, layout: ParameterLayout(shape: options.shape), plan: plan,
            supervisor: nil, log: Logger(label: "pool") { _ in SwiftLogNoOpLogHandler() })
        let workers = (0..<settings.expectedWorkers).map { index in
            let dealer = router.connectDealer()
            return WorkerThread(name: "worker-\(index)", dealer: dealer, transport: layer(index, dealer))
        }
        var reports: [StepReport] = []
        let trained = Result { () throws -> [UInt32] in
            try pool.start(dataset: dataset)
            let trainer = try Trainer(
                options: options, exampleCount: dataset.count, source: pool, testSet: nil, initial: nil)
            _ = try trainer.run(onStep: { reports.append($0) })
            return trainer.parameters.array.map(\.bitPattern)
        }
        pool.shutdown(reason: "the test is over", resumable: false)
        for index in faulty { workers[index].dealer.close() }
        let ended = workers.map { $0.join(timeout: .seconds(10)) }
        // No thread outlives the test, even one that missed its goodbye.
        for (worker, ended) in zip(workers, ended) where !ended {
            worker.dealer.close()
            _ = worker.join(timeout: .seconds(2))
        }
        return RoleRun(
            weights: try trained.get(), reports: reports, workersLeft: pool.workerCount, workers: workers, ended: ended)
    }
}
