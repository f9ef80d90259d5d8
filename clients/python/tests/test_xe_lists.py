"""xe's listing and parameter commands against a running server, compared with what XenAPI says."""
import importlib.util
import json
import shutil
import subprocess
import sys
import urllib.request

from conftest import CLIENT_DIR, PASSWORD, ordinary_vms, parse_records, values


def test_vm_list_prints_xe_blocks_for_every_non_template(server, api):
    out = server.xe("vm-list")
    assert out.returncode == 0, out.stderr
    recs = parse_records(out.stdout)
    # Default columns, in xe's record order, with xe's qualifiers.
    assert {tuple(label for label, _ in r) for r in recs} == {("uuid ( RO)", "name-label ( RW)", "power-state ( RO)")}
    expected = {v["uuid"]: (v["name_label"], v["power_state"].lower())
                for v in api.VM.get_all_records().values() if not v["is_a_template"]}
    assert {values(r)["uuid"]: (values(r)["name-label"], values(r)["power-state"]) for r in recs} == expected
    # The exact layout: first label left-aligned, the others right-aligned, two blank lines after each.
    first = out.stdout.split("\n")[:3]
    assert first[0].startswith("uuid ( RO)           : ")
    assert first[1].startswith("     name-label ( RW): ")
    assert first[2].startswith("    power-state ( RO): ")
    assert out.stdout.endswith("\n\n\n") and out.stdout.count("\n\n\n") == len(expected)


def test_minimal_halted_lists_exactly_the_halted_vms(server, api):
    out = server.xe("vm-list", "power-state=halted", "--minimal")
    assert out.returncode == 0, out.stderr
    halted = {v["uuid"] for v in api.VM.get_all_records().values()
              if v["power_state"] == "Halted" and not v["is_a_template"]}
    assert len(halted) == 4
    assert set(out.stdout.strip().split(",")) == halted
    assert out.stdout.count("\n") == 1

    running = server.xe("vm-list", "power-state=running", "--minimal").stdout.strip()
    dom0 = [v["uuid"] for v in api.VM.get_all_records().values() if v["is_control_domain"]]
    assert running == ",".join(dom0)


def test_filters_params_and_minimal_escaping(server, api):
    vm = ordinary_vms(api)[0]
    uuid = api.VM.get_uuid(vm)
    api.VM.add_to_other_config(vm, "purpose", "filter-test")
    api.VM.add_tags(vm, "blue")
    try:
        by_map = server.xe("vm-list", "other-config:purpose=filter-test", "--minimal").stdout.strip()
        assert by_map == uuid
        # xe's older map syntax <map>-<key>=value works too.
        assert server.xe("vm-list", "other-config-purpose=filter-test", "--minimal").stdout.strip() == uuid
        assert server.xe("vm-list", "tags:contains=blue", "--minimal").stdout.strip() == uuid
        assert server.xe("vm-list", "tags:contains=green", "--minimal").stdout.strip() == ""

        out = server.xe("vm-list", "uuid=" + uuid, "params=name-label,is-a-template,power-state,other-config")
        (rec,) = parse_records(out.stdout)
        assert [label for label, _ in rec] == ["name-label ( RW)", "is-a-template ( RW)", "power-state ( RO)",
                                               "other-config (MRW)"]
        assert values(rec)["other-config"].endswith("purpose: filter-test")

        api.VM.set_name_label(vm, "comma, name")
        assert server.xe("vm-list", "uuid=" + uuid, "params=name-label", "--minimal").stdout == "comma\\, name\n"
        names = server.xe("vm-list", "name-label=comma, name", "params=name-label").stdout
        assert values(parse_records(names)[0]) == {"name-label": "comma, name"}
    finally:
        api.VM.set_name_label(vm, "demo-vm-01")
        api.VM.remove_from_other_config(vm, "purpose")
        api.VM.remove_tags(vm, "blue")


