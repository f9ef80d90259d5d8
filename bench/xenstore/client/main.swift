// Benchmark client for xenstore servers: the same raw-socket client measures every server in
// the same run, so our xenstored and Debian's C xenstored are compared like for like.
//
//   xenstore-bench --server ours=/tmp/a/socket --server c=/tmp/b/socket [--rounds 3]
//
// Measures, per server: sequential WRITE+READ round trips (one request in flight), pipelined
// WRITE/READ with 64 requests in flight, and watch latency (WRITE on one connection until the
// WATCH_EVENT arrives on another). Prints medians over rounds and, with two or more servers,
// each server's ratio to the last one given (the baseline).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum BenchError: Error { case connect(String), io(String), protocolError(String) }

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func frame(_ type: UInt32, _ payload: [UInt8], requestID: UInt32 = 0) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(16 + payload.count)
    for value in [type, requestID, 0, UInt32(payload.count)] {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    bytes.append(contentsOf: payload)
    return bytes
}

func writeRequest(_ path: String, _ value: String) -> [UInt8] { frame(11, Array(path.utf8) + [0] + Array(value.utf8)) }
func readRequest(_ path: String) -> [UInt8] { frame(2, Array(path.utf8) + [0]) }

/// A blocking unix-socket connection with a small frame reader.
final class Connection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError.connect("socket()") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw BenchError.connect("path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw BenchError.connect("connect(\(path)) errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { throw BenchError.io("write errno \(errno)") }
            offset += written
        }
    }

    /// Reads once from the socket (blocking), appending to the buffer.
    func fill() throws {
        if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, 65536) }
        guard count > 0 else { throw BenchError.io("read returned \(count), errno \(errno)") }
        buffer.append(contentsOf: chunk[0..<count])
    }

    /// The next complete frame already buffered, if any: (type, payload).
    func nextBuffered() -> (UInt32, ArraySlice<UInt8>)? {
        guard buffer.count - start >= 16 else { return nil }
        func word(_ at: Int) -> UInt32 {
            UInt32(buffer[at]) | UInt32(buffer[at + 1]) << 8 | UInt32(buffer[at + 2]) << 16 | UInt32(buffer[at + 3]) << 24
        }
        let type = word(start)
        let length = Int(word(start + 12))
        guard buffer.count - start >= 16 + length else { return nil }
        let payload = buffer[(start + 16)..<(start + 16 + length)]
        start += 16 + length
        return (type, payload)
    }

    func next() throws -> (UInt32, ArraySlice<UInt8>) {
        while true {
            if let message = nextBuffered() { return message }
            try fill()
        }
    }

    /// Next reply, skipping watch events; fails on ERROR.
    func reply() throws -> ArraySlice<UInt8> {
        while true {
            let (type, payload) = try next()
            if type == 15 { continue }
            if type == 16 { throw BenchError.protocolError(String(decoding: payload, as: UTF8.self)) }
            return payload
        }
    }
}

struct Figures {
    var sequential: Double = 0
    var roundTripP50: Double = 0
    var pipelined: Double = 0
    var watchP50: Double = 0
    var watchP99: Double = 0
}

func sequential(_ path: String, operations: Int, verbose: Bool) throws -> (Double, Double) {
    let connection = try Connection(path: path)
    let writes = (0..<100).map { writeRequest("/bench/seq/k\($0)", "value-\($0)") }
    let reads = (0..<100).map { readRequest("/bench/seq/k\($0)") }
    for index in 0..<200 {  // warm-up
        try connection.send(writes[index % 100]); _ = try connection.reply()
    }
    var latencies: [UInt64] = []
    latencies.reserveCapacity(operations)
    let start = now()
    for index in 0..<(operations / 2) {
        var sent = now()
        try connection.send(writes[index % 100]); _ = try connection.reply()
        var done = now()
        latencies.append(done - sent)
        sent = done
        try connection.send(reads[index % 100]); _ = try connection.reply()
        done = now()
        latencies.append(done - sent)
    }
    let rate = Double(operations / 2 * 2) / (Double(now() - start) / 1e9)
    latencies.sort()
    let p90 = Double(latencies[latencies.count * 9 / 10]) / 1000
    let p99 = Double(latencies[latencies.count * 99 / 100]) / 1000
    let mean = Double(latencies.reduce(0, +)) / Double(latencies.count) / 1000
    if verbose { print("  sequential round trip: p50 \(Double(latencies[latencies.count / 2]) / 1000) p90 \(p90) p99 \(p99) mean \(mean) µs") }
    return (rate, Double(latencies[latencies.count / 2]) / 1000)
}

func pipelined(_ path: String, operations: Int, window: Int = 64) throws -> Double {
    let connection = try Connection(path: path)
    let requests = (0..<128).map { index in
        index % 2 == 0 ? writeRequest("/bench/pipe/k\(index / 2)", "value-\(index)") : readRequest("/bench/pipe/k\(index / 2)")
    }
    // Seed the keys so every READ succeeds.
    for index in stride(from: 0, to: 128, by: 2) { try connection.send(requests[index]); _ = try connection.reply() }
    var sent = 0
    var received = 0
    var batch: [UInt8] = []
    let start = now()
    for _ in 0..<window {
        batch.append(contentsOf: requests[sent % 128])
        sent += 1
    }
    try connection.send(batch)
    while received < operations {
        try connection.fill()
        var fresh = 0
        while let (type, payload) = connection.nextBuffered() {
            if type == 15 { continue }
            if type == 16 { throw BenchError.protocolError(String(decoding: payload, as: UTF8.self)) }
            fresh += 1
        }
        received += fresh
        batch.removeAll(keepingCapacity: true)
        while fresh > 0 && sent < operations {
            batch.append(contentsOf: requests[sent % 128])
            sent += 1
            fresh -= 1
        }
        if !batch.isEmpty { try connection.send(batch) }
    }
    return Double(operations) / (Double(now() - start) / 1e9)
}

