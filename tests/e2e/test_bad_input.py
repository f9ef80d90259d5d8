"""Malformed and hostile requests get the protocol's error, and the server keeps serving."""
import http.client

import pytest
import XenAPI

from conftest import PASSWORD


def post(server, body, path="/", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", path, body, headers or {"Content-Type": "text/xml"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def still_serving(server):
    s = server.session()
    assert s.xenapi.VM.get_all()
    s.xenapi.session.logout()


LOGIN = (b"<?xml version='1.0'?>\n<methodCall>\n<methodName>session.login_with_password</methodName>\n"
         b"<params>\n<param>\n<value><string>root</string></value>\n</param>\n<param>\n<value><string>"
         + PASSWORD.encode() + b"</string></value>\n</param>\n</params>\n</methodCall>\n")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<methodCall><methodName>&lol3;</methodName><params/></methodCall>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>&e;</methodName><params/></methodCall>"""


@pytest.mark.parametrize("body", [
    b"<methodCall><methodName>VM.get_all</methodName><params><param><value>",   # truncated
    b"this is not xml",
    b"<methodCall><methodName>x</methodName><params></methodCall>",               # mismatched tags
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    b"<methodCall><methodName>VM.get_all</methodName><params><param><value>\xff\xfe</value></param></params></methodCall>",
    b"<methodCall><methodName>x</methodName><params>" + b"<param><value><array><data>" * 200 + b"</params></methodCall>",
    LOGIN[: len(LOGIN) // 2],
])
def test_malformed_xml_is_a_transport_fault(server, body):
    status, _ = post(server, body)
    assert status == 500
    still_serving(server)


def test_over_limit_body_is_refused_cleanly(server):
    body = b"<methodCall><methodName>x</methodName><params><param><value>" + b"a" * (4 << 20) + b"</value></param></params></methodCall>"
    status, _ = post(server, body)
    assert status == 413
    still_serving(server)


def test_wrong_parameter_types_are_internal_errors(server):
    s = server.session()
    vm = s.xenapi.VM.get_all()[0]
    for call, args in [(s.xenapi.VM.set_name_label, (vm, 42)), (s.xenapi.VM.set_is_a_template, (vm, "yes")),
                       (s.xenapi.VM.set_VCPUs_max, (vm, [1])), (s.xenapi.VM.get_record, ({"a": 1},))]:
        with pytest.raises(XenAPI.Failure) as info:
            call(*args)
        assert info.value.details[0] == "INTERNAL_ERROR"
    still_serving(server)


def test_malformed_jsonrpc_is_a_transport_fault(server):
    for body in [b"{", b"[]", b'{"method": "VM.get_all"}', b'{"jsonrpc": "3.0", "method": "x", "params": [], "id": 1}']:
        status, _ = post(server, body, path="/jsonrpc", headers={"Content-Type": "application/json"})
        assert status == 500
    still_serving(server)


def test_keep_alive_connection_survives_api_errors(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        conn.request("POST", "/", b"<methodCall><methodName>nope</methodName><params/></methodCall>")
        response = conn.getresponse()
        assert response.status == 200
        assert b"MESSAGE_METHOD_UNKNOWN" in response.read()
    conn.request("POST", "/", LOGIN)
    response = conn.getresponse()
    assert b"Success" in response.read()
    conn.close()


def test_issue_20_messages_refuse_refs_of_the_wrong_class_deleted_refs_and_wrong_types(server):
    """Each message issue 20 added answers HANDLE_INVALID (naming the class it wanted) for a ref
    of another class or a deleted one, and xapi's INTERNAL_ERROR for a value of the wrong type;
    nothing it refused has changed anything."""
    s = server.session()
    x = s.xenapi
    vm = [r for r, rec in x.VM.get_all_records().items() if not rec["is_a_template"] and not rec["is_control_domain"]][0]
    host = x.host.get_all()[0]
    vif = x.VM.get_VIFs(vm)[0]
    vdi = [x.VBD.get_VDI(v) for v in x.VM.get_VBDs(vm) if x.VBD.get_type(v) == "Disk"][0]
    network = x.VIF.get_network(vif)
    pif = x.host.get_PIFs(host)[0]
    gone = x.VM.clone(vm, "deleted")
    x.VM.destroy(gone)
    before = {cls: getattr(x, cls).get_all_records() for cls in ("VM", "VIF", "VDI", "PIF", "network", "host", "VLAN", "Bond")}
    wrong_class = [
        ("host", x.host.get_servertime, (vm,)), ("host", x.host.get_server_localtime, (vm,)),
        ("host", x.host.compute_free_memory, (vm,)), ("host", x.host.disable, (vm,)), ("host", x.host.evacuate, (vm, network, "0")),
        ("host", x.host.call_plugin, (vm, "echo", "main", {})), ("PIF", x.host.management_reconfigure, (vm,)),
        ("VM", x.VM.get_allowed_VBD_devices, (host,)), ("VM", x.VM.get_allowed_VIF_devices, (gone,)),
        ("VM", x.VM.assert_agile, (host,)), ("VM", x.VM.assert_can_boot_here, (gone, host)),
        ("VDI", x.VDI.resize, (vm, "1")), ("VIF", x.VIF.configure_ipv4, (vm, "None", "", "")),
        ("VIF", x.VIF.set_locking_mode, (vm, "locked")), ("network", x.VIF.move, (vif, vm)),
        ("PIF", x.PIF.plug, (vm,)), ("PIF", x.PIF.reconfigure_ip, (vm, "None", "", "", "", "")),
        ("PIF", x.VLAN.create, (vm, "5", network)), ("PIF", x.Bond.create, (network, [vm], "", "balance-slb", {})),
        ("role", x.role.get_record, (vm,)), ("VLAN", x.VLAN.destroy, (vm,)), ("Bond", x.Bond.destroy, (vm,)),
        ("Bond", x.Bond.set_mode, (vm, "active-backup")), ("Bond", x.Bond.set_property, (vm, "lacp-time", "fast")),
        ("VM", x.VM.compute_memory_overhead, (host,)), ("host", x.host.compute_memory_overhead, (vm,)),
        ("VM", x.VM.get_possible_hosts, (host,)), ("VM", x.VM.set_VCPUs_number_live, (gone, "1")),
        ("host", x.VM.copy_bios_strings, (vm, vm)), ("host", x.host.restart_agent, (vm,)),
        ("host", x.host.shutdown, (vm,)), ("host", x.host.reboot, (vm,)), ("host", x.host.enable, (vm,)),
        ("host", x.host.assert_can_evacuate, (vm,)), ("host", x.host.get_vms_which_prevent_evacuation, (vm,)),
        ("host", x.PIF.scan, (vm,)), ("host", x.PIF.introduce, (vm, "", "eth1", True)), ("PIF", x.PIF.forget, (vm,)),
        ("PIF", x.PIF.unplug, (vm,)), ("PIF", x.pool.create_VLAN_from_PIF, (vm, network, "7")),
        ("host", x.PIF.create_VLAN, ("eth0", network, vm, "7")), ("PIF", x.PIF.destroy, (vm,)),
        ("VIF", x.VIF.configure_ipv6, (gone, "None", "", "")), ("VIF", x.VIF.add_ipv4_allowed, (vm, "10.0.0.1")),
        ("VIF", x.VIF.remove_ipv6_allowed, (vm, "fd00::1")), ("VM", x.VM.assert_operation_valid, (host, "start")),
    ]
    for cls, call, args in wrong_class:
        details = failure_of(call, *args)
        assert details[:2] == ["HANDLE_INVALID", cls], (call, details)
    for call, args in [(x.VDI.resize, (vdi, "big")), (x.VIF.set_ipv4_allowed, (vif, "10.0.0.1")),
                       (x.host.call_plugin, (host, "echo", "main", "args")), (x.PIF.scan, (42,))]:
        assert failure_of(call, *args)[0] == "INTERNAL_ERROR", call
    after = {cls: getattr(x, cls).get_all_records() for cls in before}
    assert after == before
    still_serving(server)


def failure_of(call, *args):
    with pytest.raises(XenAPI.Failure) as info:
        call(*args)
    return info.value.details
