#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Time as the server sees it. Every timeout, deadline, per-step delay, uptime and task
/// duration goes through this (in Xenops, the simulator, the database's parked event calls and
/// the XenAPI's pacing), so tests can drive them with a manual clock instead of sleeping.
public protocol ServerClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    var now: Duration { get }
    /// Seconds since the Unix epoch, for the records xapi shows (task ctime, start time).
    var wallTime: Double { get }
    /// Suspends until `now >= deadline`. Throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Duration) async throws
}

extension ServerClock {
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now + duration)
    }
}

/// The real clock: `ContinuousClock` for monotonic time, `CLOCK_REALTIME` for wall time.
public struct SystemClock: ServerClock {
    private let origin: ContinuousClock.Instant

    public init() { origin = ContinuousClock.now }

    public var now: Duration { ContinuousClock.now - origin }

    public var wallTime: Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    public func sleep(until deadline: Duration) async throws {
        try await ContinuousClock().sleep(until: origin + deadline, tolerance: nil)
    }
}
