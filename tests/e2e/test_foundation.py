"""Issue 2 acceptance: the official XenAPI module against the built server."""
import http.client
import xmlrpc.client
import json

import XenAPI

from conftest import PASSWORD, failure, ordinary_vms


def test_login_good_and_bad(server):
    s = XenAPI.Session(server.url)
    details = failure(s.login_with_password, "root", "wrong")
    assert details == ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    s.login_with_password("root", PASSWORD)
    assert s.handle.startswith("OpaqueRef:")
    assert s.xenapi.session.get_this_host(s.handle) == s.xenapi.pool.get_master(s.xenapi.pool.get_all()[0])
    assert s.API_version == "2.23"
    s.xenapi.session.logout()


def test_logout_then_call_is_session_invalid(server):
    s = server.session()
    handle = s.handle
    s.xenapi.session.logout()
    # A raw call with the dead handle: the Python client would otherwise log in again by itself.
    raw = xmlrpc.client.ServerProxy(server.url)
    reply = raw.VM.get_all(handle)
    assert reply["Status"] == "Failure"
    assert reply["ErrorDescription"] == ["SESSION_INVALID", handle]


def test_get_all_records_and_every_class(session):
    vms = session.xenapi.VM.get_all_records()
    assert len(vms) >= 5
    for ref, record in vms.items():
        assert ref.startswith("OpaqueRef:")
        assert record["power_state"] in ("Halted", "Running", "Paused", "Suspended")
        assert isinstance(record["memory_static_max"], str) and int(record["memory_static_max"]) > 0
    # Objects of the classes the demo pool does not start with.
    task = session.xenapi.task.create("e2e task", "")
    host = session.xenapi.host.get_all()[0]
    message = session.xenapi.message.create("E2E_ALERT", "3", "Host", session.xenapi.host.get_uuid(host), "body")
    vm = ordinary_vms(session)[0]
    vgpu = session.xenapi.VGPU.create(vm, session.xenapi.GPU_group.get_all()[0], "0", {}, "OpaqueRef:NULL")
    own = session.xenapi.session.get_record(session.handle)
    assert own["is_local_superuser"] is True and own["originator"] == "e2e"
    classes = ["pool", "host", "host_metrics", "host_cpu", "VM", "VM_metrics", "VBD", "VIF", "VDI", "SR", "PBD",
               "network", "PIF", "PIF_metrics", "task", "console", "message", "PCI", "VGPU"]
    for cls in classes:
        api = getattr(session.xenapi, cls)
        refs = api.get_all()
        assert refs, cls
        record = api.get_record(refs[0])
        assert "uuid" in record
        assert api.get_by_uuid(record["uuid"]) == refs[0]
    assert session.xenapi.message.get_record(message)["name"] == "E2E_ALERT"
    assert session.xenapi.VGPU.get_record(vgpu)["VM"] == vm
    session.xenapi.VGPU.destroy(vgpu)
    session.xenapi.message.destroy(message)
    session.xenapi.task.destroy(task)


def test_lookups_and_setters(session):
    vm = ordinary_vms(session)[0]
    record = session.xenapi.VM.get_record(vm)
    assert session.xenapi.VM.get_by_uuid(record["uuid"]) == vm
    assert vm in session.xenapi.VM.get_by_name_label(record["name_label"])
    session.xenapi.VM.set_name_label(vm, "renamed by e2e")
    assert session.xenapi.VM.get_name_label(vm) == "renamed by e2e"
    assert session.xenapi.VM.get_by_name_label("renamed by e2e") == [vm]


def test_map_duplicate_key(session):
    vm = ordinary_vms(session)[0]
    session.xenapi.VM.add_to_other_config(vm, "e2e", "1")
    details = failure(session.xenapi.VM.add_to_other_config, vm, "e2e", "2")
    assert details == ["MAP_DUPLICATE_KEY", "VM", "other_config", vm, "e2e"]
    session.xenapi.VM.remove_from_other_config(vm, "e2e")


