import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Load generator for the event and end-to-end benchmarks: raw XML-RPC over keep-alive
/// connections on one NIO event loop, so the client adds microseconds, not the milliseconds a
/// Python client would spend parsing responses.
@main
struct XapiLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xapi-load",
        subcommands: [Fanout.self, Latency.self, FromCost.self, Flood.self, WatchStorm.self, BootStorm.self, StartLatency.self, GuestEvents.self, SignalStorm.self, BacklogStart.self, RecordLatency.self])
}

struct Target: ParsableArguments {
    @Option var host = "127.0.0.1"
    @Option var port = 8080
    @Option var password = ""
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[rank]
}

/// CPU time of a process in nanoseconds: the sum over its threads of the run time the
/// scheduler accounts in /proc (schedstat has nanoseconds; stat only 10 ms ticks).
func processCPU(_ pid: Int32) -> UInt64 {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.reduce(0) { total, tid in
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/schedstat", encoding: .utf8)) ?? ""
        return total + (UInt64(text.split(separator: " ").first ?? "0") ?? 0)
    }
}

/// This process's user plus system CPU in nanoseconds (getrusage has microseconds).
func ownCPU() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let us = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    return UInt64(us) * 1000
}

func ms(_ nanoseconds: Double) -> String { String(format: "%.3f", nanoseconds / 1e6) }

struct Client {
    let target: Target
    let group = MultiThreadedEventLoopGroup.singleton

    func connect() async throws -> Connection {
        try await Connection.open(host: target.host, port: target.port, group: group)
    }

    func call(_ c: Connection, _ method: String, _ params: [RPC.Param]) async throws -> [UInt8] {
        let response = try await c.post("/", RPC.call(method, params)).get()
        guard response.status == 200, RPC.isSuccess(response.body) else {
            throw ValidationError("\(method) failed: \(String(decoding: response.body.prefix(400), as: UTF8.self))")
        }
        return response.body
    }

    /// A new connection and a session logged in on it.
    func loggedIn() async throws -> (Connection, String) {
        let c = try await connect()
        return (c, try await login(c))
    }

    func login(_ c: Connection) async throws -> String {
        let body = try await call(c, "session.login_with_password", [.string("root"), .string(target.password)])
        guard let session = RPC.member("Value", in: body) else { throw ValidationError("no session") }
        return session
    }

