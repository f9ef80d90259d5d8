import Timing
import XapiDB

/// The event API (xen-api ocaml/xapi/xapi_event.ml): `event.from` long-polls on the database's generations,
/// `event.register`/`next` use the byte-bounded queue, `inject` touches a row.
enum EventHandlers {
    static let table = ClassHandlers("event", [
        "from": from,
        "register": { call in
            call.database.registerEvents(session: call.session!, classes: try call.strings("classes"))
            return .emptyString
        },
        "unregister": { call in
            call.database.unregisterEvents(session: call.session!, classes: try call.strings("classes"))
            return .emptyString
        },
        "next": { call in
            let delay = call.api.configuration.eventNextDelay
            if delay > .zero { try? await call.database.clock.sleep(for: delay) }
            return .array(try await call.database.nextEvents(session: call.session!))
        },
        "get_current_id": { call in .int(call.database.currentEventID) },
        "inject": inject,
    ])

    /// xapi (`Timer.s_to_span`) falls back to 24 hours for negative, NaN or absurd timeouts.
    static func timeout(_ seconds: Double) -> Duration {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return .seconds(86_400) }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    private static let from: Handler = { call in
        let text = try call.string("token")
        guard let token = EventToken(parsing: text) else { throw XapiError.eventFromTokenParseFailure(text) }
        let api = call.api
        let database = call.database
        let classes = try call.strings("classes")
        let subscription = Subscription(classes, model: database.model)
        let session = call.session!
        let deadline = database.clock.now + timeout(try call.double("timeout"))
        // Task-only subscriptions are never delayed (xapi's `event_from_task_delay` is 0).
        let paced = !subscription.isOnly(table: call.tables.task.table)
        let paceKey = session + "\u{0}" + classes.joined(separator: "\u{0}")
        let configuration = api.configuration
        if paced {
            let delay = configuration.eventFromDelay + api.eventPacer.delay(for: paceKey, minimumInterval: configuration.eventFromMinimumInterval)
            if delay > .zero { try? await database.clock.sleep(for: delay) }
        }

        var scanned = Int64(0)
        while true {
            let (answer, generation) = database.read { s -> (SharedAnswer?, Int64) in
                let key = EventFromCache.Key(subscription: classes, token: token, generation: s.generation,
                                             messageGeneration: s.messageGeneration)
                if let cached = api.eventFromCache.answer(for: key) { return (cached, s.generation) }
                let batch = s.collectEvents(since: token, scanningAfter: scanned, subscription: subscription)
                guard !batch.events.isEmpty else { return (nil, s.generation) }
                let answer = SharedAnswer(result(batch.events, s.validRefCounts(), batch.token))
                api.eventFromCache.store(answer, for: key)
                return (answer, s.generation)
            }
            if let answer {
                if paced { api.eventPacer.answered(paceKey, minimumInterval: configuration.eventFromMinimumInterval) }
                call.reply.share(answer)
                return answer.value
            }
            scanned = max(scanned, generation)
            if database.clock.now >= deadline {
                return result([], database.read { $0.validRefCounts() }, token)
            }
            switch await database.waitForChange(session: session, subscription: subscription, after: generation, deadline: deadline) {
            case .changed, .timedOut:
                continue
            case .sessionInvalid:
                throw XapiError.sessionInvalid(session)
            case .cancelled:
                // Server shutting down: answer what we have, nothing.
                return result([], database.read { $0.validRefCounts() }, token)
            }
        }
    }

    private static func result(_ events: [Value], _ counts: Structure, _ token: EventToken) -> Value {
        .structure([
            "events": .array(events),
            "valid_ref_counts": .structure(counts),
            "token": .string(token.description),
        ])
    }

    /// The class must be spelled as in the datamodel (`VM`, not `vm`), unlike subscriptions.
    private static let inject: Handler = { call in
        let className = try call.string("class")
        let ref = try call.string("ref")
        guard let schema = call.database.model.class(named: className), schema.isTable else {
            throw XapiError.handleInvalid(class: className, ref: ref)
        }
        let stamp = try call.database.write { s throws(XapiError) -> Int64 in
            guard s.contains(schema.index, ref) else { throw .handleInvalid(class: className, ref: ref) }
            return try s.touch(schema.index, ref)
        }
        return .string(EventToken(generation: stamp - 1, messageGeneration: 0).description)
    }
}
