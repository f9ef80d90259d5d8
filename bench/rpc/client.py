"""bench/rpc helper: logs in to xapi-server, picks a VM, checks that VM.get_record answers over
both wire formats, and writes the request bodies wrk will replay.

Usage: client.py PORT PASSWORD OUTDIR   (writes OUTDIR/xmlrpc.body and OUTDIR/jsonrpc.body)
       client.py --dummy OUTDIR         (bodies with placeholder refs, for the ceiling only)
"""
import json
import sys
import urllib.request
import xmlrpc.client


def write_bodies(outdir, session, vm):
    # Exactly what Python's xmlrpc.client (and so XenAPI.py) sends.
    xml = xmlrpc.client.dumps((session, vm), "VM.get_record", allow_none=True)
    with open(f"{outdir}/xmlrpc.body", "w") as f:
        f.write(xml)
    call = {"jsonrpc": "2.0", "method": "VM.get_record", "params": [session, vm], "id": 1}
    with open(f"{outdir}/jsonrpc.body", "w") as f:
        f.write(json.dumps(call))


def fail(message):
    print(f"bench/rpc: {message}", file=sys.stderr)
    sys.exit(1)


def value(result, what):
    if not isinstance(result, dict) or result.get("Status") != "Success":
        fail(f"{what} failed: {result!r}")
    return result["Value"]


def main():
    if sys.argv[1] == "--dummy":
        write_bodies(sys.argv[2], "OpaqueRef:00000000-0000-0000-0000-000000000001",
                     "OpaqueRef:00000000-0000-0000-0000-000000000002")
        return
    port, password, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    url = f"http://127.0.0.1:{port}/"
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
    session = value(proxy.session.login_with_password("root", password, "1.0", "bench/rpc"),
                    "session.login_with_password")
    vms = value(proxy.VM.get_all(session), "VM.get_all")
    # The same kind of VM every run: an ordinary guest (not dom0, not a template, whose records
    # are larger), the first by name. VM.get_all's order follows random refs, and picking from
    # it made runs differ by up to 1.5x.
    guests = sorted((value(proxy.VM.get_name_label(session, vm), "VM.get_name_label"), vm) for vm in vms
                    if not value(proxy.VM.get_is_control_domain(session, vm), "VM.get_is_control_domain")
                    and not value(proxy.VM.get_is_a_template(session, vm), "VM.get_is_a_template"))
    if not guests:
        fail(f"no guest VM among {len(vms)} VMs (was xapi-server started with --demo-vms?)")
    vm = guests[0][1]
    record = value(proxy.VM.get_record(session, vm), "VM.get_record over XML-RPC")
    if "uuid" not in record:
        fail(f"VM.get_record returned no uuid: {record!r}")

    call = {"jsonrpc": "2.0", "method": "VM.get_record", "params": [session, vm], "id": 1}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/jsonrpc", data=json.dumps(call).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    if answer.get("result", {}).get("uuid") != record["uuid"]:
        fail(f"VM.get_record over JSON-RPC disagrees with XML-RPC: {answer!r}")
    write_bodies(outdir, session, vm)
    print(f"VM {record.get('name_label', '?')} ({record['uuid']}), session {session[:18]}…", file=sys.stderr)


if __name__ == "__main__":
    main()
