import NIOCore

/// Runs a connection's task on its channel's event loop (as a task-executor preference), so a
/// request goes from the channel handler to the dispatcher and its response back to the socket
/// without crossing threads.
///
/// With Swift's default executor every request took two thread switches — the event loop
/// resumed the connection's task on the global pool, which then handed the response back to
/// the loop — about a third of the server's CPU per `VM.get_record` (BENCHMARKS.md "RPC
/// throughput"). Handlers must still never block: on this executor they share the loop with
/// the connection's I/O and with the other connections of that loop. Unstructured tasks they
/// start (timers, background work) do not inherit the preference and run on the global pool.
///
/// swift-nio 2.101 has no `TaskExecutor` conformance for its event loops, hence this wrapper.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