    func ordinaryVMs(_ c: Connection, _ session: String) async throws -> [String] {
        let body = try await call(c, "VM.get_all_where",
                                  [.string(session), .string(#"field "is_a_template" = "false" and field "is_control_domain" = "false""#)])
        return RPC.refs(in: body)
    }

    func token(_ c: Connection, _ session: String, _ classes: [String]) async throws -> String {
        let body = try await call(c, "event.from", [.string(session), .array(classes), .string(""), .double(0)])
        // The token is the last member of the result struct.
        let text = String(decoding: body, as: UTF8.self)
        guard let r = text.range(of: "<name>token</name><value>", options: .backwards) else { throw ValidationError("no token") }
        return String(text[r.upperBound...].prefix(41))
    }
}

/// 1,000 parked `event.from(["vm"])` calls, one rename: time until every client has its answer.
struct Fanout: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var clients = 1000
    @Option var rounds = 20
    @Flag(help: "Print every round's time until all answered.") var verbose = false
    @Option(help: "The server's pid, to report the CPU time it spent in each round.")
    var pid: Int32?

    func run() async throws {
        let client = Client(target: target)
        let (control, session) = try await client.loggedIn()
        let vm = try await client.ordinaryVMs(control, session)[0]
        var token = try await client.token(control, session, ["vm"])
        let parked = try PollingClients(count: clients, host: target.host, port: target.port)
        var roundTimes: [Double] = []
        var perClient: [Double] = []
        var serverCPU: [Double] = []
        var clientCPU: [Double] = []
        for round in 0..<rounds {
            try parked.postAll(host: target.host, body: RPC.call("event.from", [.string(session), .array(["vm"]), .string(token), .double(30)]))
            try await Task.sleep(for: .milliseconds(clients >= 500 ? 1500 : 300))   // let every call park
            let collecting = Task { try await parked.answers() }
            try await Task.sleep(for: .milliseconds(20))   // the reader thread is in epoll_wait
            let cpuBefore = (server: pid.map(processCPU), client: ownCPU())
            let start = now()
            _ = try await client.call(control, "VM.set_name_label", [.string(session), .string(vm), .string("fanout \(round)")])
            let written = now()
            let answers = try await collecting.value
            var last: UInt64 = 0
            for answer in answers {
                guard answer.status == 200 else { throw ValidationError("event.from failed: HTTP \(answer.status)") }
                perClient.append(Double(answer.completedAt - start))
                last = max(last, answer.completedAt)
            }
            guard RPC.isSuccess(parked.firstBody), let next = RPC.member("token", in: parked.firstBody) else {
                throw ValidationError("event.from failed: \(String(decoding: parked.firstBody.prefix(300), as: UTF8.self))")
            }
            token = next
            roundTimes.append(Double(last - start))
            clientCPU.append(Double(ownCPU() - cpuBefore.client))
            if let pid, let before = cpuBefore.server { serverCPU.append(Double(processCPU(pid) - before)) }
            if verbose {
                let first = answers.map(\.completedAt).min() ?? start
                var cpu = " client_cpu_ms=\(ms(clientCPU.last!))"
                if let server = serverCPU.last { cpu += " server_cpu_ms=\(ms(server))" }
                print("round \(round) all-answered_ms=\(ms(Double(last - start))) first-answer_ms=\(ms(Double(first - start))) set_name_label_ms=\(ms(Double(written - start)))" + cpu)
            }
        }
        print("fanout clients=\(clients) rounds=\(rounds) all-answered p50_ms=\(ms(percentile(roundTimes, 50))) p99_ms=\(ms(percentile(roundTimes, 99))) per-client p50_ms=\(ms(percentile(perClient, 50))) p99_ms=\(ms(percentile(perClient, 99)))"
              + " cpu-per-round client p50_ms=\(ms(percentile(clientCPU, 50)))"
              + (serverCPU.isEmpty ? "" : " server p50_ms=\(ms(percentile(serverCPU, 50)))"))
    }
}

/// One parked client, one change at a time: change → response latency.
struct Latency: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var changes = 1000
    @Option(help: "Pause between changes: a gap longer than the batching interval makes each change an isolated one.")
    var gapMs = 0

    func run() async throws {
        let client = Client(target: target)
        let (control, session) = try await client.loggedIn()
        let watcher = try await client.connect()
        let vm = try await client.ordinaryVMs(control, session)[0]
        var token = try await client.token(control, session, ["vm"])
        var samples: [Double] = []
        for i in 0..<changes {
            if gapMs > 0 { try await Task.sleep(for: .milliseconds(gapMs)) }
            let future = watcher.post("/", RPC.call("event.from", [.string(session), .array(["vm/\(vm)"]), .string(token), .double(30)]))
            try await Task.sleep(for: .milliseconds(2))
            let start = now()
            _ = try await client.call(control, "VM.set_name_label", [.string(session), .string(vm), .string("latency \(i)")])
            let response = try await future.get()
            samples.append(Double(response.completedAt - start))
            token = RPC.member("token", in: response.body) ?? token
        }
        print("latency changes=\(changes) gap_ms=\(gapMs) p50_ms=\(ms(percentile(samples, 50))) p99_ms=\(ms(percentile(samples, 99)))")
    }
}

/// The cost of an `event.from` whose token is one change old (median round trip).
struct FromCost: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var calls = 300
    @Option(help: "A second server (say with 10× the VMs): calls alternate between the two, so both see the same machine, and the ratio of their p50s is printed.")
    var comparePort: Int?

