import Foundation
import Logging
import Synchronization
import Testing
@testable import Xenops
import Xenstore

/// A log handler that lets a test wait for a message (the socket server says when it listens).
struct SignallingLogHandler: LogHandler {
    final class Signal: Sendable {
        private let state = Mutex<(seen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func fire() {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.seen = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let seen = state.withLock { state -> Bool in
                    if state.seen { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if seen { continuation.resume() }
            }
        }
    }

    let needle: String
    let signal: Signal
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.message.description.contains(needle) { signal.fire() }
    }
}

/// The device state is visible from outside, with Xen's own tools.
@Suite(.timeLimit(.minutes(1))) struct ExternalToolsTests {
    static let xenstoreLs = "/usr/bin/xenstore-ls"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: xenstoreLs), "needs Debian's xenstore-utils"))
    func xenstoreLsShowsARunningVMsBackendsConnected() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "66666666-0000-0000-0000-000000000001"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readWrite, .disk), ("xvdb", .readOnly, .disk)], vifs: 1))
        let domid = try #require(await h.startRunning(uuid))
        for path in ["vbd/\(domid)/51712", "vbd/\(domid)/51728", "vif/\(domid)/0"] {
            #expect(await h.waitForValue("/local/domain/0/backend/\(path)/state", "4"))
        }

        let socket = "/tmp/xenops-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listening = SignallingLogHandler.Signal()
        let logger = Logger(label: "socket") { _ in SignallingLogHandler(needle: "listening", signal: listening) }
        let server = XenstoreSocketServer(daemon: h.store, socketPath: socket, logger: logger)
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        await listening.wait()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.xenstoreLs)
        process.arguments = ["/local/domain/0/backend"]
        process.environment = ["XENSTORED_PATH": socket]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")

        // xenstore-ls indents one space per level: find each device's own `state` line.
        let lines = text.split(separator: "\n").map(String.init)
        func state(of path: [String]) -> String? {
            var depth = 0
            var index = 0
            for line in lines {
                let indent = line.prefix { $0 == " " }.count
                let entry = line.dropFirst(indent)
                guard indent == depth else { continue }
                if index < path.count, entry.hasPrefix("\(path[index]) =") {
                    index += 1
                    depth += 1
                } else if index == path.count, entry.hasPrefix("state =") {
                    return String(entry.dropFirst("state = ".count))
                }
            }
            return nil
        }
        #expect(state(of: ["vbd", String(domid), "51712"]) == "\"4\"", "\(text)")
        #expect(state(of: ["vbd", String(domid), "51728"]) == "\"4\"", "\(text)")
        #expect(state(of: ["vif", String(domid), "0"]) == "\"4\"", "\(text)")
        #expect(text.contains("hotplug-status = \"connected\""))
    }
}
