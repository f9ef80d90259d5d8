"""Issue 26: no call leaves a dangling reference. Each destroy xapi refuses is refused with xapi's
error and changes nothing; each cascade takes what xapi's takes; a seeded random walk over
create / destroy / plug / unplug / start / shutdown / clone keeps GET /diagnostics?check=refs
clean after every step, and so does the database a kill -9 leaves behind."""
import json
import os
import random
import signal
import urllib.error
import urllib.request

import pytest
import XenAPI

from conftest import FAST, Server, failure, fast_server, ordinary_vms

# The classes a destroy touches, compared whole before and after a refusal.
COMPARED = ["VM", "VBD", "VIF", "VDI", "network", "PIF", "PBD", "SR", "console", "VM_metrics", "secret"]


@pytest.fixture(scope="module")
def fast():
    """A server whose simulated hosts answer at once."""
    yield from fast_server(3)


def reference_faults(server):
    with urllib.request.urlopen(server.url + "diagnostics?check=refs", timeout=20) as response:
        report = json.load(response)["refs"]
    assert report["count"] == len(report["faults"])
    return report["faults"]


def everything(x):
    return {cls: getattr(x, cls).get_all_records() for cls in COMPARED}


def test_refused_destroys_change_nothing(fast):
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[0]
    x.VM.start(vm, False, False)
    record = x.VM.get_record(vm)
    vbd = next(v for v in record["VBDs"] if x.VBD.get_currently_attached(v))
    vif = record["VIFs"][0]
    network = x.VIF.get_network(vif)
    pbd = next(p for p in x.PBD.get_all() if x.PBD.get_currently_attached(p))
    before = everything(x)

    assert failure(x.VBD.destroy, vbd) == [
        "OPERATION_NOT_ALLOWED", "VBD '%s' still attached to '%s'" % (x.VBD.get_uuid(vbd), record["uuid"])]
    assert failure(x.VIF.destroy, vif) == ["OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM"]
    # xapi looks at the network's connected VIFs first, then at its PIFs.
    assert failure(x.network.destroy, network) == ["NETWORK_CONTAINS_VIF", vif]
    assert failure(x.PBD.destroy, pbd) == ["OPERATION_NOT_ALLOWED", "PBD is currently attached"]
    assert everything(x) == before

    x.VM.hard_shutdown(vm)
    pifs = x.network.get_PIFs(network)
    assert pifs
    before = everything(x)
    assert failure(x.network.destroy, network) == ["NETWORK_CONTAINS_PIF"] + pifs
    assert everything(x) == before
    assert x.PIF.get_network(pifs[0]) == network
    x.network.get_record(network)
    assert reference_faults(fast) == []


def test_destroying_a_halted_vm_takes_its_devices_and_keeps_its_disks(fast):
    s = fast.session()
    x = s.xenapi
    vm = x.VM.clone(ordinary_vms(s)[1], "doomed")
    x.VM.start(vm, False, False)            # consoles, metrics and guest metrics appear
    x.VM.hard_shutdown(vm)
    record = x.VM.get_record(vm)
    vdis = [x.VBD.get_VDI(v) for v in record["VBDs"]]
    assert record["VBDs"] and record["VIFs"]
    x.VM.destroy(vm)
    for cls, refs in [("VBD", record["VBDs"]), ("VIF", record["VIFs"]), ("console", record["consoles"]),
                      ("VM_metrics", [record["metrics"]]), ("VM_guest_metrics", [record["guest_metrics"]])]:
        for ref in refs:
            if ref != "OpaqueRef:NULL":
                assert failure(getattr(x, cls).get_record, ref)[0] == "HANDLE_INVALID", cls
    for vdi in vdis:
        if vdi != "OpaqueRef:NULL":
            x.VDI.get_record(vdi)            # the disks stay
    assert reference_faults(fast) == []


def test_destroying_a_cloned_vm_rebases_its_clones(fast):
    s = fast.session()
    x = s.xenapi
    origin = ordinary_vms(s)[2]
    middle = x.VM.clone(origin, "middle")
    child = x.VM.clone(middle, "child")
    assert x.VM.get_parent(child) == middle
    x.VM.destroy(middle)
    assert x.VM.get_parent(child) == origin
    assert child in x.VM.get_children(origin)
    x.VM.destroy(child)
    assert reference_faults(fast) == []


def test_unknown_checks_are_refused(fast):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(fast.url + "diagnostics?check=refs,everything", timeout=20)
    assert info.value.code == 400
    assert "unknown check" in info.value.read().decode()


# --- the random walk -----------------------------------------------------------------------------

STEPS = int(os.environ.get("XAPI_REFS_STEPS", "1500"))