    /// One server's measured calls: each call's token comes from the one before, so every call
    /// is one change old. (Taking a fresh token with `event.from(..., "")` before each call
    /// scanned the whole change log, 10× larger at 100,000 VMs, and left the caches cold.)
    final class Probe {
        let client: Client
        let connection: Connection
        let session: String
        let vm: String
        var token: String
        var samples: [Double] = []

        init(_ target: Target) async throws {
            client = Client(target: target)
            (connection, session) = try await client.loggedIn()
            vm = try await client.ordinaryVMs(connection, session)[0]
            token = try await client.token(connection, session, ["vm/\(vm)"])
        }

        func measure(_ i: Int) async throws {
            _ = try await client.call(connection, "VM.set_name_label", [.string(session), .string(vm), .string("cost \(i)")])
            let start = now()
            let response = try await connection.post("/", RPC.call("event.from", [.string(session), .array(["vm"]), .string(token), .double(0)])).get()
            samples.append(Double(response.completedAt - start))
            guard RPC.isSuccess(response.body), let next = RPC.member("token", in: response.body) else {
                throw ValidationError("event.from failed: \(String(decoding: response.body.prefix(300), as: UTF8.self))")
            }
            token = next
        }

        var summary: String {
            "p50_us=\(String(format: "%.1f", percentile(samples, 50) / 1e3)) p99_us=\(String(format: "%.1f", percentile(samples, 99) / 1e3))"
        }
    }

    func run() async throws {
        let first = try await Probe(target)
        var second: Probe?
        if let comparePort {
            var other = target
            other.port = comparePort
            second = try await Probe(other)
        }
        for i in 0..<calls {
            try await first.measure(i)
            try await second?.measure(i)
        }
        guard let second else {
            print("from-cost calls=\(calls) \(first.summary)")
            return
        }
        let ratio = percentile(second.samples, 50) / percentile(first.samples, 50)
        print("from-cost calls=\(calls) port=\(target.port) \(first.summary) compare-port=\(second.client.target.port) \(second.summary) ratio=\(String(format: "%.2f", ratio))")
    }
}

/// 100,000 changes while a registered `event.next` reader never reads: the server's resident
/// size stays bounded, and the reader then gets EVENTS_LOST once.
struct Flood: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var changes = 100_000
    @Option var pid: Int32
    @Option var concurrency = 8

    func rss() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return -1 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0").map { $0 * 1024 } ?? -1
    }

    func run() async throws {
        let client = Client(target: target)
        let (reader, readerSession) = try await client.loggedIn()
        _ = try await client.call(reader, "event.register", [.string(readerSession), .array(["VM"])])
        let writers = try await (0..<concurrency).asyncMap { _ in try await client.connect() }
        let session = try await client.login(writers[0])
        let vms = try await client.ordinaryVMs(writers[0], session)
        let before = rss()
        var peak = before
        let perWriter = changes / concurrency
        let start = now()
        let rss = self.rss
        peak = try await withThrowingTaskGroup(of: Int.self) { group in
            for (w, connection) in writers.enumerated() {
                group.addTask {
                    for i in 0..<perWriter {
                        _ = try await client.call(connection, "VM.set_name_label",
                                                  [.string(session), .string(vms[(w + i) % vms.count]), .string("flood \(w) \(i)")])
                    }
                    return 0
                }
            }
            group.addTask {
                var highest = before
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    highest = max(highest, rss())
                }
                return highest
            }
            for _ in 0..<concurrency { _ = try await group.next() }
            group.cancelAll()
            return try await group.next() ?? before
        }
        let seconds = Double(now() - start) / 1e9
        let after = rss()
        let lost = try await reader.post("/", RPC.call("event.next", [.string(readerSession)])).get()
        let gotLost = String(decoding: lost.body, as: UTF8.self).contains("EVENTS_LOST")
        print("flood changes=\(perWriter * concurrency) seconds=\(String(format: "%.1f", seconds)) rss_before_mb=\(before >> 20) rss_peak_mb=\(peak >> 20) rss_after_mb=\(after >> 20) growth_mb=\((peak - before) >> 20) events_lost=\(gotLost)")
    }
}

