import XapiDB

/// `task.*` messages beyond the generated accessors and explicit field setters.
enum TaskHandlers {
    static let table = ClassHandlers("task", [
        "create": { call in
            .string(try call.api.tasks.create(label: try call.string("label"), description: try call.string("description"), api: call.api))
        },
        "cancel": { call in
            try call.api.tasks.cancel(try call.string("task"), caller: call.task, api: call.api)
            return .emptyString
        },
        "destroy": { call in
            try call.api.tasks.destroy(try call.string("self"), api: call.api)
            return .emptyString
        },
    ])
}