def test_params_all_shows_every_field_but_hidden_and_expensive(server, api):
    vm = ordinary_vms(api)[0]
    out = server.xe("vm-list", "uuid=" + api.VM.get_uuid(vm), "params=all")
    (rec,) = parse_records(out.stdout)
    fields = values(rec)
    for name in ("uuid", "name-label", "power-state", "memory-static-max", "VCPUs-max", "platform",
                 "allowed-operations", "VBDs", "resident-on", "is-control-domain", "other-config"):
        assert name in fields
    assert fields["memory-target"] == "<expensive field>"
    assert "NVRAM" not in fields and "transportable-snapshot-id" not in fields
    assert fields["resident-on"] == "<not in database>"
    assert fields["memory-static-max"] == api.VM.get_memory_static_max(vm)
    assert set(fields["VBDs"].split("; ")) == {api.VBD.get_uuid(b) for b in api.VM.get_VBDs(vm)}
    assert set(fields["allowed-operations"].split("; ")) == set(api.VM.get_allowed_operations(vm))
    labels = dict((label.split(" (")[0], label) for label, _ in rec)
    assert labels["VBDs"] == "VBDs (SRO)" and labels["platform"] == "platform (MRW)"
    assert labels["tags"] == "tags (SRW)" and labels["ha-always-run"] == "ha-always-run ( RW) [DEPRECATED]"


def test_unknown_filter_field_is_an_error(server):
    out = server.xe("vm-list", "no-such-field=1")
    assert out.returncode == 1
    assert out.stderr == "Error: Unknown field 'no-such-field'\n"


def test_template_list(server, api):
    out = server.xe("template-list", "--minimal")
    templates = {v["uuid"] for v in api.VM.get_all_records().values() if v["is_a_template"] and not v["is_a_snapshot"]}
    assert set(out.stdout.strip().split(",")) == templates
    recs = parse_records(server.xe("template-list", "name-label=Debian Bookworm 12").stdout)
    assert [[label for label, _ in r] for r in recs] == [["uuid ( RO)", "name-label ( RW)", "name-description ( RW)"]]


def test_vbd_and_vif_lists(server, api):
    vm = ordinary_vms(api)[0]
    rec = api.VM.get_record(vm)
    out = server.xe("vbd-list", "vm-uuid=" + rec["uuid"])
    vbds = [values(r) for r in parse_records(out.stdout)]
    assert sorted(v["uuid"] for v in vbds) == sorted(api.VBD.get_uuid(b) for b in rec["VBDs"])
    assert all(v["vm-name-label"] == rec["name_label"] for v in vbds)
    by_empty = {v["empty"]: v for v in vbds}
    assert by_empty["true"]["vdi-uuid"] == "<not in database>"
    disk = [b for b in rec["VBDs"] if not api.VBD.get_empty(b)][0]
    assert by_empty["false"]["vdi-uuid"] == api.VDI.get_uuid(api.VBD.get_VDI(disk))
    assert list(vbds[0]) == ["uuid", "vm-uuid", "vm-name-label", "vdi-uuid", "empty", "device"]
    cds = server.xe("vbd-list", "vm-uuid=" + rec["uuid"], "type=CD", "params=type,mode", "--minimal").stdout
    # --minimal prints the first field in xe's record order (mode comes before type).
    assert cds == "RO\n"
    cds = server.xe("vbd-list", "vm-uuid=" + rec["uuid"], "type=CD", "params=type", "--minimal").stdout
    assert cds == "CD\n"

    out = server.xe("vif-list", "vm-uuid=" + rec["uuid"])
    (vif,) = [values(r) for r in parse_records(out.stdout)]
    (vif_ref,) = rec["VIFs"]
    assert vif == {"uuid": api.VIF.get_uuid(vif_ref), "device": api.VIF.get_device(vif_ref),
                   "vm-uuid": rec["uuid"], "network-uuid": api.network.get_uuid(api.VIF.get_network(vif_ref))}
    mac = api.VIF.get_MAC(vif_ref)
    assert server.xe("vif-list", "MAC=" + mac.upper(), "--minimal").stdout.strip() == vif["uuid"]


