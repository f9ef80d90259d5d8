"""How xe follows the task of an Async call (vm-start, vm-shutdown, ...): event.from on the task,
its error raised as the command's error, the task destroyed afterwards. The tasks here are made
with task.create and completed by another session, as an operation would."""
import io
import threading
import time

import pytest
import XenAPI

from xapi_clients import connection, xe


def context(server, **params):
    settings = connection.Settings(port=server.port, password="")
    return xe.Context(settings, list(params.items()), xe.Printer(io.StringIO(), False), server.session())


def complete_later(server, task, status, error_info=(), result="", delay=0.5):
    def run():
        x = server.session().xenapi
        time.sleep(delay)
        x.task.set_progress(task, 0.5)
        time.sleep(0.2)
        if error_info:
            x.task.set_error_info(task, list(error_info))
        x.task.set_result(task, result)
        x.task.set_progress(task, 1.0)
        x.task.set_status(task, status)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def exists(api, task):
    try:
        api.task.get_record(task)
        return True
    except XenAPI.Failure:
        return False


def test_success_returns_the_result_and_destroys_the_task(server, api):
    task = api.task.create("Async.VM.start", "")
    worker = complete_later(server, task, "success", result="<value></value>")
    ctx = context(server)
    start = time.time()
    assert xe.wait_for_task(ctx, task) == "<value></value>"
    assert time.time() - start >= 0.6
    worker.join()
    assert not exists(api, task)


def test_failure_raises_the_task_error(server, api):
    vm = api.VM.get_all()[0]
    task = api.task.create("Async.VM.start", "")
    worker = complete_later(server, task, "failure", error_info=["VM_BAD_POWER_STATE", vm, "halted", "running"])
    with pytest.raises(XenAPI.Failure) as e:
        xe.wait_for_task(context(server), task)
    worker.join()
    assert e.value.details == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert not exists(api, task)
    # Printed the way the command prints it: the ref as "uuid (name-label)".
    lookup = xe.Lookup(api)
    assert xe.describe_failure(lookup, e.value) == (
        "Error code: VM_BAD_POWER_STATE\nError parameters: %s (%s), halted, running"
        % (api.VM.get_uuid(vm), api.VM.get_name_label(vm)))


def test_cancelled_task_is_task_cancelled(server, api):
    task = api.task.create("Async.VM.start", "")
    worker = complete_later(server, task, "cancelled", delay=0.1)
    with pytest.raises(XenAPI.Failure) as e:
        xe.wait_for_task(context(server), task)
    worker.join()
    assert e.value.details == ["TASK_CANCELLED", task]


def test_progress_is_drawn_on_stderr(server, api, capsys):
    task = api.task.create("Async.VM.start", "")
    worker = complete_later(server, task, "success", delay=0.2)
    xe.wait_for_task(context(server, progress="true"), task)
    worker.join()
    err = capsys.readouterr().err
    assert "\r  50% " + "#" * 35 in err and err.endswith("\n")
