import Foundation
import Testing

@testable import Wire

/// A router and a dealer sharing memory over ipc://, for the shared-memory tests.
enum IPCFixture {
    static let patience = 5000

    /// A fresh ipc:// endpoint in a directory of its own (the caller removes it).
    static func endpoint() throws -> (String, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "descent-shm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return ("ipc://\(directory.path)/s.sock", directory)
    }

    /// A router and a dealer on ipc://, each with its shared-memory layer, whose region is set up
    /// (or refused) before this returns; with `sharedParameterCount`, the router shares
    /// parameters of that many values, and the dealer has mapped them (or refused them) too.
    static func pair(
        capacity: Int, receiving: Int? = nil, sharedParameterCount: Int? = nil,
        routerOptions: ZeroMQOptions = ZeroMQOptions()
    ) throws -> (SharedMemoryRouter, SharedMemoryDealer, PeerID, URL) {
        let (endpoint, directory) = try endpoint()
        let router = SharedMemoryRouter(
            over: try ZeroMQTransport.bind(endpoint, options: routerOptions), parameterCount: sharedParameterCount,
            maxFrameBytes: routerOptions.maxMessageBytes)
        let dealer = SharedMemoryDealer(over: try ZeroMQTransport.connect(endpoint))
        let peer = try handshake(
            router: router, dealer: dealer, capacity: capacity, receiving: receiving,
            boardToo: sharedParameterCount != nil)
        return (router, dealer, peer, directory)
    }

    /// Registers `dealer` with `router` as a worker does, offering a region on the way; returns
    /// the dealer's identity at the router.
    static func handshake(
        router: some CoordinatorTransport, dealer: SharedMemoryDealer, capacity: Int, receiving: Int?, boardToo: Bool
    ) throws -> PeerID {
        dealer.offer(sending: capacity, receiving: receiving ?? capacity)
        try dealer.send(SampleMessages.hello)
        let hello = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        #expect(try hello.message.get() == SampleMessages.hello)
        let peer = try #require(hello.peer)
        // The router's answer (and its board's offer) are taken in by the dealer's next receive…
        try router.send(SampleMessages.welcome, to: peer)
        let welcome = try #require(try dealer.receiveMessage(timeoutMilliseconds: patience))
        #expect(try welcome.message.get() == SampleMessages.welcome)
        if boardToo {
            // …and the dealer's answer to the board by the router's.
            try dealer.send(SampleMessages.heartbeat)
            #expect(try router.receiveMessage(timeoutMilliseconds: patience)?.message.get() == SampleMessages.heartbeat)
        }
        return peer
    }
}

/// The large messages of a step, each way through a router and dealer of any kind: PARAMS-sized
/// `SampleMessages.largeStep` from the router, `largePartial` from the dealer.
enum LargeExchange {
    /// Frames of `message` large enough for shared memory (64 KiB or more).
    static func sharedFrames(_ message: Message) -> Int {
        MessageCodec.encode(message).filter { $0.count >= SharedMemoryTransport.frameBytes }.count
    }

    /// Sends `largeStep` to the dealer and `largePartial` back, and checks each arrives intact:
    /// the step decoded, the partial frame for frame from `peer`.
    static func run(
        router: some CoordinatorTransport, dealer: some WorkerTransport, peer: PeerID,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try router.send(SampleMessages.largeStep, to: peer)
        let step = try #require(
            try dealer.receiveMessage(timeoutMilliseconds: IPCFixture.patience), sourceLocation: sourceLocation)
        #expect(try step.message.get() == SampleMessages.largeStep, sourceLocation: sourceLocation)
        try dealer.send(SampleMessages.largePartial)
        let partial = try #require(
            try router.receive(timeoutMilliseconds: IPCFixture.patience), sourceLocation: sourceLocation)
        #expect(partial.peer == peer, sourceLocation: sourceLocation)
        #expect(partial.frames == MessageCodec.encode(SampleMessages.largePartial), sourceLocation: sourceLocation)
    }
}