def test_vdi_sr_host_network_lists(server, api):
    local = [r for r, v in api.SR.get_all_records().items() if v["name_label"] == "Local storage"][0]
    sr_uuid = api.SR.get_uuid(local)
    out = server.xe("vdi-list", "sr-uuid=" + sr_uuid)
    vdis = [values(r) for r in parse_records(out.stdout)]
    assert sorted(v["uuid"] for v in vdis) == sorted(api.VDI.get_uuid(v) for v in api.SR.get_VDIs(local))
    # The default columns in xe's record order.
    assert list(vdis[0]) == ["uuid", "name-label", "name-description", "sr-uuid", "virtual-size", "sharable",
                             "read-only"]
    for v in vdis:
        assert v["virtual-size"] == api.VDI.get_virtual_size(api.VDI.get_by_uuid(v["uuid"]))

    (host,) = [values(r) for r in parse_records(server.xe("host-list").stdout)]
    host_ref = api.host.get_all()[0]
    assert host == {"uuid": api.host.get_uuid(host_ref), "name-label": api.host.get_name_label(host_ref),
                    "name-description": api.host.get_name_description(host_ref)}

    srs = {v["uuid"]: v for v in (values(r) for r in parse_records(server.xe("sr-list").stdout))}
    assert set(srs) == {v["uuid"] for v in api.SR.get_all_records().values()}
    assert srs[sr_uuid]["host"] == host["name-label"]
    assert srs[sr_uuid]["name-label"] == "Local storage"
    assert list(srs[sr_uuid]) == ["uuid", "name-label", "name-description", "host", "type", "content-type"]

    nets = [values(r) for r in parse_records(server.xe("network-list").stdout)]
    assert {(n["uuid"], n["name-label"], n["bridge"]) for n in nets} == {
        (v["uuid"], v["name_label"], v["bridge"]) for v in api.network.get_all_records().values()}


def test_task_list_and_cancel(server, api):
    task = api.task.create("clients-test task", "made by the test")
    uuid = api.task.get_uuid(task)
    try:
        out = server.xe("task-list", "uuid=" + uuid)
        assert values(parse_records(out.stdout)[0]) == {
            "uuid": uuid, "name-label": "clients-test task", "name-description": "made by the test",
            "status": "pending", "progress": "0.000"}
        cancel = server.xe("task-cancel", "uuid=" + uuid)
        assert cancel.returncode == 0 and cancel.stdout == "" and cancel.stderr == ""
        # Like xapi, cancelling records the request; the task's owner completes it.
        assert list(api.task.get_current_operations(task).values()) == ["cancel"]
        got = server.xe("task-param-get", "uuid=" + uuid, "param-name=current_operations")
        assert got.stdout == "cancel\n"
    finally:
        api.task.destroy(task)
    gone = server.xe("task-cancel", "uuid=no-such-task")
    assert gone.returncode == 1
    assert gone.stderr == "Error code: UUID_INVALID\nError parameters: task, no-such-task\n"


def test_param_list_get_and_set(server, api):
    vm = ordinary_vms(api)[1]
    uuid = api.VM.get_uuid(vm)
    (rec,) = parse_records(server.xe("vm-param-list", "uuid=" + uuid).stdout)
    fields = values(rec)
    assert fields["uuid"] == uuid and fields["power-state"] == "halted"
    assert fields["memory-target"] in ("0", "<unknown>")  # computed here, not "<expensive field>"
    assert "NVRAM" not in fields

    get = lambda *a: server.xe("vm-param-get", "uuid=" + uuid, *a)
    assert get("param-name=power-state").stdout == "halted\n"
    assert get("param-name=name-label").stdout == api.VM.get_name_label(vm) + "\n"
    assert get("param-name=platform", "param-key=acpi").stdout == api.VM.get_platform(vm)["acpi"] + "\n"
    missing_key = get("param-name=platform", "param-key=nope")
    assert missing_key.returncode == 1 and missing_key.stderr == "Error: Key nope not found in map\n"

    out = server.xe("vm-param-set", "uuid=" + uuid, "name-description=set by xe", "other-config:owner-note=hi",
                    "memory-static-max=2GiB", "VCPUs-max=2", "is-a-template=false")
    assert out.returncode == 0, out.stderr
    assert api.VM.get_name_description(vm) == "set by xe"
    assert api.VM.get_other_config(vm)["owner-note"] == "hi"
    assert api.VM.get_memory_static_max(vm) == str(2 * 1024 ** 3)
    assert api.VM.get_VCPUs_max(vm) == "2"
    # Setting an existing map key replaces it.
    server.xe("vm-param-set", "uuid=" + uuid, "other-config:owner-note=again")
    assert api.VM.get_other_config(vm)["owner-note"] == "again"
    assert get("param-name=other-config", "param-key=owner-note").stdout == "again\n"

    ro = server.xe("vm-param-set", "uuid=" + uuid, "power-state=running")
    assert ro.returncode == 1 and ro.stderr == "Error: Field 'power-state' is read-only.\n"
    bad = server.xe("vm-param-set", "uuid=" + uuid, "VCPUs-max=lots")
    assert bad.returncode == 1 and bad.stderr == "Error: Failed to parse parameter 'VCPUs-max': expecting an integer\n"
    bad_bool = server.xe("vm-param-set", "uuid=" + uuid, "is-a-template=maybe")
    assert "expecting a boolean" in bad_bool.stderr and bad_bool.returncode == 1
    unknown = server.xe("vm-param-get", "uuid=" + uuid, "param-name=nope")
    assert unknown.returncode == 1
    assert unknown.stderr == "Error code: Missing parameter\nError parameters: nope\n"


