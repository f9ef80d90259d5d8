import NIOCore
import Synchronization

/// The open connections of one server run: enforces the per-listener caps and lets
/// shutdown reach every connection. Shared by all event loops.
final class ConnectionRegistry: Sendable {
    enum Admission: Equatable {
        case admitted
        case overLimit
        case draining
    }

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var counts: [Listener: Int] = [:]
        var draining = false
    }

    private let limits: [Listener: Int]
    private let state = Mutex(State())

    init(limits: [Listener: Int]) {
        self.limits = limits
    }

    func admit(_ channel: any Channel, on listener: Listener) -> Admission {
        self.state.withLock { state in
            if state.draining { return .draining }
            let count = state.counts[listener, default: 0]
            if count >= self.limits[listener, default: .max] { return .overLimit }
            state.counts[listener] = count + 1
            state.channels[ObjectIdentifier(channel)] = channel
            return .admitted
        }
    }

    func remove(_ channel: any Channel, on listener: Listener) {
        self.state.withLock { state in
            if state.channels.removeValue(forKey: ObjectIdentifier(channel)) != nil {
                state.counts[listener, default: 1] -= 1
            }
        }
    }

    /// Refuses every later connection and returns the ones open now.
    func drain() -> [any Channel] {
        self.state.withLock { state in
            state.draining = true
            return Array(state.channels.values)
        }
    }

    func count(on listener: Listener) -> Int {
        self.state.withLock { $0.counts[listener, default: 0] }
    }
}
