// xenops-bench: figures for BENCHMARKS.md (build with -c release; bench/xenops/run.sh runs it).
//
//   xenops-bench updates [--entries 100000] [--changes 10] [--rounds 200000]
//       Updates.get cost with a large table and few changes since the token, against a table
//       holding only those few entries, and against xenopsd's algorithm (scan and sort the
//       whole map) on the same data.
//   xenops-bench signals [--vms 1000] [--duration 20] [--sample 5]
//       1,000 running simulated VMs whose guest agents write as fast as they can: watch
//       events, internal and external Updates signals per second, and the Updates table's
//       memory sampled over the run (plus the process RSS).

#if canImport(Glibc)
import Glibc
#endif
import Logging
import Simulator
import Synchronization
import Xenops
import Xenstore

// MARK: arguments

func option(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count,
          let value = Int(arguments[index + 1]) else { return fallback }
    return value
}

/// One line straight to standard output, so rows appear as they are measured even into a file.
func emit(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        offset += written
    }
}

func seconds(_ duration: Duration) -> Double {
    let (s, attoseconds) = duration.components
    return Double(s) + Double(attoseconds) / 1e18
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

func fixed(_ value: Double, _ decimals: Int) -> String {
    if decimals == 0 { return value.isFinite ? String(Int(value.rounded())) : "-" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let have = text.distance(from: dot, to: text.endIndex) - 1
        if have < decimals { text += String(repeating: "0", count: decimals - have) }
    } else if decimals > 0 {
        text += "." + String(repeating: "0", count: decimals)
    }
    return text
}

/// Resident set size in MiB, from /proc/self/statm.
func residentMiB() -> Double {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0 else { return 0 }
    let fields = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return Double(pages * Int(sysconf(Int32(_SC_PAGESIZE)))) / 1_048_576
}

func quietLogger() -> Logger {
    var logger = Logger(label: "xenops-bench")
    logger.logLevel = .error
    return logger
}

// MARK: Updates.get

/// xenopsd's `get` on the same data: partition the whole map by stamp, then sort the newer part.
func scanAndSort(_ stamps: [Dynamic: Int], after from: Int) -> [Dynamic] {
    stamps.filter { $0.value > from }.sorted { $0.value < $1.value }.map(\.key)
}

func benchUpdates() async {
    let entries = option("entries", 100_000)
    let changes = option("changes", 10)
    let rounds = option("rounds", 200_000)

    // Large table: `entries` ids, then `changes` of them changed again after the token.
    let large = Updates(logger: quietLogger())
    for i in 0..<entries { large.add(.vm("vm-\(i)")) }
    let token = large.lastID
    for i in 0..<changes { large.add(.vm("vm-\(i * (entries / changes))")) }
    // Small table: only `changes` entries in all.
    let small = Updates(logger: quietLogger())
    for i in 0..<changes { small.add(.vm("vm-\(i)")) }

    func measure(_ table: Updates, from: Int) async -> (perCall: Double, returned: Int) {
        var returned = 0
        for _ in 0..<1000 { returned = await table.get(from: from, timeout: .zero).updates.count }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<rounds { returned &+= await table.get(from: from, timeout: .zero).updates.count }
        return (seconds(clock.now - start) / Double(rounds) * 1e9, returned / (rounds + 1))
    }

    let big = await measure(large, from: token)
    let tiny = await measure(small, from: 0)

    // The baseline: xenopsd's algorithm over the same 100,000-entry map.
    var map: [Dynamic: Int] = [:]
    for entry in large.dump().updates { map[entry.id] = entry.stamp }
    let baselineRounds = max(20, rounds / 2000)
    let clock = ContinuousClock()
    var sink = 0
    let start = clock.now
    for _ in 0..<baselineRounds { sink &+= scanAndSort(map, after: token).count }
    let baseline = seconds(clock.now - start) / Double(baselineRounds) * 1e9

    emit("## Updates.get: \(entries) entries, \(changes) changed since the token")
    emit("")
    emit("| table | entries | returned | ns per get |")
    emit("| --- | ---: | ---: | ---: |")
    emit("| small (only the changes) | \(changes) | \(tiny.returned) | \(fixed(tiny.perCall, 0)) |")
    emit("| large | \(entries) | \(big.returned) | \(fixed(big.perCall, 0)) |")
    emit("| large, xenopsd's scan-and-sort (baseline) | \(entries) | \(sink / baselineRounds) | \(fixed(baseline, 0)) |")
    emit("")
    emit("large / small = \(fixed(big.perCall / tiny.perCall, 2)) (target ≤ 2); "
        + "scan-and-sort / ours = \(fixed(baseline / big.perCall, 0))×")
}

// MARK: signal throughput

func benchSignals() async throws {
    let vms = option("vms", 1000)
    let duration = option("duration", 20)
    let sampleEvery = option("sample", 5)

    let store = XenstoreDaemon(logger: quietLogger())
    var timings = SimulatedHypervisor.Configuration()
    timings.agentSchedule = .once
    let simulator = SimulatedHypervisor(store: store, configuration: timings, logger: quietLogger())
    let xenops = Xenops(store: store, hypervisor: simulator, logger: quietLogger())
    let running = Task { try await xenops.run() }
    await xenops.waitUntilRunning()

    // Boot the VMs (xapi's sequence: start, then unpause queued behind it).
    let clock = ContinuousClock()
    let bootStart = clock.now
    let uuids = (0..<vms).map { i -> String in
        let hex = String(i, radix: 16)
        return "bench000-0000-0000-0000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }
    var pending: [String] = []
    for uuid in uuids {
        xenops.vm.importMetadata(VMMetadata(
            vm: VMConfig(id: uuid, name: uuid, kind: .pv, memoryStaticMax: 512 << 20, vcpuMax: 1),
            vbds: [VBDConfig(id: DeviceID(vm: uuid, device: "xvda"), backend: .vdi("sr/\(uuid)"))],
            vifs: [VIFConfig(id: DeviceID(vm: uuid, device: "0"))]))
        pending.append(xenops.vm.start(uuid))
        pending.append(xenops.vm.unpause(uuid))
    }
    var failures = 0
    for task in pending {
        if let record = await xenops.task.wait(task), case .completed = record.state {} else { failures += 1 }
        try? xenops.task.destroy(task)
    }
    let bootTime = seconds(clock.now - bootStart)
    let runningCount = xenops.vm.list().filter { $0.state.powerState == .running }.count
    emit("## Signal throughput: \(vms) running simulated VMs, guest agents writing continuously")
    emit("")
    emit("boot: \(runningCount) running (\(failures) failed tasks) in \(fixed(bootTime, 1)) s")

    // A reader like xapi's events loop: takes each batch, counts ids, moves its token on.
    let consumed = ConsumerCounters()
    let reader = Task {
        var token: Int? = xenops.updates.lastID
        while !Task.isCancelled {
            let batch = await xenops.updates.get(from: token, timeout: .seconds(5))
            consumed.note(batch.updates.count)
            token = batch.next
        }
    }

    for uuid in uuids { simulator.setAgentSchedule(vm: uuid, .continuous) }
    let startStats = xenops.statistics
    let startCycles = simulator.agentCycles
    let startConsumed = consumed.ids
    let runStart = clock.now
    emit("")
    emit("| t (s) | agent writes/s | watch events/s | internal signals/s | VM checks run/s | Updates signals/s | "
        + "ids read/s | Updates entries | Updates bytes | RSS MiB |")
    emit("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    var previous = (stats: startStats, cycles: startCycles, consumed: consumed.ids, at: runStart)
    var samples: [(entries: Int, bytes: Int, rss: Double)] = []
    while clock.now - runStart < .seconds(duration) {
        try await Task.sleep(for: .seconds(sampleEvery))
        let now = clock.now
        let stats = xenops.statistics
        let cycles = simulator.agentCycles
        let ids = consumed.ids
        let span = seconds(now - previous.at)
        func rate(_ a: Int, _ b: Int) -> String { fixed(Double(a - b) / span, 0) }
        let checks = (stats.operationsQueued - stats.operationsCoalesced) - (previous.stats.operationsQueued - previous.stats.operationsCoalesced)
        let rss = residentMiB()
        samples.append((stats.updates.entries, stats.updates.approximateBytes, rss))
        emit("| \(fixed(seconds(now - runStart), 0)) | \(rate(cycles, previous.cycles)) | "
            + "\(rate(stats.watchEvents, previous.stats.watchEvents)) | "
            + "\(rate(stats.internalUpdates.adds, previous.stats.internalUpdates.adds)) | "
            + "\(fixed(Double(checks) / span, 0)) | \(rate(stats.updates.adds, previous.stats.updates.adds)) | "
            + "\(rate(ids, previous.consumed)) | \(stats.updates.entries) | \(stats.updates.approximateBytes) | \(fixed(rss, 0)) |")
        previous = (stats, cycles, ids, now)
    }
    let total = seconds(clock.now - runStart)
    let end = xenops.statistics
    emit("")
    emit("over \(fixed(total, 0)) s: agent writes \(fixed(Double(simulator.agentCycles - startCycles) / total, 0))/s, "
        + "watch events \(fixed(Double(end.watchEvents - startStats.watchEvents) / total, 0))/s, "
        + "Updates signals \(fixed(Double(end.updates.adds - startStats.updates.adds) / total, 0))/s, "
        + "ids read by the reader \(fixed(Double(consumed.ids - startConsumed) / total, 0))/s in "
        + "\(consumed.batches) batches")
    if let first = samples.first, let last = samples.last {
        emit("Updates table: \(first.entries) → \(last.entries) entries, \(first.bytes) → \(last.bytes) bytes; "
            + "RSS \(fixed(first.rss, 0)) → \(fixed(last.rss, 0)) MiB")
    }
    reader.cancel()
    running.cancel()
    _ = await reader.value
    _ = try? await running.value
}

/// What the reader saw.
final class ConsumerCounters: Sendable {
    private let counts = Mutex((ids: 0, batches: 0))

    func note(_ count: Int) {
        counts.withLock {
            $0.ids += count
            $0.batches += 1
        }
    }

    var ids: Int { counts.withLock { $0.ids } }
    var batches: Int { counts.withLock { $0.batches } }
}

@main
enum XenopsBench {
    static func main() async throws {
        switch CommandLine.arguments.dropFirst().first ?? "updates" {
        case "updates": await benchUpdates()
        case "signals": try await benchSignals()
        default:
            emit("usage: xenops-bench updates|signals [options]")
            exit(2)
        }
    }
}
