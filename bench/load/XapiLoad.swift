import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// Load generator for the event and end-to-end benchmarks: raw XML-RPC over keep-alive
/// connections on one NIO event loop, so the client adds microseconds, not the milliseconds a
/// Python client would spend parsing responses.
@main
struct XapiLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xapi-load",
        subcommands: [Fanout.self, Latency.self, FromCost.self, Flood.self, WatchStorm.self])
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

    func run() async throws {
        let client = Client(target: target)
        let control = try await client.connect()
        let session = try await client.login(control)
        let vm = try await client.ordinaryVMs(control, session)[0]
        var token = try await client.token(control, session, ["vm"])
        var connections: [Connection] = []
        for _ in 0..<clients { connections.append(try await client.connect()) }
        var roundTimes: [Double] = []
        var perClient: [Double] = []
        for round in 0..<rounds {
            let request = RPC.call("event.from", [.string(session), .array(["vm"]), .string(token), .double(30)])
            let futures = connections.map { $0.post("/", request) }
            try await Task.sleep(for: .milliseconds(clients >= 500 ? 1500 : 300))   // let every call park
            let start = now()
            _ = try await client.call(control, "VM.set_name_label", [.string(session), .string(vm), .string("fanout \(round)")])
            // Wait for all before looking at any, so the client stays idle while answers arrive.
            let responses = try await EventLoopFuture.whenAllSucceed(futures, on: futures[0].eventLoop).get()
            var last: UInt64 = 0
            for response in responses {
                guard response.status == 200 else { throw ValidationError("event.from failed") }
                perClient.append(Double(response.completedAt - start))
                last = max(last, response.completedAt)
            }
            guard RPC.isSuccess(responses[0].body), let next = RPC.member("token", in: responses[0].body) else {
                throw ValidationError("event.from failed: \(String(decoding: responses[0].body.prefix(300), as: UTF8.self))")
            }
            token = next
            roundTimes.append(Double(last - start))
        }
        print("fanout clients=\(clients) rounds=\(rounds) all-answered p50_ms=\(ms(percentile(roundTimes, 50))) p99_ms=\(ms(percentile(roundTimes, 99))) per-client p50_ms=\(ms(percentile(perClient, 50))) p99_ms=\(ms(percentile(perClient, 99)))")
        for c in connections { await c.close() }
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
        let control = try await client.connect()
        let watcher = try await client.connect()
        let session = try await client.login(control)
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

    func run() async throws {
        let client = Client(target: target)
        let c = try await client.connect()
        let session = try await client.login(c)
        let vm = try await client.ordinaryVMs(c, session)[0]
        var samples: [Double] = []
        for i in 0..<calls {
            let token = try await client.token(c, session, ["vm/\(vm)"])
            _ = try await client.call(c, "VM.set_name_label", [.string(session), .string(vm), .string("cost \(i)")])
            let start = now()
            let response = try await c.post("/", RPC.call("event.from", [.string(session), .array(["vm"]), .string(token), .double(0)])).get()
            samples.append(Double(response.completedAt - start))
        }
        print("from-cost calls=\(calls) p50_us=\(String(format: "%.1f", percentile(samples, 50) / 1e3)) p99_us=\(String(format: "%.1f", percentile(samples, 99) / 1e3))")
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
        let reader = try await client.connect()
        let readerSession = try await client.login(reader)
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
        let watcher = try await client.connect()
        let session = try await client.login(watcher)
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

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
