import Foundation
import Testing
@testable import Wire

/// A router and a dealer talking over ipc://, for the shared-memory tests.
enum IPCFixture {
    static let patience = 5000

    /// A fresh ipc:// endpoint in a directory of its own (the caller removes it).
    static func endpoint() throws -> (String, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("descent-shm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return ("ipc://\(directory.path)/s.sock", directory)
    }

    /// A router and a dealer on ipc:// whose shared memory is set up (or refused) before this
    /// returns; with `sharedParameterBytes`, the router shares parameters for frames that long,
    /// and the dealer has mapped them (or refused them) too.
    static func pair(
        capacity: Int, receiving: Int? = nil, sharedParameterBytes: Int? = nil,
        routerOptions: ZeroMQOptions = ZeroMQOptions(), dealerOptions: ZeroMQOptions = ZeroMQOptions()
    ) throws -> (ZeroMQTransport, ZeroMQTransport, PeerID, URL) {
        let (endpoint, directory) = try endpoint()
        let router = try ZeroMQTransport.bind(endpoint, options: routerOptions)
        if let sharedParameterBytes { router.shareParameters(frameBytes: sharedParameterBytes) }
        let dealer = try ZeroMQTransport.connect(endpoint, options: dealerOptions)
        _ = dealer.offerSharedMemory(sending: capacity, receiving: receiving ?? capacity)
        try dealer.send(SampleMessages.hello, to: nil)
        let hello = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        #expect(try hello.message.get() == SampleMessages.hello)
        let peer = try #require(hello.peer)
        // The router's answer (and its board's offer) are taken in by the dealer's next receive…
        try router.send(SampleMessages.welcome, to: peer)
        let welcome = try #require(try dealer.receiveMessage(timeoutMilliseconds: patience))
        #expect(try welcome.message.get() == SampleMessages.welcome)
        if sharedParameterBytes != nil {
            // …and the dealer's answer to the board by the router's.
            try dealer.send(SampleMessages.heartbeat, to: nil)
            #expect(try router.receiveMessage(timeoutMilliseconds: patience)?.message.get() == SampleMessages.heartbeat)
        }
        return (router, dealer, peer, directory)
    }
}

/// The large messages of a step, each way through a router and dealer of any kind: PARAMS-sized
/// `SampleMessages.largeStep` from the router, `largePartial` from the dealer.
enum LargeExchange {
    /// Frames of `message` large enough for shared memory (64 KiB or more).
    static func sharedFrames(_ message: Message) -> Int {
        MessageCodec.encode(message).filter { $0.count >= ZeroMQTransport.zeroCopyBytes }.count
    }

    /// Sends `largeStep` to the dealer and `largePartial` back, and checks each arrives intact:
    /// the step decoded, the partial frame for frame from `peer`.
    static func run(
        router: ZeroMQTransport, dealer: ZeroMQTransport, peer: PeerID, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try router.send(SampleMessages.largeStep, to: peer)
        let step = try #require(try dealer.receiveMessage(timeoutMilliseconds: IPCFixture.patience), sourceLocation: sourceLocation)
        #expect(try step.message.get() == SampleMessages.largeStep, sourceLocation: sourceLocation)
        try dealer.send(SampleMessages.largePartial, to: nil)
        let partial = try #require(try router.receive(timeoutMilliseconds: IPCFixture.patience), sourceLocation: sourceLocation)
        #expect(partial.peer == peer, sourceLocation: sourceLocation)
        #expect(partial.frames == MessageCodec.encode(SampleMessages.largePartial), sourceLocation: sourceLocation)
    }
}
