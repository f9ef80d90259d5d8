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
