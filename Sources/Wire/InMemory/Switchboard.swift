#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The queues behind a set of `InMemoryTransport`s: one inbox per endpoint, all guarded by
/// one condition, which every change broadcasts.
///
/// `@unchecked Sendable`: every stored property is read and written only under `condition`.
final class Switchboard: @unchecked Sendable {
    static let routerAddress = 0

    private let condition = Condition()
    private var inboxes: [Int: [Envelope]] = [routerAddress: []]
    private var open: Set<Int> = [routerAddress]
    private var nextAddress = 1

    /// ZeroMQ-style generated identity: a zero byte, then the address big-endian.
    static func peerID(of address: Int) -> PeerID {
        let value = UInt32(truncatingIfNeeded: address)
        return PeerID(bytes: [0] + withUnsafeBytes(of: value.bigEndian) { Array($0) })
    }

    func addDealer() -> Int {
        condition.lock()
        defer { condition.unlock() }
        let address = nextAddress
        nextAddress += 1
        inboxes[address] = []
        open.insert(address)
        return address
    }

    /// Queues `frames` from `sender`: to the ROUTER when `peer` is nil, else to that DEALER.
    func send(_ frames: [[UInt8]], from sender: Int, to peer: PeerID?) throws(WireError) {
        condition.lock()
        defer { condition.unlock() }
        guard open.contains(sender) else { throw .closed }
        if let peer {
            guard let address = open.first(where: { $0 != Self.routerAddress && Self.peerID(of: $0) == peer }) else {
                throw .peerUnreachable(peer)
            }
            inboxes[address, default: []].append(Envelope(peer: nil, frames: frames, senderProcessID: getpid()))
        } else {
            guard open.contains(Self.routerAddress) else { return }
            let envelope = Envelope(peer: Self.peerID(of: sender), frames: frames, senderProcessID: getpid())
            inboxes[Self.routerAddress, default: []].append(envelope)
        }
        condition.broadcast()
    }

    /// The oldest message in `address`'s inbox, waiting up to `timeoutMilliseconds`
    /// (0 = poll, -1 = forever) for one to arrive.
    func receive(at address: Int, timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        let deadline = Condition.deadline(milliseconds: max(timeoutMilliseconds, 0))
        condition.lock()
        defer { condition.unlock() }
        while true {
            guard open.contains(address) else { throw .closed }
            if let envelope = inboxes[address]?.first {
                inboxes[address]?.removeFirst()
                return envelope
            }
            if timeoutMilliseconds < 0 {
                condition.wait()
            } else if timeoutMilliseconds == 0 || !condition.wait(until: deadline) {
                // Timed out: one last look, in case the message came with the deadline.
                guard open.contains(address) else { throw .closed }
                guard let envelope = inboxes[address]?.first else { return nil }
                inboxes[address]?.removeFirst()
                return envelope
            }
        }
    }

    func close(_ address: Int) {
        condition.lock()
        defer { condition.unlock() }
        open.remove(address)
        inboxes[address] = nil
        condition.broadcast()
    }
}
