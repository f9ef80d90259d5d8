"""Issue 3 acceptance: event.from / register / next as XenAPI clients use them."""
import threading
import time
import xmlrpc.client

import pytest
import XenAPI

from conftest import ordinary_vms


def test_watch_all_events_loop(server):
    s = server.session()
    first = s.xenapi.event_from(["*"], "", 30.0)
    events = first["events"]
    assert events and all(e["operation"] == "add" for e in events)
    classes = {e["class"] for e in events}
    assert {"vm", "host", "pool", "sr", "vdi", "vbd", "vif", "network"} <= classes
    assert "session" not in classes
    counts = first["valid_ref_counts"]
    assert isinstance(counts["vm"], int) and counts["vm"] == len(s.xenapi.VM.get_all())
    assert sum(1 for e in events if e["class"] == "vm") == counts["vm"]
    token = first["token"]
    assert len(token) == 41 and token[20] == ","

    # Later calls only see changes: another session renames a VM.
    other = server.session()
    vm = ordinary_vms(other)[0]
    other.xenapi.VM.set_name_label(vm, "watched rename")
    second = s.xenapi.event_from(["*"], token, 30.0)
    mods = [e for e in second["events"] if e["class"] == "vm"]
    assert [(e["operation"], e["ref"]) for e in mods] == [("mod", vm)]
    assert mods[0]["snapshot"]["name_label"] == "watched rename"
    assert int(mods[0]["id"]) > 0 and mods[0]["timestamp"] == "0.0"
    assert second["token"] > token


def test_timeout_returns_empty_with_the_same_token(session):
    token = session.xenapi.event_from(["vm"], "", 0.0)["token"]
    start = time.time()
    result = session.xenapi.event_from(["vm"], token, 0.5)
    assert result["events"] == [] and result["token"] == token
    assert 0.45 <= time.time() - start < 5


def test_per_object_subscription_and_del(server, session):
    vms = ordinary_vms(session)
    watched, other = vms[0], vms[1]
    token = session.xenapi.event_from(["vm/" + watched], "", 0.0)["token"]
    other_session = server.session()
    other_session.xenapi.VM.set_name_label(other, "not watched")
    other_session.xenapi.VM.set_name_label(watched, "watched")
    batch = session.xenapi.event_from(["vm/" + watched], token, 10.0)
    assert [e["ref"] for e in batch["events"]] == [watched]

    template = session.xenapi.VM.get_by_name_label("Other install media")[0]
    record = session.xenapi.VM.get_record(template)
    record["is_a_template"] = False
    vm = session.xenapi.VM.create(record)
    token = session.xenapi.event_from(["VM"], "", 0.0)["token"]
    session.xenapi.VM.destroy(vm)
    batch = session.xenapi.event_from(["VM"], token, 10.0)
    dels = [e for e in batch["events"] if e["ref"] == vm]
    assert len(dels) == 1 and dels[0]["operation"] == "del" and "snapshot" not in dels[0]


def test_create_and_delete_inside_the_window_is_invisible(session):
    token = session.xenapi.event_from(["network"], "", 0.0)["token"]
    net = session.xenapi.network.create({"name_label": "ephemeral", "other_config": {}})
    session.xenapi.network.destroy(net)
    kept = session.xenapi.network.create({"name_label": "kept", "other_config": {}})
    session.xenapi.network.set_name_label(kept, "kept, renamed")
    batch = session.xenapi.event_from(["network"], token, 10.0)
    assert [(e["operation"], e["ref"]) for e in batch["events"]] == [("add", kept)]
    assert batch["events"][0]["snapshot"]["name_label"] == "kept, renamed"
    session.xenapi.network.destroy(kept)


def test_inject_token_orders_against_later_tokens(session):
    vm = ordinary_vms(session)[0]
    before = session.xenapi.event_from(["vm"], "", 0.0)["token"]
    injected = session.xenapi.event.inject("VM", vm)
    assert injected >= before
    batch = session.xenapi.event_from(["vm/" + vm], injected, 10.0)
    assert [e["ref"] for e in batch["events"]] == [vm]
    assert batch["token"] > injected
    with pytest.raises(XenAPI.Failure) as info:
        session.xenapi.event.inject("vm", vm)
    assert info.value.details == ["HANDLE_INVALID", "vm", vm]


def test_token_errors_and_future_tokens(session):
    with pytest.raises(XenAPI.Failure) as info:
        session.xenapi.event_from(["vm"], "not a token", 1.0)
    assert info.value.details == ["EVENT_FROM_TOKEN_PARSE_FAILURE", "not a token"]
    future = "%020d,%020d" % (10 ** 15, 0)
    start = time.time()
    result = session.xenapi.event_from(["vm"], future, 0.5)
    assert result["events"] == [] and result["token"] == future and time.time() - start >= 0.45


