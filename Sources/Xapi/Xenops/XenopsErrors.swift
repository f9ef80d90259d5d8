import XapiDB
import Xenops

/// xenopsd failures as XenAPI errors (xen-api ocaml/xapi/xapi_xenops.ml `transform_xenops_exn`).
enum XenopsErrors {
    static func xapiError(_ error: XenopsError, xapiTask: String?, vm: String = "", device: String = "") -> XapiError {
        switch error {
        case .cancelled:
            return .taskCancelled(task: xapiTask ?? "")
        case .badPowerState(let actual, let expected):
            return .vmBadPowerState(vm: vm, expected: [expected.rawValue.lowercased()], actual: actual.rawValue.lowercased())
        case .failedToAcknowledgeShutdownRequest:
            return .vmFailedShutdownAcknowledgment(vm: vm)
        case .failedToShutdown(_, let timeout):
            return .vmShutdownTimeout(vm: vm, timeout: String(timeout))
        case .deviceIsConnected:
            return .deviceAlreadyAttached(device: device)
        case .deviceNotConnected:
            return .deviceAlreadyDetached(device: device)
        case .mediaNotEjectable:
            return .vbdNotRemovableMedia(vbd: device)
        case .mediaPresent:
            return .vbdNotEmpty(vbd: device)
        case .mediaNotPresent:
            return .vbdIsEmpty(vbd: device)
        case .doesNotExist(let kind, let id):
            return .internalError("xenopsd: \(kind) \(id) does not exist")
        default:
            return .internalError("xenopsd: \(error.code) \(error.parameters.joined(separator: " "))")
        }
    }
}
