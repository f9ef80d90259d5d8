"""xe's VM operations, asserting xapi's behaviour (VM.start, clone, provision, ...)."""
import pytest
import XenAPI

from conftest import ordinary_vms, parse_records, values, wait_until


def describe(api, vm):
    return "%s (%s)" % (api.VM.get_uuid(vm), api.VM.get_name_label(vm))


def disk_vbd(api, vm):
    return [b for b in api.VM.get_VBDs(vm) if api.VBD.get_type(b) == "Disk"][0]


# --- vm-uninstall (VM.destroy and VDI.destroy) ------------------------------------------------


def test_uninstall_destroys_the_vm_and_keeps_disks_it_does_not_own(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[0]
    uuid, name = api.VM.get_uuid(vm), api.VM.get_name_label(vm)
    vbds = api.VM.get_VBDs(vm)
    disk = api.VBD.get_VDI(disk_vbd(api, vm))
    out = fresh_server.xe("vm-uninstall", "uuid=" + uuid, "--force")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("The following items are about to be destroyed\nVM : %s (%s)\nAll objects destroyed\n"
                          % (uuid, name))
    with pytest.raises(XenAPI.Failure) as e:
        api.VM.get_by_uuid(uuid)
    assert e.value.details[0] == "UUID_INVALID"
    for vbd in vbds:  # destroyed with the VM
        with pytest.raises(XenAPI.Failure):
            api.VBD.get_record(vbd)
    # Without other_config:owner on its VBD the disk is not the VM's to destroy.
    assert api.VDI.get_uuid(disk)


def test_uninstall_destroys_owned_disks(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[1]
    uuid, name = api.VM.get_uuid(vm), api.VM.get_name_label(vm)
    vbd = disk_vbd(api, vm)
    api.VBD.add_to_other_config(vbd, "owner", "")  # as xapi marks the disks it provisions
    vdi = api.VBD.get_VDI(vbd)
    vdi_uuid, vdi_name = api.VDI.get_uuid(vdi), api.VDI.get_name_label(vdi)
    out = fresh_server.xe("vm-uninstall", "vm=" + name, "--force")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("The following items are about to be destroyed\nVM : %s (%s)\nVDI: %s (%s) \n"
                          "All objects destroyed\n" % (uuid, name, vdi_uuid, vdi_name))
    assert fresh_server.xe("vdi-list", "uuid=" + vdi_uuid, "--minimal").stdout == "\n"
    assert fresh_server.xe("vm-list", "uuid=" + uuid, "--minimal").stdout == "\n"


def test_uninstall_asks_for_confirmation(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[2]
    uuid = api.VM.get_uuid(vm)
    refused = fresh_server.xe("vm-uninstall", "uuid=" + uuid, input="no\n")
    assert refused.returncode == 0
    assert refused.stdout.endswith("Type 'yes' to continue\nAborted (you typed: 'no')\n")
    assert api.VM.get_uuid(vm) == uuid
    accepted = fresh_server.xe("vm-uninstall", "uuid=" + uuid, input="yes\n")
    assert accepted.returncode == 0 and accepted.stdout.endswith("All objects destroyed\n")
    assert fresh_server.xe("vm-list", "uuid=" + uuid, "--minimal").stdout == "\n"
    # Templates and the control domain are never selected.
    dom0 = [r for r, v in api.VM.get_all_records().items() if v["is_control_domain"]][0]
    out = fresh_server.xe("vm-uninstall", "uuid=" + api.VM.get_uuid(dom0), "--force")
    assert out.returncode == 1 and out.stderr == "Error: No matching VMs found\n"


# --- lifecycle ---------------------------------------------------------------------------------


def test_vm_start_then_start_again_is_bad_power_state(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[0]
    uuid = api.VM.get_uuid(vm)
    out = fresh_server.xe("vm-start", "uuid=" + uuid)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert api.VM.get_power_state(vm) == "Running"
    assert fresh_server.xe("vm-param-get", "uuid=" + uuid, "param-name=power-state").stdout == "running\n"
    assert fresh_server.xe("vm-list", "power-state=running", "uuid=" + uuid, "--minimal").stdout == uuid + "\n"
    again = fresh_server.xe("vm-start", "uuid=" + uuid)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == ("Error code: VM_BAD_POWER_STATE\nError parameters: %s, halted, running\n"
                            % describe(api, vm))
    # xe follows the task and destroys it afterwards.
    assert not [t for t in api.task.get_all_records().values() if t["name_label"] == "Async.VM.start"]


def test_shutdown_reboot_suspend_resume_pause_unpause(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[1]
    uuid = api.VM.get_uuid(vm)

    def xe_ok(*args):
        out = fresh_server.xe(*args)
        assert (out.returncode, out.stderr) == (0, ""), out.stderr
        return out

    def state():
        return api.VM.get_power_state(vm)

    xe_ok("vm-start", "vm=" + api.VM.get_name_label(vm))
    assert state() == "Running"
    domid = api.VM.get_domid(vm)
    xe_ok("vm-reboot", "uuid=" + uuid)
    assert state() == "Running" and api.VM.get_domid(vm) != domid
    xe_ok("vm-reboot", "uuid=" + uuid, "--force")
    assert state() == "Running"
    xe_ok("vm-pause", "uuid=" + uuid)
    assert state() == "Paused"
    paused = fresh_server.xe("vm-pause", "uuid=" + uuid)
    assert paused.returncode == 1
    assert paused.stderr == "Error code: VM_BAD_POWER_STATE\nError parameters: %s, running, paused\n" % describe(api, vm)
    xe_ok("vm-unpause", "uuid=" + uuid)
    assert state() == "Running"
    xe_ok("vm-suspend", "uuid=" + uuid)
    assert state() == "Suspended"
    xe_ok("vm-resume", "uuid=" + uuid)
    assert state() == "Running"
    xe_ok("vm-shutdown", "uuid=" + uuid)
    assert state() == "Halted"
    halted = fresh_server.xe("vm-shutdown", "uuid=" + uuid)
    assert halted.returncode == 1
    assert halted.stderr == "Error code: VM_BAD_POWER_STATE\nError parameters: %s, running, halted\n" % describe(api, vm)
    xe_ok("vm-start", "uuid=" + uuid)
    xe_ok("vm-shutdown", "uuid=" + uuid, "--force")
    assert state() == "Halted"


def test_multiple_vms_at_once(fresh_server):
    api = fresh_server.session().xenapi
    out = fresh_server.xe("vm-start", "power-state=halted", "is-control-domain=false", "--multiple")
    assert out.returncode == 0, out.stderr
    vms = ordinary_vms(api)
    assert {api.VM.get_power_state(v) for v in vms} == {"Running"}
    out = fresh_server.xe("vm-shutdown", "power-state=running", "--multiple", "--force")
    assert out.returncode == 0, out.stderr
    assert {api.VM.get_power_state(v) for v in vms} == {"Halted"}
    # The control domain is running but never shut down by vm-shutdown.
    dom0 = [r for r, v in api.VM.get_all_records().items() if v["is_control_domain"]][0]
    assert api.VM.get_power_state(dom0) == "Running"


def test_task_cancel_on_a_running_start(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[2]
    task = api.Async.VM.start(vm, False, False)
    out = fresh_server.xe("task-cancel", "uuid=" + api.task.get_uuid(task))
    assert out.returncode == 0, out.stderr
    status = wait_until(lambda: api.task.get_status(task) != "pending" and api.task.get_status(task))
    # The start either noticed the cancellation or had already finished.
    if status == "cancelled":
        assert api.task.get_error_info(task)[0] == "TASK_CANCELLED"
        assert api.VM.get_power_state(vm) == "Halted"
    else:
        assert status == "success" and api.VM.get_power_state(vm) == "Running"
    api.task.destroy(task)


def test_vm_install_clones_and_provisions_the_template(fresh_server):
    api = fresh_server.session().xenapi
    out = fresh_server.xe("vm-install", "template=Debian Bookworm 12", "new-name-label=installed-by-xe")
    assert out.returncode == 0, out.stderr
    uuid = out.stdout.strip()
    vm = api.VM.get_by_uuid(uuid)
    rec = api.VM.get_record(vm)
    assert (rec["name_label"], rec["name_description"]) == ("installed-by-xe", "Installed via xe CLI")
    assert not rec["is_a_template"] and rec["power_state"] == "Halted"
    assert "disks" not in rec["other_config"]
    vbd = disk_vbd(api, vm)
    assert "owner" in api.VBD.get_other_config(vbd)
    vdi = api.VBD.get_VDI(vbd)
    pool = api.pool.get_all()[0]
    assert api.VDI.get_SR(vdi) == api.pool.get_default_SR(pool)
    assert api.VDI.get_virtual_size(vdi) == "10737418240"
    listed = values(parse_records(fresh_server.xe("vm-list", "uuid=" + uuid).stdout)[0])
    assert listed == {"uuid": uuid, "name-label": "installed-by-xe", "power-state": "halted"}

    # Uninstalling takes the provisioned disk with it.
    vdi_uuid = api.VDI.get_uuid(vdi)
    gone = fresh_server.xe("vm-uninstall", "uuid=" + uuid, "--force")
    assert gone.returncode == 0, gone.stderr
    assert "VDI: %s" % vdi_uuid in gone.stdout
    assert fresh_server.xe("vdi-list", "uuid=" + vdi_uuid, "--minimal").stdout == "\n"


def test_vm_install_onto_a_named_sr_and_errors(fresh_server):
    api = fresh_server.session().xenapi
    local = [r for r, v in api.SR.get_all_records().items() if v["name_label"] == "Local storage"][0]
    out = fresh_server.xe("vm-install", "template=Debian Bookworm 12", "new-name-label=copied",
                          "sr-uuid=" + api.SR.get_uuid(local))
    assert out.returncode == 0, out.stderr
    vm = api.VM.get_by_uuid(out.stdout.strip())
    assert api.VDI.get_SR(api.VBD.get_VDI(disk_vbd(api, vm))) == local
    missing = fresh_server.xe("vm-install", "template=No such template", "new-name-label=x")
    assert missing.returncode == 1 and missing.stderr == "Error: No templates matched\n"
    not_template = fresh_server.xe("vm-install", "template-uuid=" + api.VM.get_uuid(ordinary_vms(api)[0]),
                                   "new-name-label=x")
    assert not_template.returncode == 1 and not_template.stderr == "Error: Can only install from templates\n"


def test_vm_clone(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[3]
    out = fresh_server.xe("vm-clone", "uuid=" + api.VM.get_uuid(vm), "new-name-label=the-clone",
                          "new-name-description=cloned by xe")
    assert out.returncode == 0, out.stderr
    clone = api.VM.get_by_uuid(out.stdout.strip())
    assert api.VM.get_name_label(clone) == "the-clone"
    assert api.VM.get_name_description(clone) == "cloned by xe"
    assert len(api.VM.get_VBDs(clone)) == len(api.VM.get_VBDs(vm))
    assert api.VM.get_power_state(clone) == "Halted"
    template = fresh_server.xe("vm-clone", "vm=Debian Bookworm 12", "new-name-label=template-copy")
    assert template.returncode == 0, template.stderr
    assert api.VM.get_is_a_template(api.VM.get_by_uuid(template.stdout.strip()))