/// A watcher looping on `event.from(["*"])` while writers change VMs as fast as they can:
/// how many responses and bytes the watcher receives, and how stale its view is. Run against
/// servers with different batching delays to choose the default.
struct WatchStorm: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var seconds = 5.0
    @Option var writers = 4

    func run() async throws {
        let client = Client(target: target)
        let (watcher, session) = try await client.loggedIn()
        let vms = try await client.ordinaryVMs(watcher, session)
        var token = try await client.token(watcher, session, ["*"])
        let connections = try await (0..<writers).asyncMap { _ in try await client.connect() }
        let deadline = now() + UInt64(seconds * 1e9)
        let written = try await withThrowingTaskGroup(of: Int.self) { group in
            for (w, connection) in connections.enumerated() {
                group.addTask {
                    var n = 0
                    while now() < deadline {
                        _ = try await client.call(connection, "VM.set_name_label",
                                                  [.string(session), .string(vms[(w + n) % vms.count]), .string("storm \(w) \(n)")])
                        n += 1
                    }
                    return n
                }
            }
            var responses = 0, bytes = 0, events = 0
            while now() < deadline {
                let response = try await watcher.post("/", RPC.call("event.from", [.string(session), .array(["*"]), .string(token), .double(1)])).get()
                responses += 1
                bytes += response.body.count
                let text = String(decoding: response.body, as: UTF8.self)
                events += text.components(separatedBy: "<name>operation</name>").count - 1
                token = RPC.member("token", in: response.body) ?? token
            }
            var total = 0
            for try await n in group { total += n }
            print("watch-storm seconds=\(seconds) writes=\(total) responses=\(responses) events=\(events) bytes_mb=\(String(format: "%.1f", Double(bytes) / 1e6)) writes_per_s=\(Int(Double(total) / seconds))")
            return total
        }
        _ = written
    }
}

