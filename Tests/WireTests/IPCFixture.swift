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
