import XapiDB
import Xenops

/// The VM messages this server implements beyond the accessors derived from the datamodel:
/// one place per message. Power operations are foreground work from arrival to barrier.
enum VMMessages {
    static let table = ClassHandlers("VM", foreground: [
        "start", "start_on", "clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot", "hard_reboot",
        "suspend", "resume", "resume_on", "pause", "unpause", "power_state_reset",
    ], [
        "create": VMHandlers.create,
        "destroy": VMHandlers.destroy,
        "clone": { call in try await VMCopies.copyVM(call, mode: .clone, newName: call.string(1), targetSR: nil) },
        "copy": { call in
            let sr = call.string(2)
            return try await VMCopies.copyVM(call, mode: .copy, newName: call.string(1), targetSR: sr == nullRef ? nil : sr)
        },
        "snapshot": { call in
            try await VMCopies.copyVM(call, mode: .snapshot(ignoring: Set(call.args[2].refList)), newName: call.string(1), targetSR: nil)
        },
        "provision": VMCopies.provision,

        "start": { call in try await Lifecycle.start(call, operation: "start", paused: call.bool(1), force: call.bool(2)) },
        "start_on": { call in
            try Lifecycle.assertLocalHost(call, call.string(1))
            return try await Lifecycle.start(call, operation: "start_on", paused: call.bool(2), force: call.bool(3))
        },
        "clean_shutdown": { call in try await Lifecycle.shutdown(call, operation: "clean_shutdown", clean: true) },
        "hard_shutdown": { call in try await Lifecycle.shutdown(call, operation: "hard_shutdown", clean: false) },
        "shutdown": { call in try await Lifecycle.shutdown(call, operation: "shutdown", clean: nil) },
        "clean_reboot": { call in try await Lifecycle.reboot(call, operation: "clean_reboot", clean: true) },
        "hard_reboot": { call in try await Lifecycle.reboot(call, operation: "hard_reboot", clean: false) },
        "suspend": Lifecycle.suspend,
        "resume": { call in try await Lifecycle.resume(call, operation: "resume", paused: call.bool(1), force: call.bool(2)) },
        "resume_on": { call in
            try Lifecycle.assertLocalHost(call, call.string(1))
            return try await Lifecycle.resume(call, operation: "resume_on", paused: call.bool(2), force: call.bool(3))
        },
        "pause": { call in try await Lifecycle.simple(call, operation: "pause") { $0.vm.pause($1) } },
        "unpause": { call in try await Lifecycle.simple(call, operation: "unpause") { $0.vm.unpause($1) } },
        "power_state_reset": Lifecycle.powerStateReset,
    ])
}
