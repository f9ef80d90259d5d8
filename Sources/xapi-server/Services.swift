import ServiceLifecycle
import Xapi
import XapiDB

/// Flushes database changes to SQLite; on shutdown it makes the last flush before it returns.
struct PersistenceService: Service {
    let persister: Persister

    func run() async throws {
        await withGracefulShutdownHandler {
            await persister.run()
        } onGracefulShutdown: {
            persister.stop()
        }
    }
}

/// The 30 s database pass: pool heartbeat, session and task expiry. At shutdown it also
/// answers the parked event calls, so the HTTP server drains without waiting out long-polls.
struct HousekeepingService: Service {
    let api: XenAPI

    func run() async throws {
        let api = api
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown { await api.runHousekeeping() }
        } onGracefulShutdown: {
            api.database.closeEventWaits()
        }
    }
}

/// xapi's events loop: Xenops updates into the database.
struct EventsLoopService: Service {
    let bridge: XenopsBridge

    func run() async throws {
        await cancelWhenGracefulShutdown { await bridge.run() }
    }
}
