import ArgumentParser
import Xapi

/// `xapi-server api-coverage`: per class, the messages this server implements and those that
/// answer NOT_IMPLEMENTED (what `scripts/api-coverage` prints; the README shows `--summary`).
struct CoverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-coverage", abstract: "List, per class, the XenAPI messages implemented and not implemented.")

    @Flag(help: "Only a Markdown table of counts per class, with the totals.")
    var summary = false

    @Option(name: .customLong("class"), help: "Only this class.")
    var className: String?

    func run() {
        let classes = APICoverage.compute().filter { className == nil || $0.className == className }
        if summary {
            printSummary(classes)
            return
        }
        for c in classes {
            print("\(c.className): \(c.implemented.count) implemented, \(c.notImplemented.count) NOT_IMPLEMENTED"
                  + (c.removed.isEmpty ? "" : ", \(c.removed.count) removed"))
            if !c.implemented.isEmpty { print("  implemented:     " + c.implemented.joined(separator: " ")) }
            if !c.notImplemented.isEmpty { print("  NOT_IMPLEMENTED: " + c.notImplemented.joined(separator: " ")) }
        }
    }

    private func printSummary(_ classes: [APICoverage.ClassCoverage]) {
        let implemented = classes.reduce(0) { $0 + $1.implemented.count }
        let missing = classes.reduce(0) { $0 + $1.notImplemented.count }
        let complete = classes.filter { $0.notImplemented.isEmpty }.count
        print("\(implemented) of \(implemented + missing) messages implemented "
              + "(\(percent(implemented, implemented + missing))); \(complete) of \(classes.count) classes complete.")
        print("")
        print("| class | implemented | NOT_IMPLEMENTED |")
        print("|---|---:|---:|")
        for c in classes.sorted(by: { ($0.notImplemented.count, $0.className) > ($1.notImplemented.count, $1.className) })
        where !c.notImplemented.isEmpty {
            print("| \(c.className) | \(c.implemented.count) | \(c.notImplemented.count) |")
        }
        print("| (\(complete) classes with every message implemented) | | 0 |")
    }

    private func percent(_ part: Int, _ whole: Int) -> String {
        whole == 0 ? "0%" : "\(part * 100 / whole)%"
    }
}