class Walk:
    """Random calls over VMs, VBDs, VIFs, VDIs, networks and PBDs. Any XenAPI error is a valid
    answer; what must hold is the invariant after every step."""

    def __init__(self, x, rng):
        self.x = x
        self.rng = rng
        self.sr = x.pool.get_default_SR(x.pool.get_all()[0])
        self.host = x.host.get_all()[0]
        self.gone = "OpaqueRef:00000000-0000-0000-0000-00000000dead"

    def pick(self, cls, where=None):
        """A random object of `cls`, filtered on the server by a where-expression; None if none."""
        api = getattr(self.x, cls)
        refs = sorted(api.get_all_where(where) if where else api.get_all())
        return self.rng.choice(refs) if refs else None

    def vm(self):
        return self.pick("VM", 'field "is_a_template" = "false" and field "is_control_domain" = "false"')

    def room(self, cls, limit):
        """Whether `cls` has fewer than `limit` objects: the walk stays small, so each step and
        each check cost the same from the first step to the last."""
        return len(getattr(self.x, cls).get_all()) < limit

    def step(self):
        x, rng = self.x, self.rng
        action = rng.choice([
            "clone_vm", "destroy_vm", "start_vm", "shutdown_vm", "create_vdi", "destroy_vdi", "create_vbd",
            "destroy_vbd", "plug_vbd", "unplug_vbd", "create_vif", "destroy_vif", "plug_vif", "unplug_vif",
            "create_network", "destroy_network", "create_pbd", "destroy_pbd", "snapshot_vm", "clone_vdi",
            "set_affinity",
        ])
        vm = self.vm() if action in ("clone_vm", "snapshot_vm", "start_vm", "shutdown_vm", "create_vbd", "create_vif",
                                     "set_affinity") else None
        if action == "clone_vm" and vm and self.room("VM", 40):
            return action, x.VM.clone(vm, "walk %d" % rng.randrange(10 ** 6))
        if action == "snapshot_vm" and vm and self.room("VM", 40):
            return action, x.VM.snapshot(vm, "snap %d" % rng.randrange(10 ** 6))
        if action == "destroy_vm":
            target = self.pick("VM", 'field "is_control_domain" = "false" and field "is_default_template" = "false"')
            return action, target and x.VM.destroy(target)
        if action == "start_vm" and vm:
            return action, x.VM.start(vm, False, False)
        if action == "shutdown_vm" and vm:
            return action, x.VM.hard_shutdown(vm)
        if action == "create_vdi" and self.room("VDI", 60):
            return action, x.VDI.create({"name_label": "walk", "SR": self.sr, "virtual_size": str(2 ** 30), "type": "user",
                                         "sharable": False, "read_only": False, "other_config": {}})
        if action == "destroy_vdi":
            vdi = self.pick("VDI")
            return action, vdi and x.VDI.destroy(vdi)
        if action == "clone_vdi" and self.room("VDI", 60):
            vdi = self.pick("VDI")
            return action, vdi and x.VDI.clone(vdi, {})
        if action == "set_affinity" and vm:
            # A live host, none, or a ref to nothing, which must be refused.
            host = rng.choice([self.host, "OpaqueRef:NULL", self.gone])
            return action, x.VM.set_affinity(vm, host)
        if action == "create_vbd" and vm and self.room("VBD", 60):
            vdi = rng.choice([self.pick("VDI"), self.pick("VDI"), self.gone])
            return action, x.VBD.create({
                "VM": vm, "VDI": vdi or "OpaqueRef:NULL", "userdevice": str(rng.randrange(1, 12)), "bootable": False,
                "mode": "RW", "type": "Disk" if vdi else "CD", "unpluggable": True, "empty": vdi is None,
                "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
        if action in ("destroy_vbd", "plug_vbd", "unplug_vbd"):
            vbd = self.pick("VBD")
            call = {"destroy_vbd": x.VBD.destroy, "plug_vbd": x.VBD.plug, "unplug_vbd": x.VBD.unplug}[action]
            return action, vbd and call(vbd)
        if action == "create_vif" and vm and self.room("VIF", 40):
            network = self.pick("network")
            return action, network and x.VIF.create({
                "device": str(rng.randrange(1, 7)), "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
        if action in ("destroy_vif", "plug_vif", "unplug_vif"):
            vif = self.pick("VIF")
            call = {"destroy_vif": x.VIF.destroy, "plug_vif": x.VIF.plug, "unplug_vif": x.VIF.unplug}[action]
            return action, vif and call(vif)
        if action == "create_network" and self.room("network", 10):
            return action, x.network.create({"name_label": "walk", "other_config": {}})
        if action == "destroy_network":
            network = self.pick("network")
            return action, network and x.network.destroy(network)
        if action == "create_pbd" and self.room("PBD", 6):
            return action, x.PBD.create({"host": self.host, "SR": self.sr, "device_config": {}})
        if action == "destroy_pbd":
            pbd = self.pick("PBD")
            return action, pbd and x.PBD.destroy(pbd)
        return action, None


def run_walk(server, seed, steps):
    s = server.session()
    walk = Walk(s.xenapi, random.Random(seed))
    for n in range(steps):
        try:
            action, result = walk.step()
        except XenAPI.Failure as error:
            action, result = "refused", error.details
        faults = reference_faults(server)
        assert faults == [], "seed %d (replay: XAPI_REFS_SEED=%d), step %d %s -> %r: %s" % (
            seed, seed, n, action, result, json.dumps(faults[:5]))
    return s


def walk_seed():
    seed = int(os.environ.get("XAPI_REFS_SEED", random.randrange(2 ** 31)))
    print("random walk seed: %d (replay with XAPI_REFS_SEED=%d)" % (seed, seed))
    return seed


def test_a_random_walk_leaves_no_dangling_reference_even_after_kill_minus_nine(state_dir):
    seed = walk_seed()
    server = Server(state_dir, demo_vms=4, extra=FAST).start()
    try:
        run_walk(server, seed, STEPS)
    finally:
        server.stop(signal.SIGKILL)
    again = Server(state_dir, demo_vms=4, extra=FAST).start()
    try:
        assert reference_faults(again) == [], "seed %d: after kill -9 and restart" % seed
    finally:
        again.stop()