extension Client {
    /// Halted ordinary VMs (not templates, not the control domain).
    func haltedVMs(_ c: Connection, _ session: String) async throws -> [String] {
        let body = try await call(c, "VM.get_all_where", [.string(session), .string(
            #"field "is_a_template" = "false" and field "is_control_domain" = "false" and field "power_state" = "Halted""#)])
        return RPC.refs(in: body)
    }

    func runningVMs(_ c: Connection, _ session: String) async throws -> [String] {
        let body = try await call(c, "VM.get_all_where", [.string(session), .string(
            #"field "is_control_domain" = "false" and field "power_state" = "Running""#)])
        return RPC.refs(in: body)
    }

    /// Waits for a task with `event.from` on the task alone (no polling); returns its status.
    func waitForTask(_ c: Connection, _ session: String, _ task: String) async throws -> String {
        var token = ""
        while true {
            let body = try await call(c, "event.from", [.string(session), .array(["task/\(task)"]), .string(token), .double(60)])
            let text = String(decoding: body, as: UTF8.self)
            if let statusRange = text.range(of: "<name>status</name><value>", options: .backwards) {
                let status = text[statusRange.upperBound...].prefix { $0 != "<" }
                if status != "pending" { return String(status) }
            }
            token = RPC.member("token", in: body) ?? token
        }
    }
}

/// `callers` clients start every halted VM with `Async.VM.start`, each following its task.
struct BootStorm: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var vms = 1000
    @Option var callers = 16

    func run() async throws {
        let client = Client(target: target)
        let (control, session) = try await client.loggedIn()
        let all = Array(try await client.haltedVMs(control, session).prefix(vms))
        let queue = WorkQueue(all)
        let start = now()
        let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<callers {
                group.addTask {
                    let c = try await client.connect()
                    var times: [Double] = []
                    while let vm = queue.next() {
                        let t0 = now()
                        let body = try await client.call(c, "Async.VM.start", [.string(session), .string(vm), .bool(false), .bool(false)])
                        guard let task = RPC.member("Value", in: body) else { throw ValidationError("no task") }
                        let status = try await client.waitForTask(c, session, task)
                        guard status == "success" else { throw ValidationError("start of \(vm) ended \(status)") }
                        times.append(Double(now() - t0))
                        _ = try await client.call(c, "task.destroy", [.string(session), .string(task)])
                    }
                    return times
                }
            }
            var all: [Double] = []
            for try await times in group { all += times }
            return all
        }
        let total = Double(now() - start) / 1e9
        print("boot-storm vms=\(samples.count) callers=\(callers) total_s=\(String(format: "%.2f", total)) per-vm p50_ms=\(ms(percentile(samples, 50))) p99_ms=\(ms(percentile(samples, 99))) starts_per_s=\(String(format: "%.1f", Double(samples.count) / total))")
    }
}

/// A cursor over work items shared by concurrent callers.
final class WorkQueue: Sendable {
    private let items: [String]
    private let index = Mutex(0)

    init(_ items: [String]) { self.items = items }

    func next() -> String? {
        index.withLock { index in
            guard index < items.count else { return nil }
            defer { index += 1 }
            return items[index]
        }
    }
}

/// The time of a synchronous `VM.start` (which ends with a barrier), `repeat` times on one VM.
struct StartLatency: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var repeats = 5
    @Option var label = ""

    func run() async throws {
        let client = Client(target: target)
        let (c, session) = try await client.loggedIn()
        guard let vm = try await client.haltedVMs(c, session).last else { throw ValidationError("no halted VM") }
        var samples: [Double] = []
        for _ in 0..<repeats {
            let t0 = now()
            _ = try await client.call(c, "VM.start", [.string(session), .string(vm), .bool(false), .bool(false)])
            samples.append(Double(now() - t0))
            _ = try await client.call(c, "VM.hard_shutdown", [.string(session), .string(vm)])
        }
        print("start-latency\(label.isEmpty ? "" : " [\(label)]") repeats=\(repeats) p50_ms=\(ms(percentile(samples, 50))) max_ms=\(ms(samples.max() ?? .nan)) each_ms=\(samples.map { String(format: "%.1f", $0 / 1e6) }.joined(separator: ","))")
    }
}

/// A guest agent's write (`data/updated` through the xenstore socket) → the `VM_guest_metrics`
/// mod reaching an `event.from` client, with `parked` other clients long-polling on VMs.
struct GuestEvents: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var xenstoreSocket: String
    @Option var writes = 1000
    @Option var parked = 200

    func run() async throws {
        let client = Client(target: target)
        let (control, session) = try await client.loggedIn()
        let running = try await client.runningVMs(control, session)
        guard !running.isEmpty else { throw ValidationError("no running VM") }
        var targets: [(domid: String, metrics: String)] = []
        for vm in running.prefix(64) {
            let domid = RPC.member("Value", in: try await client.call(control, "VM.get_domid", [.string(session), .string(vm)])) ?? ""
            let metrics = RPC.member("Value", in: try await client.call(control, "VM.get_guest_metrics", [.string(session), .string(vm)])) ?? ""
            if metrics != "OpaqueRef:NULL" { targets.append((domid, metrics)) }
        }
        guard !targets.isEmpty else { throw ValidationError("no VM has guest metrics yet") }
        // Background: long-polls on the VM class, which these writes must not wake.
        let vmToken = try await client.token(control, session, ["vm"])
        var background: [Connection] = []
        for _ in 0..<parked {
            let c = try await client.connect()
            _ = c.post("/", RPC.call("event.from", [.string(session), .array(["vm"]), .string(vmToken), .double(3600)]))
            background.append(c)
        }
        let writer = try XenstoreWriter(path: xenstoreSocket)
        let watcher = try await client.connect()
        var samples: [Double] = []
        for i in 0..<writes {
            let target = targets[i % targets.count]
            let token = try await client.token(watcher, session, ["vm_guest_metrics/\(target.metrics)"])
            let pending = watcher.post("/", RPC.call("event.from", [.string(session), .array(["vm_guest_metrics/\(target.metrics)"]),
                                                                   .string(token), .double(10)]))
            try await Task.sleep(for: .milliseconds(2))
            let t0 = now()
            try writer.write("/local/domain/\(target.domid)/data/updated", String(1_800_000_000 + i))
            let response = try await pending.get()
            guard String(decoding: response.body, as: UTF8.self).contains("<name>operation</name><value>mod</value>") else {
                throw ValidationError("no mod event for write \(i)")
            }
            samples.append(Double(response.completedAt - t0))
        }
        print("guest-events running=\(running.count) parked=\(parked) writes=\(writes) p50_ms=\(ms(percentile(samples, 50))) p99_ms=\(ms(percentile(samples, 99)))")
        for c in background { await c.close() }
    }
}

/// A storm of guest-agent writes: `data/updated` of every running VM in turn, `writes` in all,
/// through the server's xenstore socket — each one a watch firing, a check_state and a signal.
struct SignalStorm: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var xenstoreSocket: String
    @Option var writes = 100_000

    func run() async throws {
        let client = Client(target: target)
        let (c, session) = try await client.loggedIn()
        var domids: [String] = []
        for vm in try await client.runningVMs(c, session) {
            domids.append(RPC.member("Value", in: try await client.call(c, "VM.get_domid", [.string(session), .string(vm)])) ?? "")
        }
        guard !domids.isEmpty else { throw ValidationError("no running VM") }
        let writer = try XenstoreWriter(path: xenstoreSocket)
        let t0 = now()
        for i in 0..<writes {
            try writer.write("/local/domain/\(domids[i % domids.count])/data/updated", String(i))
        }
        let seconds = Double(now() - t0) / 1e9
        print("signal-storm vms=\(domids.count) writes=\(writes) seconds=\(String(format: "%.2f", seconds)) writes_per_s=\(Int(Double(writes) / seconds))")
    }
}

/// CA-87377 as the issue states it: `VM.start` of one VM while `writes` check_state signals for
/// the other running VMs are pending. Before each such start a burst of guest-agent writes
/// (`data/updated`, spread over every running VM) is pipelined through the xenstore socket and
/// all of it acknowledged, so xenstore has fired every watch and the signals sit in the
/// pipeline (xenops' checks, its Updates, xapi's events loop) when the start's barrier joins it.
///
/// Rounds alternate with a start on the quiet server (the same VMs running, nothing pending,
/// threads warmed by a start just before), so that the ratio compares starts seconds, not
/// minutes, apart on a machine whose speed drifts.
/// Quiet means the server used under 5 % of a CPU over 50 ms (`--pid`; else a 1 s pause).
struct BacklogStart: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var xenstoreSocket: String
    @Option var writes = 100_000
    @Option var repeats = 20
    @Option(help: "The server's pid, to wait until it is quiet before an idle start.")
    var pid: Int32?
    @Option(help: "The key written under each guest's domain path: data/updated is watched (a signal per write); an unwatched key gives the xenstore load without the signals.")
    var key = "data/updated"
    @Option(help: "How the start is spelt: VM.start, its alias VM_start, or Async.VM.start (then its task is followed to the end). All three must be foreground work of the PriorityGate.")
    var spelling = "VM.start"
    @Option var label = ""

