"""bench/rpc helper: logs in to xapi-server, picks a VM, checks that VM.get_record answers over
both wire formats, and writes the request bodies wrk will replay.

Usage: client.py PORT PASSWORD OUTDIR [MIN_GUESTS]
           writes OUTDIR/xmlrpc.body and OUTDIR/jsonrpc.body (VM.get_record of one VM), and, for
           post.lua's per-request modes, OUTDIR/vms (every guest VM's ref, one a line, by name;
           at least MIN_GUESTS of them, default 1), OUTDIR/get_record.template and
           OUTDIR/set_name_description.template (XML-RPC bodies with @VM@ and @VALUE@ in place of
           the VM ref and the new description)
       client.py --dummy OUTDIR   (bodies with placeholder refs, for the ceiling only)
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


def write_templates(outdir, session, guests):
    """The per-request modes' inputs: the guests' refs and bodies with placeholders, produced by
    xmlrpc.client itself so that they are byte for byte what it sends."""
    with open(f"{outdir}/vms", "w") as f:
        f.writelines(vm + "\n" for vm in guests)
    with open(f"{outdir}/get_record.template", "w") as f:
        f.write(xmlrpc.client.dumps((session, "@VM@"), "VM.get_record", allow_none=True))
    with open(f"{outdir}/set_name_description.template", "w") as f:
        f.write(xmlrpc.client.dumps((session, "@VM@", "@VALUE@"), "VM.set_name_description", allow_none=True))


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
    min_guests = max(int(sys.argv[4]) if len(sys.argv) > 4 else 1, 1)
    url = f"http://127.0.0.1:{port}/"
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
    session = value(proxy.session.login_with_password("root", password, "1.0", "bench/rpc"),
                    "session.login_with_password")
    vms = value(proxy.VM.get_all_records(session), "VM.get_all_records")
    # The same kind of VM every run: an ordinary guest (not dom0, not a template, whose records
    # are larger), the first by name. VM.get_all's order follows random refs, and picking from
    # it made runs differ by up to 1.5x.
    guests = sorted((r["name_label"], vm) for vm, r in vms.items()
                    if not r["is_control_domain"] and not r["is_a_template"])
    if len(guests) < min_guests:
        fail(f"{len(guests)} guest VMs among {len(vms)} VMs, {min_guests} needed"
             " (was xapi-server started with --demo-vms?)")
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
    # The per-request modes: the last guest answers get_record too, and set_name_description works.
    last = guests[-1][1]
    if "uuid" not in value(proxy.VM.get_record(session, last), "VM.get_record of the last guest"):
        fail("VM.get_record of the last guest returned no uuid")
    value(proxy.VM.set_name_description(session, last, "bench/rpc"), "VM.set_name_description")
    if value(proxy.VM.get_name_description(session, last), "VM.get_name_description") != "bench/rpc":
        fail("VM.set_name_description did not change the description")
    write_bodies(outdir, session, vm)
    write_templates(outdir, session, [ref for _, ref in guests])
    print(f"VM {record.get('name_label', '?')} ({record['uuid']}), session {session[:18]}…", file=sys.stderr)


if __name__ == "__main__":
    main()