def blocked(call):
    """Runs `call` in a thread; returns a function giving (result, exception) once it ends."""
    box = {}

    def run():
        try:
            box["result"] = call()
        except Exception as e:            # noqa: BLE001 - we want whatever the call raised
            box["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_logout_wakes_blocked_next_and_from(server):
    s = server.session()
    handle = s.handle
    s.xenapi.event.register(["VM"])
    next_thread, next_box = blocked(lambda: xmlrpc.client.ServerProxy(server.url).event.next(handle))
    from_thread, from_box = blocked(lambda: xmlrpc.client.ServerProxy(server.url).event_from(handle, ["*"], "%020d,%020d" % (10 ** 15, 0), 30.0))
    time.sleep(0.5)
    assert next_thread.is_alive() and from_thread.is_alive()
    server.session().xenapi.session.logout()   # another session's logout wakes nothing
    time.sleep(0.2)
    assert next_thread.is_alive() and from_thread.is_alive()
    s.xenapi.session.logout()
    next_thread.join(5)
    from_thread.join(5)
    assert next_box["result"] == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", handle]}
    assert from_box["result"] == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", handle]}


def test_next_without_register_and_register_delivers_only_later_events(server, session):
    import hashlib
    with pytest.raises(XenAPI.Failure) as info:
        session.xenapi.event.next()
    assert info.value.details == ["SESSION_NOT_REGISTERED", "trackid=" + hashlib.md5(session.handle.encode()).hexdigest()]
    vm = ordinary_vms(session)[0]
    session.xenapi.VM.set_name_label(vm, "before registration")
    session.xenapi.event.register(["VM"])
    other = server.session()
    other.xenapi.VM.set_name_label(vm, "after registration")
    other.xenapi.VM.set_name_description(vm, "second write")
    events = session.xenapi.event.next()
    assert [(e["class"], e["operation"], e["ref"]) for e in events] == [("vm", "mod", vm), ("vm", "mod", vm)]
    assert events[0]["snapshot"]["name_label"] == "after registration"
    assert events[1]["snapshot"]["name_description"] == "second write"
    assert int(events[1]["id"]) == int(events[0]["id"]) + 1
    session.xenapi.event.unregister(["VM"])


def test_two_hundred_blocked_event_from_calls_do_not_slow_other_rpcs(server):
    s = server.session()
    token = s.xenapi.event_from(["vm"], "", 0.0)["token"]
    threads = []
    for _ in range(200):
        t, box = blocked(lambda: server.session().xenapi.event_from(["sr"], token, 20.0))
        threads.append((t, box))
    time.sleep(2.0)
    assert all(t.is_alive() for t, _ in threads)
    start = time.time()
    for _ in range(50):
        s.xenapi.VM.get_all()
    elapsed = time.time() - start
    assert elapsed < 2.0, "50 calls took %.2fs with 200 parked event.from calls" % elapsed
    # Wake them all with one change of their class.
    sr = s.xenapi.SR.get_all()[0]
    s.xenapi.SR.add_to_other_config(sr, "wake", "up")
    for t, box in threads:
        t.join(15)
        assert not t.is_alive()
        assert [e["class"] for e in box["result"]["events"]] == ["sr"]
    s.xenapi.SR.remove_from_other_config(sr, "wake")


def test_sigterm_answers_parked_calls_and_exits_promptly(state_dir):
    from conftest import Server
    server = Server(state_dir, in_memory=True, demo_vms=1).start()
    s = server.session()
    s.xenapi.event.register(["VM"])
    handle = s.handle
    token = "%020d,%020d" % (10 ** 15, 0)
    parked = [blocked(lambda: xmlrpc.client.ServerProxy(server.url).event_from(handle, ["vm"], token, 60.0)),
              blocked(lambda: xmlrpc.client.ServerProxy(server.url).event.next(handle))]
    time.sleep(0.5)
    start = time.time()
    server.stop()
    assert time.time() - start < 5, "shutdown waited for the long-polls"
    for thread, _ in parked:
        thread.join(5)
        assert not thread.is_alive()


def test_pool_heartbeat_reaches_next_readers(state_dir):
    from conftest import Server
    server = Server(state_dir, in_memory=True, demo_vms=1, extra=["--heartbeat-interval", "0.5"]).start()
    try:
        s = server.session()
        s.xenapi.event.register(["pool"])
        start = time.time()
        events = s.xenapi.event.next()        # nothing changes in the database: only the heartbeat
        assert [(e["class"], e["operation"]) for e in events] == [("pool", "mod")]
        assert events[0]["ref"] == s.xenapi.pool.get_all()[0]
        assert time.time() - start < 5
    finally:
        server.stop()


def test_session_expiry_wakes_blocked_calls(state_dir):
    from conftest import Server
    server = Server(state_dir, in_memory=True, demo_vms=1,
                    extra=["--session-idle-timeout", "1", "--heartbeat-interval", "0.5"]).start()
    try:
        s = server.session()
        handle = s.handle
        s.xenapi.event.register(["VM"])
        proxy = xmlrpc.client.ServerProxy(server.url)
        next_thread, next_box = blocked(lambda: proxy.event.next(handle))
        next_thread.join(15)
        assert not next_thread.is_alive()
        assert next_box["result"] == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", handle]}
    finally:
        server.stop()