    func run() async throws {
        let client = Client(target: target)
        let (c, session) = try await client.loggedIn()
        guard let vm = try await client.haltedVMs(c, session).last else { throw ValidationError("no halted VM") }
        guard ["VM.start", "VM_start", "Async.VM.start"].contains(spelling) else { throw ValidationError("unknown spelling \(spelling)") }
        var domids: [String] = []
        for other in try await client.runningVMs(c, session) {
            domids.append(RPC.member("Value", in: try await client.call(c, "VM.get_domid", [.string(session), .string(other)])) ?? "")
        }
        guard !domids.isEmpty else { throw ValidationError("no running VM") }
        let writer = try XenstoreWriter(path: xenstoreSocket)
        func timedStart() async throws -> Double {
            let t0 = now()
            let body = try await client.call(c, spelling, [.string(session), .string(vm), .bool(false), .bool(false)])
            if spelling.hasPrefix("Async.") {
                guard let task = RPC.member("Value", in: body) else { throw ValidationError("no task") }
                let status = try await client.waitForTask(c, session, task)
                guard status == "success" else { throw ValidationError("start ended \(status)") }
                _ = try await client.call(c, "task.destroy", [.string(session), .string(task)])
            }
            let elapsed = Double(now() - t0)
            _ = try await client.call(c, "VM.hard_shutdown", [.string(session), .string(vm)])
            return elapsed
        }
        var idle: [Double] = []
        var backlog: [Double] = []
        var burstSeconds: [Double] = []
        var quietWaits: [Double] = []
        for round in 0..<repeats {
            let q0 = now()
            try await waitUntilQuiet()
            quietWaits.append(Double(now() - q0) / 1e6)
            // A start after a quiet spell finds its threads parked and is slower than one
            // right after another; the backlog's start never is. The first warms up.
            _ = try await timedStart()
            idle.append(try await timedStart())
            let burst = (0..<writes).map { i in
                (path: "/local/domain/\(domids[i % domids.count])/\(key)", value: String(round * writes + i))
            }
            let b0 = now()
            try writer.pipelinedWrite(burst)
            burstSeconds.append(Double(now() - b0) / 1e9)
            backlog.append(try await timedStart())
        }
        let rate = Double(writes) / percentile(burstSeconds, 50)
        let ratio = percentile(backlog, 50) / percentile(idle, 50)
        print("backlog-start\(label.isEmpty ? "" : " [\(label)]") vms=\(domids.count) writes=\(writes) repeats=\(repeats) "
              + "burst_writes_per_s=\(Int(rate)) quiet_wait_p50_ms=\(Int(percentile(quietWaits, 50))) "
              + "idle_p50_ms=\(ms(percentile(idle, 50))) backlog_p50_ms=\(ms(percentile(backlog, 50))) "
              + "backlog_max_ms=\(ms(backlog.max() ?? .nan)) ratio=\(String(format: "%.2f", ratio))")
        print("  idle_each_ms=\(idle.map { String(format: "%.1f", $0 / 1e6) }.joined(separator: ","))")
        print("  backlog_each_ms=\(backlog.map { String(format: "%.1f", $0 / 1e6) }.joined(separator: ","))")
    }

