import XapiDB

/// `task.*` messages beyond the generated accessors and explicit field setters.
enum TaskHandlers {
    static let all: [String: Handler] = [
        "task.create": { call in
            .string(try call.api.tasks.create(label: call.string(0), description: call.string(1), api: call.api))
        },
        "task.cancel": { call in
            try call.api.tasks.cancel(call.string(0), caller: call.task, api: call.api)
            return .emptyString
        },
        "task.destroy": { call in
            try call.api.tasks.destroy(call.string(0), api: call.api)
            return .emptyString
        },
    ]
}
