"""Issue 20: Ansible's community.general xenserver_* modules, unmodified (from PyPI's `ansible`
package), run tests/ansible/playbook.yml against the server stage by stage; after each stage the
objects it made are checked over XenAPI. xenserver_facts runs on the host itself and talks to
xapi's local socket, so the server listens on /var/lib/xcp/xapi as xapi does."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FAST, PASSWORD, Server, make_state_dir, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "tests", "ansible", "playbook.yml")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
LOCAL_SOCKET = "/var/lib/xcp/xapi"
VM = "ansible-vm"
GIB = 2 ** 30


@pytest.fixture(scope="module")
def xs():
    assert os.access(PLAYBOOK_BIN, os.X_OK), "ansible-playbook not in the venv: scripts/test installs PyPI's ansible"
    os.makedirs(os.path.dirname(LOCAL_SOCKET), exist_ok=True)
    d = make_state_dir()
    srv = Server(d, in_memory=True, demo_vms=1, extra=FAST, socket_path=LOCAL_SOCKET).start()
    yield srv
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


def play(xs, tags):
    """Runs the playbook's tasks with `tags`; every task must pass. Returns {task name: result}."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_HOME=os.path.join(xs.directory, "ansible"))
    run = subprocess.run(
        [PLAYBOOK_BIN, "-i", "localhost,", PLAYBOOK, "--tags", tags,
         "-e", "ansible_python_interpreter=%s" % sys.executable,
         "-e", "xs_url=%s" % xs.url.rstrip("/"), "-e", "xs_user=root", "-e", "xs_password=%s" % PASSWORD],
        env=env, capture_output=True, text=True, timeout=240)
    start = run.stdout.find("{")
    assert start >= 0, "no JSON from ansible-playbook:\n%s\n%s" % (run.stdout, run.stderr)
    report = json.loads(run.stdout[start:])
    results = {}
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"]["localhost"]
        assert not result.get("failed"), "task %r failed: %s" % (task["task"]["name"], result.get("msg"))
        results[task["task"]["name"]] = result
    assert report["stats"]["localhost"]["failures"] == 0 and run.returncode == 0, run.stderr
    return results


def vm_named(x, name):
    refs = x.VM.get_by_name_label(name)
    assert len(refs) == 1, "%d VMs named %s" % (len(refs), name)
    return refs[0]


def disks(x, vm):
    """(userdevice, virtual size, SR name) of the VM's disks, by position."""
    out = []
    for vbd in x.VM.get_VBDs(vm):
        r = x.VBD.get_record(vbd)
        if r["type"] == "Disk":
            vdi = x.VDI.get_record(r["VDI"])
            out.append((r["userdevice"], int(vdi["virtual_size"]), x.SR.get_name_label(vdi["SR"])))
    return sorted(out)


def test_the_xenserver_modules_create_run_reconfigure_template_and_remove_a_vm(xs):
    s = xs.session()
    x = s.xenapi
    sr = x.SR.get_by_name_label("Local storage")[0]
    allocated = int(x.SR.get_virtual_allocation(sr))

    results = play(xs, "facts,create")
    facts = results["Host facts"]["ansible_facts"]
    assert {"xs_networks", "xs_pifs", "xs_vms", "xs_srs"} <= set(facts)
    assert "Local storage" in facts["xs_srs"] and facts["xs_pifs"]
    assert {r["name_label"] for r in x.network.get_all_records().values()} == set(facts["xs_networks"])
    instance = results["Create a VM from a template with two disks and two NICs"]["instance"]
    assert instance["state"] == "poweredoff" and instance["hardware"]["num_cpus"] == 2
    vm = vm_named(x, VM)
    record = x.VM.get_record(vm)
    assert record["VCPUs_max"] == "2" and int(record["memory_static_max"]) == 2 * GIB
    assert int(record["memory_dynamic_max"]) == 2 * GIB and record["power_state"] == "Halted"
    assert disks(x, vm) == [("0", 4 * GIB, "Local storage"), ("1", 2 * GIB, "Local storage")]
    vifs = sorted((x.VIF.get_record(v) for v in record["VIFs"]), key=lambda r: r["device"])
    assert [v["device"] for v in vifs] == ["0", "1"]
    assert {x.network.get_name_label(v["network"]) for v in vifs} == {"Pool-wide network associated with eth0"}
    # The static addresses go to the guest through xenstore_data (the module's "custom" agent).
    data = record["xenstore_data"]
    assert data["vm-data/networks/0/ip"] == "192.168.10.20" and data["vm-data/networks/1/ip"] == "192.168.20.20"
    assert data["vm-data/networks/0/mac"] == vifs[0]["MAC"] and data["vm-data/networks/1/gateway"] == "192.168.20.1"
    info = results["Guest info"]["instance"]
    assert info["uuid"] == record["uuid"] and len(info["disks"]) == 2 and len(info["networks"]) == 2
    assert int(x.SR.get_virtual_allocation(sr)) == allocated + 6 * GIB

    play(xs, "poweron")
    assert x.VM.get_power_state(vm) == "Running"
    first = x.VM.get_domid(vm)
    # The guest agent now reports feature-static-ip-setting: the module configures the running
    # NIC through VIF.configure_ipv4, and the guest reports the new address.
    results = play(xs, "readdress")
    assert results["Give the second NIC a new address while running"]["changed"]
    nic = [v for v in x.VM.get_VIFs(vm) if x.VIF.get_device(v) == "1"][0]
    assert x.VIF.get_ipv4_addresses(nic) == ["192.168.30.20/24"] and x.VIF.get_ipv4_gateway(nic) == "192.168.30.1"
    metrics = x.VM.get_guest_metrics(vm)
    assert wait_for(x, ["vm_guest_metrics"], lambda: x.VM_guest_metrics.get_networks(metrics).get("1/ipv4/0") == "192.168.30.20")
    play(xs, "restart")
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_domid(vm) != first
    play(xs, "shutdown")
    assert x.VM.get_power_state(vm) == "Halted"
    results = play(xs, "poweroff")
    assert x.VM.get_power_state(vm) == "Halted" and not results["Power off"]["changed"]

    results = play(xs, "reconfigure")
    assert results["Reconfigure memory, vCPUs and disk size"]["changed"]
    record = x.VM.get_record(vm)
    assert record["VCPUs_max"] == "4" and record["VCPUs_at_startup"] == "4"
    assert int(record["memory_static_max"]) == 3 * GIB and int(record["memory_dynamic_min"]) == 3 * GIB
    assert disks(x, vm) == [("0", 6 * GIB, "Local storage"), ("1", 2 * GIB, "Local storage")]
    assert int(x.SR.get_virtual_allocation(sr)) == allocated + 8 * GIB

    play(xs, "template")
    assert x.VM.get_is_a_template(vm) is True
    copy = vm_named(x, VM + "-2")
    assert x.VM.get_power_state(copy) == "Running"
    assert [d[:2] for d in disks(x, copy)] == [("0", 6 * GIB), ("1", 2 * GIB)]
    # And back: the module reconfigures no template, so the way back is XenAPI's.
    x.VM.set_is_a_template(vm, False)
    assert x.VM.get_is_a_template(vm) is False and "start" in x.VM.get_allowed_operations(vm)

    play(xs, "remove")
    assert x.VM.get_by_name_label(VM) == [] and x.VM.get_by_name_label(VM + "-2") == []
    assert int(x.SR.get_virtual_allocation(sr)) == allocated
    s.xenapi.session.logout()