def test_other_class_param_commands(server, api):
    net = api.network.get_all()[0]
    uuid = api.network.get_uuid(net)
    assert server.xe("network-param-get", "uuid=" + uuid, "param-name=bridge").stdout == \
        api.network.get_bridge(net) + "\n"
    server.xe("network-param-set", "uuid=" + uuid, "name-description=net via xe")
    assert api.network.get_name_description(net) == "net via xe"
    host = api.host.get_all()[0]
    (rec,) = parse_records(server.xe("host-param-list", "uuid=" + api.host.get_uuid(host)).stdout)
    fields = values(rec)
    metrics = api.host_metrics.get_record(api.host.get_metrics(host))
    assert fields["memory-total"] == metrics["memory_total"]
    assert fields["host-metrics-live"] == "true"
    assert fields["resident-vms"] == "; ".join(api.VM.get_uuid(v) for v in api.host.get_resident_VMs(host))


def test_errors_print_code_and_parameters(server, api):
    bad = server.xe("vm-param-get", "uuid=no-such-vm", "param-name=uuid")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "Error code: UUID_INVALID\nError parameters: VM, no-such-vm\n"

    unknown = server.xe("vm-frobnicate")
    assert unknown.returncode == 1 and unknown.stderr == "Unknown command: vm-frobnicate\n"
    missing = server.xe("vm-param-get", "param-name=uuid")
    assert missing.returncode == 1 and missing.stderr == "Required parameter not found: uuid\n"
    # Like xe, a bare word is a parameter with an empty value, here an unknown filter.
    loose = server.xe("vm-list", "loose-word")
    assert loose.returncode == 1 and loose.stderr == "Error: Unknown field 'loose-word'\n"
    syntax = server.xe("vm-list", "-x")
    assert syntax.returncode == 1 and syntax.stderr == "Syntax error: Unknown switch: -x\n"

    denied = server.xe("vm-list", env=server.env(XE_PASSWORD="wrong"))
    assert denied.returncode == 1 and denied.stderr == "Authentication failed\n"
    nobody = server.xe("-u", "", "vm-list", env=server.env(XE_PASSWORD="wrong", XE_USER=""))
    assert nobody.returncode == 1 and nobody.stderr == "Username/password must be specified\n"
    refused = server.xe("-p", "1", "vm-list")
    assert refused.returncode == 1
    assert refused.stderr == "Unable to contact server. Please check server and port settings.\n"

    no_vm = server.xe("vm-shutdown", "name-label=nothing-has-this-name")
    assert no_vm.returncode == 1 and no_vm.stderr == "Error: No matching VMs found\n"
    several = server.xe("vm-shutdown", "power-state=halted")
    assert several.returncode == 1
    assert several.stderr == "Error: Multiple matches VMs found. --multiple required to complete the operation\n"