def test_where_query(session):
    halted = session.xenapi.VM.get_all_records_where('field "power_state" = "Halted"')
    assert halted and all(r["power_state"] == "Halted" for r in halted.values())
    everything = session.xenapi.VM.get_all_records()
    assert set(halted) == {ref for ref, r in everything.items() if r["power_state"] == "Halted"}


def test_errors_with_xapis_parameters(session):
    assert failure(session.xenapi.VM.get_record, "OpaqueRef:00000000-0000-0000-0000-000000000000") == \
        ["HANDLE_INVALID", "VM", "OpaqueRef:00000000-0000-0000-0000-000000000000"]
    assert failure(session.xenapi.VM.no_such_message) == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_message"]
    vm = ordinary_vms(session)[0]
    assert failure(session.xenapi.VM.start, vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"]
    assert failure(session.xenapi.VM.get_by_uuid, "nope") == ["UUID_INVALID", "VM", "nope"]
    details = failure(session.xenapi.VM.set_is_a_template, vm, "true")
    assert details[0] == "INTERNAL_ERROR"


def test_vm_create_then_destroy(session):
    template = session.xenapi.VM.get_by_name_label("Other install media")[0]
    record = session.xenapi.VM.get_record(template)
    record["name_label"] = "created by e2e"
    record["is_a_template"] = False
    vm = session.xenapi.VM.create(record)
    assert session.xenapi.VM.get_power_state(vm) == "Halted"
    assert "start" in session.xenapi.VM.get_allowed_operations(vm)
    session.xenapi.VM.destroy(vm)
    assert failure(session.xenapi.VM.get_record, vm) == ["HANDLE_INVALID", "VM", vm]


def test_the_same_through_rpc2(server):
    s = XenAPI.Session("http://127.0.0.1:%d" % server.port)   # no path: the client posts to /RPC2
    s.login_with_password("root", PASSWORD)
    vm = ordinary_vms(s)[0]
    s.xenapi.VM.set_name_label(vm, "via RPC2")
    assert s.xenapi.VM.get_name_label(vm) == "via RPC2"
    s.xenapi.session.logout()


def jsonrpc(server, payload):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/jsonrpc", json.dumps(payload), {"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.getheader("content-type"), json.loads(body)


def test_jsonrpc_v1_and_v2(server):
    status, ctype, reply = jsonrpc(server, {"method": "session.login_with_password", "params": ["root", PASSWORD], "id": 1})
    assert status == 200 and ctype == "application/json"
    assert reply["error"] is None and reply["id"] == 1
    session = reply["result"]
    _, _, reply = jsonrpc(server, {"jsonrpc": "2.0", "method": "VM.get_all", "params": [session], "id": "a"})
    assert reply["jsonrpc"] == "2.0" and reply["id"] == "a" and reply["result"]
    vm = reply["result"][0]
    _, _, reply = jsonrpc(server, {"jsonrpc": "2.0", "method": "VM.get_record", "params": [session, vm], "id": 2})
    assert isinstance(reply["result"]["memory_static_max"], int)      # ints are JSON numbers
    _, _, reply = jsonrpc(server, {"jsonrpc": "2.0", "method": "VM.get_record", "params": [session, "OpaqueRef:x"], "id": 3})
    assert reply["error"] == {"code": 1, "message": "HANDLE_INVALID", "data": ["VM", "OpaqueRef:x"]}
    _, _, reply = jsonrpc(server, {"method": "VM.get_record", "params": [session, "OpaqueRef:x"], "id": 4})
    assert reply == {"result": None, "error": ["HANDLE_INVALID", "VM", "OpaqueRef:x"], "id": 4}


def test_unix_socket_logs_in_anyone_as_root(server):
    s = server.local_session()
    assert s.xenapi.session.get_is_local_superuser(s.handle) is True
    assert s.xenapi.VM.get_all()
    s.xenapi.session.logout()
