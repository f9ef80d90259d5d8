import XapiDB

/// `task.*` messages beyond the generated accessors and explicit field setters.
enum TaskHandlers {
    static let table = ClassHandlers("task", [
        "create": { call in
            .string(try call.api.tasks.create(label: call.string(0), description: call.string(1), api: call.api))
        },
        "cancel": { call in
            try call.api.tasks.cancel(call.string(0), caller: call.task, api: call.api)
            return .emptyString
        },
        "destroy": { call in
            try call.api.tasks.destroy(call.string(0), api: call.api)
            return .emptyString
        },
    ])
}
