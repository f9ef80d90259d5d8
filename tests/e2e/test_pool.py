"""Issue 13: a pool of several hosts in one process (`--hosts N`), each with its own hypervisor,
xenopsd, xenstore (its own socket) and events loop; VMs placed over the pool as xapi's
placement does (xapi_vm_helpers.ml choose_host_for_vm, vm_placement.ml), or where the client
asks (VM.start_on, VM.resume_on)."""
import collections
import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from conftest import BINARY, FAST, Server, failure, make_state_dir, ordinary_vms, wait_for


@pytest.fixture(scope="module")
def pool():
    d = make_state_dir()
    srv = Server(d, in_memory=True, demo_vms=30, extra=FAST + ["--hosts", "3"]).start()
    yield srv
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


def names(x):
    return {h: r["name_label"] for h, r in x.host.get_all_records().items()}


def diagnostics(srv):
    with urllib.request.urlopen("http://127.0.0.1:%d/diagnostics" % srv.port) as response:
        return json.loads(response.read())


def test_every_host_has_its_own_records_and_the_pool_shares_storage_and_networks(pool):
    x = pool.session().xenapi
    hosts = x.host.get_all_records()
    assert len(hosts) == 3
    master = x.pool.get_master(x.pool.get_all()[0])
    assert hosts[master]["name_label"] == "xapi-swift"
    assert sorted(r["name_label"] for r in hosts.values()) == ["xapi-swift", "xapi-swift-2", "xapi-swift-3"]
    assert len({r["uuid"] for r in hosts.values()}) == 3
    for host, record in hosts.items():
        assert x.host_metrics.get_live(record["metrics"]) is True and record["enabled"] is True
        assert len(record["host_CPUs"]) == 8
        dom0 = record["control_domain"]
        assert x.VM.get_resident_on(dom0) == host and x.VM.get_is_control_domain(dom0) is True
        pifs = [x.PIF.get_record(p) for p in record["PIFs"]]
        assert [p["device"] for p in pifs] == ["eth0"] and pifs[0]["management"] is True
        local = [x.PBD.get_SR(p) for p in record["PBDs"] if x.SR.get_type(x.PBD.get_SR(p)) == "ext"]
        assert len(local) == 1 and x.SR.get_shared(local[0]) is False
    # The management network has a PIF on every host, each with its own MAC.
    network = x.PIF.get_network(hosts[master]["PIFs"][0])
    pifs = x.network.get_PIFs(network)
    assert len(pifs) == 3 and len({x.PIF.get_MAC(p) for p in pifs}) == 3
    shared = [sr for sr, r in x.SR.get_all_records().items() if r["type"] == "nfs"]
    assert len(shared) == 1 and x.SR.get_shared(shared[0]) is True
    assert {x.PBD.get_host(p) for p in x.SR.get_PBDs(shared[0])} == set(hosts)
    assert x.pool.get_default_SR(x.pool.get_all()[0]) == shared[0]


def test_placement_spreads_vms_and_each_host_runs_its_own(pool):
    s = pool.session()
    x = s.xenapi
    vms = ordinary_vms(s)[:24]
    for vm in vms:
        x.VM.start(vm, False, False)
    where = {vm: x.VM.get_resident_on(vm) for vm in vms}
    hosts = set(x.host.get_all())
    assert set(where.values()) <= hosts
    # xapi's placement draws among the roomiest hosts (the master at half value): more than
    # one host takes VMs, and each host lists its own.
    counts = collections.Counter(where.values())
    assert len(counts) >= 2, counts
    for host in hosts:
        assert set(x.host.get_resident_VMs(host)) - {x.host.get_control_domain(host)} == {v for v in vms if where[v] == host}
    # Each host's domains are numbered by its own hypervisor.
    by_host = collections.defaultdict(list)
    for vm in vms:
        by_host[where[vm]].append(int(x.VM.get_domid(vm)))
    for domids in by_host.values():
        assert len(set(domids)) == len(domids)
    for vm in vms:
        x.VM.hard_shutdown(vm)


def test_start_on_and_resume_on_go_where_asked(pool):
    s = pool.session()
    x = s.xenapi
    vm = ordinary_vms(s)[25]
    hosts = sorted(x.host.get_all())
    for host in hosts:
        x.VM.start_on(vm, host, False, False)
        assert x.VM.get_resident_on(vm) == host and x.VM.get_power_state(vm) == "Running"
        x.VM.hard_shutdown(vm)
    x.VM.start_on(vm, hosts[0], False, False)
    x.VM.suspend(vm)
    assert x.VM.get_resident_on(vm) == "OpaqueRef:NULL"
    x.VM.resume_on(vm, hosts[2], False, False)
    assert x.VM.get_resident_on(vm) == hosts[2] and x.VM.get_power_state(vm) == "Running"
    x.VM.clean_shutdown(vm)
    # A disabled host takes nothing new; placement goes elsewhere.
    x.host.disable(hosts[1])
    try:
        assert failure(x.VM.start_on, vm, hosts[1], False, False) == ["HOST_DISABLED", hosts[1]]
        assert hosts[1] not in x.VM.get_possible_hosts(vm)
        for _ in range(4):
            x.VM.start(vm, False, False)
            assert x.VM.get_resident_on(vm) != hosts[1]
            x.VM.hard_shutdown(vm)
    finally:
        x.host.enable(hosts[1])
    assert failure(x.VM.start_on, vm, "OpaqueRef:nothing", False, False) == ["HANDLE_INVALID", "host", "OpaqueRef:nothing"]


