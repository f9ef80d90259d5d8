import Xenops

/// Which lane of the parallel events loop a signal or a barrier wake-up joins: one per VM (a
/// VM's devices share its lane, so they are applied in order with it), one per xenops task, one
/// per barrier whose VM is unknown, and one for the rest.
enum LaneKey: Sendable, Hashable, CustomStringConvertible {
    case vm(String)
    case task(String)
    case barrier(Int)
    case other

    init(for id: Dynamic) {
        if let vm = id.vm {
            self = .vm(vm)
        } else if case .task(let task) = id {
            self = .task(task)
        } else {
            self = .other
        }
    }

    /// A task's lane is served first: an API call waits on its task's progress.
    var isTask: Bool {
        if case .task = self { true } else { false }
    }

    var description: String {
        switch self {
        case .vm(let uuid): "vm:\(uuid)"
        case .task(let id): "task:\(id)"
        case .barrier(let id): "barrier:\(id)"
        case .other: "other"
        }
    }
}
