"""xe event-wait: blocks on event.from until an object matches, or fails after timeout=."""
import time


from conftest import ordinary_vms, wait_until


def test_returns_at_once_when_the_condition_already_holds(server, api):
    vm = ordinary_vms(api)[0]
    start = time.time()
    out = server.xe("event-wait", "class=vm", "uuid=" + api.VM.get_uuid(vm), "power-state=halted")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert time.time() - start < 10


def test_waits_for_a_change_made_by_another_process(server, api):
    vm = ordinary_vms(api)[1]
    uuid = api.VM.get_uuid(vm)
    waiter = server.spawn(server.xe_command("event-wait", "class=vm", "uuid=" + uuid, "name-label=renamed-by-test",
                                            "timeout=30"))
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, "event-wait returned before the change: %s" % (waiter.communicate(),)
        api.VM.set_name_label(vm, "renamed-by-test")
        out, err = waiter.communicate(timeout=15)
        assert (waiter.returncode, out, err) == (0, "", "")
    finally:
        if waiter.poll() is None:
            waiter.kill()
        api.VM.set_name_label(vm, "demo-vm-02")


def test_not_equal_condition(server, api):
    vm = ordinary_vms(api)[2]
    uuid = api.VM.get_uuid(vm)
    waiter = server.spawn(server.xe_command("event-wait", "class=vm", "uuid=" + uuid,
                                            "name-description=/=" + api.VM.get_name_description(vm), "timeout=30"))
    try:
        time.sleep(0.5)
        assert waiter.poll() is None
        api.VM.set_name_description(vm, "something else")
        waiter.communicate(timeout=15)
        assert waiter.returncode == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
    # Like xe's, conditions name whole fields; map keys are not fields.
    out = server.xe("event-wait", "class=vm", "uuid=" + uuid, "other-config:stage=ready", "timeout=1")
    assert out.returncode == 1 and out.stderr == "Error: key missing: other-config:stage\n"


def test_times_out_with_an_error_when_nothing_happens(server, api):
    vm = ordinary_vms(api)[0]
    start = time.time()
    out = server.xe("event-wait", "class=vm", "uuid=" + api.VM.get_uuid(vm), "power-state=running", "timeout=1.5")
    elapsed = time.time() - start
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == ("Error: timed out after 1.5 seconds waiting for an object of class vm with uuid=%s, "
                          "power-state=running\n" % api.VM.get_uuid(vm))
    assert 1.5 <= elapsed < 10
    dashed = server.xe("event-wait", "class=vm", "power-state=paused", "--timeout", "0.5")
    assert dashed.returncode == 1 and "timed out after 0.5 seconds" in dashed.stderr


def test_other_classes_and_bad_keys(server, api):
    host = api.host.get_all()[0]
    out = server.xe("event-wait", "class=host", "name-label=" + api.host.get_name_label(host), "timeout=5")
    assert out.returncode == 0, out.stderr
    sr = server.xe("event-wait", "class=sr", "name-label=Local storage", "timeout=5")
    assert sr.returncode == 0, sr.stderr

    task = api.task.create("event-wait task", "")
    uuid = api.task.get_uuid(task)
    waiter = server.spawn(server.xe_command("event-wait", "class=task", "uuid=" + uuid, "progress=0.500",
                                            "timeout=30"))
    try:
        time.sleep(0.5)
        assert waiter.poll() is None
        api.task.set_progress(task, 0.5)
        waiter.communicate(timeout=15)
        assert waiter.returncode == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
        api.task.destroy(task)

    missing = server.xe("event-wait", "class=vm", "no-such-key=1", "timeout=1")
    assert missing.returncode == 1 and missing.stderr == "Error: key missing: no-such-key\n"
    unsupported = server.xe("event-wait", "class=pool", "timeout=1")
    assert unsupported.returncode == 1
    assert unsupported.stderr == "Error: Cli listening for class 'pool' not currently implemented\n"
    no_class = server.xe("event-wait", "power-state=halted")
    assert no_class.returncode == 1 and no_class.stderr == "Required parameter not found: class\n"


def test_returns_when_another_process_starts_the_vm(server, api):
    vm = ordinary_vms(api)[3]
    uuid = api.VM.get_uuid(vm)
    waiter = server.spawn(server.xe_command("event-wait", "class=vm", "uuid=" + uuid, "power-state=running",
                                            "timeout=60"))
    try:
        time.sleep(1.0)
        assert waiter.poll() is None
        started = server.xe("vm-start", "uuid=" + uuid)
        assert started.returncode == 0, started.stderr
        out, err = waiter.communicate(timeout=30)
        assert (waiter.returncode, out, err) == (0, "", "")
        assert api.VM.get_power_state(vm) == "Running"
    finally:
        if waiter.poll() is None:
            waiter.kill()
        if api.VM.get_power_state(vm) != "Halted":
            api.VM.hard_shutdown(vm)
        wait_until(lambda: api.VM.get_power_state(vm) == "Halted")