def test_connection_settings(server, api, tmp_path):
    count = len([v for v in api.VM.get_all_records().values() if not v["is_a_template"]])

    def n_vms(out):
        assert out.returncode == 0, out.stderr
        return len(out.stdout.strip().split(","))

    # Options on the command line instead of the environment.
    no_env = server.env(XE_PORT=None, XE_PASSWORD=None, XE_HOST=None)
    assert n_vms(server.xe("-s", "127.0.0.1", "-p", str(server.port), "-u", "root", "-pw", PASSWORD,
                           "vm-list", "--minimal", env=no_env)) == count
    assert n_vms(server.xe("vm-list", "server=127.0.0.1", "port=%d" % server.port, "password=" + PASSWORD,
                           "--minimal", env=no_env)) == count
    # xe's -pwf format: user name, then password.
    pwf = tmp_path / "pwfile"
    pwf.write_text("root\n%s\n" % PASSWORD)
    assert n_vms(server.xe("-p", str(server.port), "-pwf", str(pwf), "vm-list", "--minimal", env=no_env)) == count
    assert n_vms(server.xe("vm-list", "--minimal", env=server.env(XE_PASSWORD=None,
                                                                   XE_PASSWORD_FILE=str(pwf)))) == count
    # The demo server's ./state/password, found from the current directory.
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "password").write_text(PASSWORD + "\n")
    assert n_vms(server.xe("vm-list", "--minimal", env=server.env(XE_PASSWORD=None), cwd=str(tmp_path))) == count
    # The unix socket needs no password.
    sock_env = server.env(XE_PASSWORD=None, XE_PORT="1", XE_UNIX_SOCKET=server.socket_path)
    assert n_vms(server.xe("vm-list", "--minimal", env=sock_env)) == count
    assert n_vms(server.xe("--unix-socket", server.socket_path, "vm-list", "--minimal",
                           env=server.env(XE_PASSWORD=None, XE_PORT="1"))) == count


def stable(diagnostics):
    """The diagnostics document without the schedulers' countdowns, which move between reads
    (the first host's at the top, every host's under `hosts`)."""
    document = {k: v for k, v in diagnostics.items() if k != "scheduler"}
    document["hosts"] = [{k: v for k, v in host.items() if k != "scheduler"} for host in diagnostics.get("hosts", [])]
    return document


def test_diagnostics(server):
    out = server.xe("diagnostics")
    assert out.returncode == 0, out.stderr
    with urllib.request.urlopen(server.url + "diagnostics") as response:
        expected = json.loads(response.read())
    got = json.loads(out.stdout)
    assert {"queues", "workers", "scheduler", "updates", "tasks"} <= set(got)
    assert stable(got) == stable(expected)
    over_socket = server.xe("--unix-socket", server.socket_path, "diagnostics")
    assert stable(json.loads(over_socket.stdout)) == stable(expected)


def test_help(server):
    out = server.xe("help")
    assert out.returncode == 0
    commands = out.stdout.split()
    for name in ("vm-list", "vm-start", "vm-shutdown", "vm-reboot", "vm-suspend", "vm-resume", "vm-pause",
                 "vm-unpause", "vm-param-get", "vm-param-set", "vm-param-list", "vm-install", "vm-uninstall",
                 "vm-clone", "vbd-list", "vif-list", "vdi-list", "host-list", "sr-list", "network-list",
                 "task-list", "task-cancel", "event-wait", "diagnostics"):
        assert name in commands
    detail = server.xe("help", "event-wait").stdout
    assert "reqd params     : class" in detail
    usage = server.xe(env=server.env())
    assert usage.returncode == 0 and usage.stderr.startswith("Usage:")


def test_pip_installed_xe_command(server, tmp_path):
    """`pip install ./clients/python` gives an `xe` command (installed from a copy of the tree, so that
    the build leaves nothing behind, into a target directory that uses this interpreter's XenAPI)."""
    source = tmp_path / "src"
    shutil.copytree(CLIENT_DIR, str(source), ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build"))
    if all(importlib.util.find_spec(m) for m in ("setuptools", "wheel")):
        offline = ["--no-build-isolation", "--no-index"]  # build with what is installed here
    else:
        offline = []  # let pip fetch the build backend, as a newcomer's pip does
    target = tmp_path / "target"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target)]
                         + offline + [str(source)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    out = subprocess.run([str(target / "bin" / "xe"), "vm-list", "power-state=halted", "--minimal"],
                         env=server.env(PYTHONPATH=str(target)), capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().split(",")) == 4