func watchLatency(_ path: String, samples: Int, verbose: Bool) throws -> (Double, Double) {
    let watcher = try Connection(path: path)
    let writer = try Connection(path: path)
    try writer.send(writeRequest("/bench/watch", "")); _ = try writer.reply()
    try watcher.send(frame(4, Array("/bench/watch\0tok\0".utf8)))
    var sawAck = false
    var sawInitial = false
    while !(sawAck && sawInitial) {
        let (type, _) = try watcher.next()
        if type == 15 { sawInitial = true } else if type == 4 { sawAck = true } else { throw BenchError.protocolError("watch") }
    }
    let write = writeRequest("/bench/watch/x", "v")
    var latencies: [UInt64] = []
    latencies.reserveCapacity(samples)
    for index in 0..<(samples + 200) {
        let start = now()
        try writer.send(write)
        while true {
            let (type, _) = try watcher.next()
            if type == 15 { break }
        }
        let elapsed = now() - start
        _ = try writer.reply()
        if index >= 200 { latencies.append(elapsed) }  // first 200 are warm-up
        if verbose && elapsed > 1_000_000 { print("  watch outlier \(elapsed / 1000) µs at \(start / 1_000_000 % 100_000) ms") }
    }
    latencies.sort()
    func percentile(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000 }
    return (percentile(0.5), percentile(0.99))
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

// MARK: main

var servers: [(name: String, path: String)] = []
var rounds = 3
var sequentialOps = 40_000
var pipelinedOps = 400_000
var watchSamples = 5_000
var verbose = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--server":
        guard let spec = arguments.popFirst(), let equals = spec.firstIndex(of: "=") else { fatalError("--server NAME=PATH") }
        servers.append((String(spec[..<equals]), String(spec[spec.index(after: equals)...])))
    case "--rounds": rounds = Int(arguments.popFirst() ?? "") ?? rounds
    case "--sequential-ops": sequentialOps = Int(arguments.popFirst() ?? "") ?? sequentialOps
    case "--pipelined-ops": pipelinedOps = Int(arguments.popFirst() ?? "") ?? pipelinedOps
    case "--watch-samples": watchSamples = Int(arguments.popFirst() ?? "") ?? watchSamples
    case "--verbose": verbose = true
    default: fatalError("unknown argument \(argument)")
    }
}
guard !servers.isEmpty else { fatalError("usage: xenstore-bench --server NAME=PATH [--server NAME=PATH] [--rounds N]") }

var samples = [[Figures]](repeating: [], count: servers.count)
do {
    for round in 1...rounds {
        // Alternate which server goes first so neither always runs on a warmer machine.
        let order = round % 2 == 1 ? Array(servers.indices) : Array(servers.indices.reversed())
        for index in order {
            let path = servers[index].path
            var figures = Figures()
            (figures.sequential, figures.roundTripP50) = try sequential(path, operations: sequentialOps, verbose: verbose)
            figures.pipelined = try pipelined(path, operations: pipelinedOps)
            (figures.watchP50, figures.watchP99) = try watchLatency(path, samples: watchSamples, verbose: verbose)
            samples[index].append(figures)
            print(
                "round \(round) \(servers[index].name): seq \(Int(figures.sequential)) ops/s (p50 \(figures.roundTripP50) µs), "
                    + "pipelined \(Int(figures.pipelined)) ops/s, watch p50 \(figures.watchP50) µs p99 \(figures.watchP99) µs")
        }
    }
} catch {
    print("benchmark failed: \(error)")
    exit(1)
}

func format(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return decimals == 0 ? String(Int(rounded)) : String(rounded)
}

let metrics: [(String, (Figures) -> Double, Int, Bool)] = [
    ("sequential WRITE+READ round trips (ops/s)", { $0.sequential }, 0, true),
    ("sequential round trip p50 (µs)", { $0.roundTripP50 }, 1, false),
    ("pipelined, 64 in flight (ops/s)", { $0.pipelined }, 0, true),
    ("watch latency p50 (µs)", { $0.watchP50 }, 1, false),
    ("watch latency p99 (µs)", { $0.watchP99 }, 1, false),
]
let baseline = servers.count - 1
var header = "| metric (median of \(rounds) rounds) |"
for server in servers { header += " \(server.name) |" }
if servers.count > 1 { for server in servers.dropLast() { header += " \(server.name) / \(servers[baseline].name) |" } }
print("")
print(header)
print("|" + String(repeating: " --- |", count: 1 + servers.count + max(0, servers.count - 1)))
for (name, extract, decimals, _) in metrics {
    let medians = samples.map { median($0.map(extract)) }
    var line = "| \(name) |"
    for value in medians { line += " \(format(value, decimals)) |" }
    if servers.count > 1 {
        for value in medians.dropLast() { line += " \(format(value / medians[baseline], 2))× |" }
    }
    print(line)
}
