#!/usr/bin/env python3
"""Start a halted VM with Async.VM.start and follow its task until it completes.

Instead of polling task.get_status every second, the task is followed with event.from on
"task/<ref>": each call blocks until the task changes and returns its new record.

    python3 vm_start_async.py [--vm NAME-OR-UUID] [--timeout S] [connection options]
"""
import argparse
import os
import pprint
import sys
import time

try:
    from xapi_clients import connection
except ImportError:  # running from a checkout without `pip install ./clients/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    from xapi_clients import connection


def find_halted_vm(api, wanted=None):
    for ref, rec in api.VM.get_all_records().items():
        if rec["is_a_template"] or rec["is_control_domain"]:
            continue
        if wanted is not None and wanted not in (rec["uuid"], rec["name_label"]):
            continue
        if rec["power_state"] == "Halted":
            return ref, rec
    return None, None


def follow_task(api, task, timeout):
    """Returns the task's final record, printing its progress as events arrive."""
    deadline = time.monotonic() + timeout
    token = ""
    record = api.task.get_record(task)
    while record["status"] == "pending":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("task %s still pending after %g s" % (task, timeout))
        batch = api.event_from(["task/" + task], token, min(remaining, 30.0))
        token = batch["token"]
        for event in batch["events"]:
            if event["ref"] == task and "snapshot" in event:
                record = event["snapshot"]
                print("  task %s: status=%s progress=%.2f" % (record["uuid"], record["status"], float(record["progress"])))
                sys.stdout.flush()
    return record


def start_one(api, args):
    print("Looking for a halted VM...")
    vm, rec = find_halted_vm(api, args.vm)
    if vm is None:
        print("Unable to find a halted VM")
        return 1
    print("Found %s (%s)" % (rec["name_label"], rec["uuid"]))

    print("Attempting to start the halted VM asynchronously")
    task = api.Async.VM.start(vm, False, True)  # start_paused = False, force = True
    print("The initial contents of the task record:")
    pprint.pprint(api.task.get_record(task))

    print("Waiting for the task to complete...")
    final = follow_task(api, task, args.timeout)
    print("The final contents of the task record:")
    pprint.pprint(final)
    api.task.destroy(task)
    if final["status"] != "success":
        print("VM start failed: %s" % final["error_info"])
        return 1
    print("VM %s is now %s" % (rec["name_label"], api.VM.get_power_state(vm)))
    return 0


def main():
    parser = connection.add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--vm", help="name-label or uuid of the VM to start (default: the first halted VM)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds (default 300)")
    args = parser.parse_args()
    return connection.from_arguments(args).run("vm_start_async.py", lambda api: start_one(api, args))


if __name__ == "__main__":
    sys.exit(main())