    private func waitUntilQuiet() async throws {
        guard let pid else {
            try await Task.sleep(for: .seconds(1))
            return
        }
        var before = processCPU(pid)
        for _ in 0..<200 {  // 10 s at most
            try await Task.sleep(for: .milliseconds(50))
            let after = processCPU(pid)
            if after - before < 2_500_000 { return }
            before = after
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// Sequential `VM.get_record` calls on one connection, rotating over the running VMs: the
/// latency of a read while something else (a `signal-storm` in another process) drives
/// persisted writes. With `--durable-wait all` each read waits out their group commit.
struct RecordLatency: AsyncParsableCommand {
    @OptionGroup var target: Target
    @Option var reads = 2000
    @Option var label = ""

    func run() async throws {
        let client = Client(target: target)
        let (c, session) = try await client.loggedIn()
        let vms = try await client.runningVMs(c, session)
        guard !vms.isEmpty else { throw ValidationError("no running VM") }
        var samples: [Double] = []
        samples.reserveCapacity(reads)
        for i in 0..<reads {
            let t0 = now()
            _ = try await client.call(c, "VM.get_record", [.string(session), .string(vms[i % vms.count])])
            samples.append(Double(now() - t0))
        }
        print("record-latency\(label.isEmpty ? "" : " [\(label)]") reads=\(reads) vms=\(vms.count) "
              + "p50_ms=\(ms(percentile(samples, 50))) p99_ms=\(ms(percentile(samples, 99))) max_ms=\(ms(samples.max() ?? .nan))")
    }
}