def test_affinity_is_followed_while_the_host_has_room(pool):
    s = pool.session()
    x = s.xenapi
    vm = ordinary_vms(s)[26]
    for host in x.host.get_all():
        x.VM.set_affinity(vm, host)
        for _ in range(3):
            x.VM.start(vm, False, False)
            assert x.VM.get_resident_on(vm) == host
            x.VM.hard_shutdown(vm)
    x.VM.set_affinity(vm, "OpaqueRef:NULL")


def test_a_vm_on_a_local_disk_runs_only_where_the_disk_is(pool):
    s = pool.session()
    x = s.xenapi
    vm = x.VM.clone(ordinary_vms(s)[27], "local disk")
    hosts = sorted(x.host.get_all())
    local = next(x.PBD.get_SR(p) for p in x.host.get_PBDs(hosts[1]) if x.SR.get_type(x.PBD.get_SR(p)) == "ext")
    vdi = x.VDI.create({"name_label": "local", "SR": local, "virtual_size": str(2 ** 30), "type": "user",
                        "sharable": False, "read_only": False, "other_config": {}})
    x.VBD.create({"VM": vm, "VDI": vdi, "userdevice": "1", "bootable": False, "mode": "RW", "type": "Disk",
                  "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    assert x.VM.get_possible_hosts(vm) == [hosts[1]]
    assert failure(x.VM.assert_can_boot_here, vm, hosts[0]) == ["VM_REQUIRES_SR", vm, local]
    assert failure(x.VM.start_on, vm, hosts[2], False, False) == ["VM_REQUIRES_SR", vm, local]
    for _ in range(3):
        x.VM.start(vm, False, False)
        assert x.VM.get_resident_on(vm) == hosts[1]
        x.VM.hard_shutdown(vm)
    x.VM.destroy(vm)


@pytest.mark.skipif(shutil.which("xenstore-ls") is None, reason="needs Debian's xenstore-utils (scripts/test installs it)")
def test_each_host_has_its_own_xenstore_socket_named_in_diagnostics(pool):
    s = pool.session()
    x = s.xenapi
    document = diagnostics(pool)
    hosts = document["hosts"]
    assert [h["xenstore_socket"] for h in hosts] == [
        pool.xenstore_socket, pool.xenstore_socket.replace("xenstored.sock", "xenstored-2.sock"),
        pool.xenstore_socket.replace("xenstored.sock", "xenstored-3.sock")]
    assert {h["ref"] for h in hosts} == set(x.host.get_all())
    assert {h["uuid"] for h in hosts} == {x.host.get_uuid(h) for h in x.host.get_all()}
    for entry in hosts:
        assert {"queues", "workers", "updates", "tasks", "suppressed_vms"} <= set(entry)
    member = hosts[2]
    vm = ordinary_vms(s)[28]
    x.VM.start_on(vm, member["ref"], False, False)
    domid = x.VM.get_domid(vm)
    env = dict(os.environ, XENSTORED_PATH=member["xenstore_socket"])
    listing = subprocess.run(["xenstore-ls", "-f", "/local/domain/%s" % domid], env=env, capture_output=True,
                             text=True, timeout=20)
    assert listing.returncode == 0 and "/vm = \"/vm/%s\"" % x.VM.get_uuid(vm) in listing.stdout
    # The VM's domain lives in its host's xenstore only.
    env = dict(os.environ, XENSTORED_PATH=hosts[1]["xenstore_socket"])
    other = subprocess.run(["xenstore-read", "/local/domain/%s/vm" % domid], env=env, capture_output=True,
                           text=True, timeout=20)
    assert other.returncode != 0 or other.stdout.strip() != "/vm/%s" % x.VM.get_uuid(vm)
    # A guest-agent write on the member's xenstore reaches clients through its events loop.
    metrics = x.VM.get_guest_metrics(vm)
    subprocess.run(["xenstore-write", "/local/domain/%s/attr/vif/0/ipv4/0" % domid, "192.0.2.33",
                    "/local/domain/%s/data/updated" % domid, "1"],
                   env=dict(os.environ, XENSTORED_PATH=member["xenstore_socket"]), check=True, timeout=20)
    assert wait_for(x, ["vm_guest_metrics"], lambda: x.VM_guest_metrics.get_networks(
        x.VM.get_guest_metrics(vm)).get("0/ip") == "192.0.2.33")
    assert metrics != "OpaqueRef:NULL"
    x.VM.hard_shutdown(vm)


def test_hosts_keep_their_identity_over_a_restart_and_a_host_not_run_is_down():
    d = make_state_dir()
    try:
        srv = Server(d, demo_vms=3, extra=FAST + ["--hosts", "2"]).start()
        x = srv.session().xenapi
        before = {x.host.get_uuid(h): h for h in x.host.get_all()}
        member = next(h for u, h in before.items() if h != x.pool.get_master(x.pool.get_all()[0]))
        vm = ordinary_vms(srv.session())[0]
        x.VM.start_on(vm, member, False, False)
        srv.stop()
        srv.start()
        x = srv.session().xenapi
        assert {x.host.get_uuid(h): h for h in x.host.get_all()} == before
        assert x.VM.get_power_state(vm) == "Halted"      # no domain survives a restart
        assert all(x.host_metrics.get_live(x.host.get_metrics(h)) for h in before.values())
        srv.stop()
        # Started again with one host: the member is not run by anything, so it is down.
        srv.args[srv.args.index("--hosts") + 1] = "1"
        srv.start()
        x = srv.session().xenapi
        assert x.host_metrics.get_live(x.host.get_metrics(member)) is False
        assert failure(x.VM.start_on, vm, member, False, False) == ["HOST_NOT_LIVE"]
        x.VM.start(vm, False, False)
        assert x.VM.get_resident_on(vm) != member
        srv.stop()
        srv.args[srv.args.index("--hosts") + 1] = "2"
        srv.start()
        x = srv.session().xenapi
        assert x.host_metrics.get_live(x.host.get_metrics(member)) is True
        x.VM.start_on(vm, member, False, False)
        assert x.VM.get_resident_on(vm) == member
        srv.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def reference_faults(srv):
    with urllib.request.urlopen("http://127.0.0.1:%d/diagnostics?check=refs" % srv.port, timeout=20) as response:
        return json.load(response)["refs"]["faults"]


def test_a_new_master_is_designated_and_a_member_ejected_without_leaving_dangling_references():
    d = make_state_dir()
    try:
        srv = Server(d, in_memory=True, demo_vms=3, extra=FAST + ["--hosts", "3"]).start()
        s = srv.session()
        x = s.xenapi
        pool = x.pool.get_all()[0]
        master = x.pool.get_master(pool)
        members = sorted(h for h in x.host.get_all() if h != master)
        # The role moves to a member, and back.
        x.pool.designate_new_master(members[0])
        assert x.pool.get_master(pool) == members[0]
        x.pool.designate_new_master(master)
        assert x.pool.get_master(pool) == master
        # A member running a VM cannot leave; the master can never be ejected.
        vm = ordinary_vms(s)[0]
        leaving = members[1]
        x.VM.start_on(vm, leaving, False, False)
        assert failure(x.pool.eject, leaving) == ["OPERATION_NOT_ALLOWED", "VM resident on host"]
        assert failure(x.pool.eject, master)[0] == "INTERNAL_ERROR"
        x.VM.pool_migrate(vm, master, {})
        local = next(x.PBD.get_SR(p) for p in x.host.get_PBDs(leaving) if x.SR.get_type(x.PBD.get_SR(p)) == "ext")
        dom0 = x.host.get_control_domain(leaving)
        x.VM.set_affinity(vm, leaving)
        x.pool.eject(leaving)
        assert leaving not in x.host.get_all()
        assert local not in x.SR.get_all() and dom0 not in x.VM.get_all()
        assert x.VM.get_affinity(vm) == "OpaqueRef:NULL"
        assert all(x.PIF.get_host(p) != leaving for p in x.PIF.get_all())
        assert reference_faults(srv) == []
        # The pool goes on without it.
        x.VM.pool_migrate(vm, members[0], {})
        assert x.VM.get_resident_on(vm) == members[0]
        x.VM.hard_shutdown(vm)
        assert failure(x.pool.designate_new_master, "OpaqueRef:nothing") == ["HANDLE_INVALID", "host", "OpaqueRef:nothing"]
        srv.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_pool_size_out_of_range_is_refused_with_a_clear_message():
    for bad in ("0", "65", "-1", "many"):
        out = subprocess.run([BINARY, "--in-memory", "--port", "0", "--password", "x", "--hosts", bad],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0
        assert "--hosts" in out.stderr or "hosts" in out.stderr, out.stderr


def test_pool_messages_refuse_wrong_refs(pool):
    x = pool.session().xenapi
    vm = ordinary_vms(pool.session())[29]
    host = x.host.get_all()[0]
    for call, args, cls in [(x.VM.pool_migrate, (vm, vm, {}), "host"), (x.VM.pool_migrate, (host, host, {}), "VM"),
                            (x.host.evacuate, (vm, "OpaqueRef:NULL", "0"), "host"), (x.pool.eject, (vm,), "host"),
                            (x.pool.designate_new_master, (vm,), "host"), (x.VM.start_on, (vm, vm, False, False), "host"),
                            (x.host.get_vms_which_prevent_evacuation, (vm,), "host")]:
        details = failure(call, *args)
        assert details[0] == "HANDLE_INVALID" and details[1] == cls, (call, details)
