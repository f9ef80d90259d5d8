import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `xapi-server diagnostics`: prints the running server's diagnostics document (the Xenops
/// queues, workers, updates and tasks, like `xenops-cli diagnostics`), fetched from
/// `GET /diagnostics`.
struct DiagnosticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diagnostics", abstract: "Print a running server's diagnostics JSON.")

    @Option(help: "Address of the server.")
    var host = "127.0.0.1"

    @Option(help: "Port of the server.")
    var port = 8080

    mutating func run() async throws {
        guard let url = URL(string: "http://\(host):\(port)/diagnostics") else { throw ValidationError("bad address") }
        let (data, response) = try await URLSession.shared.data(from: url)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw ValidationError("the server answered \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
