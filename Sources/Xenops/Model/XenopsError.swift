public import Wire
/// xenopsd's `Errors.error`: every failure of the API, of a task, and of a step. `code` and
/// `parameters` are xenopsd's constructor name and arguments, which xapi maps to XenAPI errors.
public enum XenopsError: Error, Sendable, Hashable, CustomStringConvertible {
    case doesNotExist(kind: String, id: String)
    case alreadyExists(kind: String, id: String)
    case badPowerState(actual: PowerState, expected: PowerState)
    case deviceIsConnected
    case deviceNotConnected
    case domainNotBuilt
    case invalidVcpus(max: Int)
    case mediaNotEjectable
    case mediaPresent
    case mediaNotPresent
    case failedToAcknowledgeShutdownRequest
    case failedToAcknowledgeSuspendRequest
    case failedToShutdown(id: String, timeout: Double)
    case failedToSuspend(id: String, timeout: Double)
    /// The task was cancelled at one of its cancel points.
    case cancelled(task: String)
    case unimplemented(String)
    case internalError(String)

    public var code: String {
        switch self {
        case .doesNotExist: "Does_not_exist"
        case .alreadyExists: "Already_exists"
        case .badPowerState: "Bad_power_state"
        case .deviceIsConnected: "Device_is_connected"
        case .deviceNotConnected: "Device_not_connected"
        case .domainNotBuilt: "Domain_not_built"
        case .invalidVcpus: "Invalid_vcpus"
        case .mediaNotEjectable: "Media_not_ejectable"
        case .mediaPresent: "Media_present"
        case .mediaNotPresent: "Media_not_present"
        case .failedToAcknowledgeShutdownRequest: "Failed_to_acknowledge_shutdown_request"
        case .failedToAcknowledgeSuspendRequest: "Failed_to_acknowledge_suspend_request"
        case .failedToShutdown: "Failed_to_shutdown"
        case .failedToSuspend: "Failed_to_suspend"
        case .cancelled: "Cancelled"
        case .unimplemented: "Unimplemented"
        case .internalError: "Internal_error"
        }
    }

    public var parameters: [String] {
        switch self {
        case .doesNotExist(let kind, let id), .alreadyExists(let kind, let id): [kind, id]
        case .badPowerState(let actual, let expected): [actual.rawValue, expected.rawValue]
        case .invalidVcpus(let max): [String(max)]
        case .failedToShutdown(let id, let timeout), .failedToSuspend(let id, let timeout): [id, String(timeout)]
        case .cancelled(let task): [task]
        case .unimplemented(let what), .internalError(let what): [what]
        case .deviceIsConnected, .deviceNotConnected, .domainNotBuilt, .mediaNotEjectable, .mediaPresent,
             .mediaNotPresent, .failedToAcknowledgeShutdownRequest, .failedToAcknowledgeSuspendRequest:
            []
        }
    }

    /// xenopsd's JSON form, e.g. `["Bad_power_state",["Running","Halted"]]`.
    public var json: JSON {
        let parameters = self.parameters
        switch parameters.count {
        case 0: return .array([.string(code)])
        case 1: return .array([.string(code), .string(parameters[0])])
        default: return .array([.string(code), .array(parameters.map(JSON.string))])
        }
    }

    public var description: String { json.text }
}

/// Maps a Swift cancellation seen while waiting to the task's `Cancelled` error.
func cancelledError(_ task: TaskHandle?) -> XenopsError {
    .cancelled(task: task?.id ?? "")
}
