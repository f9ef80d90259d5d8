#!/usr/bin/env python3
"""Power-cycle VMs: bring each one down, then start / suspend / resume / shut it down repeatedly.

Templates and control domains are never touched. Between start and suspend the script waits,
with event.from on the VM, until `suspend` appears in its allowed_operations.

    python3 powercycle.py [--vm NAME-OR-UUID] [--iterations N] [--timeout S] [connection options]
"""
import argparse
import os
import sys
import time

import XenAPI

try:
    from xapi_clients import connection
except ImportError:  # running from a checkout without `pip install ./clients/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    from xapi_clients import connection

# Clean shutdown needs guest cooperation; without it fall back to a hard shutdown.
NO_COOPERATION = ("VM_LACKS_FEATURE", "VM_MISSING_PV_DRIVERS")


def shut_down(api, vm):
    try:
        api.VM.clean_shutdown(vm)
    except XenAPI.Failure as e:
        if e.details[:1] and e.details[0] in NO_COOPERATION:
            print("      (no clean shutdown: %s; shutting down hard)" % e.details[0])
            api.VM.hard_shutdown(vm)
        else:
            raise


def wait_for(api, vm, predicate, timeout, what):
    """Blocks on event.from("vm/<ref>") until predicate(record) holds."""
    deadline = time.monotonic() + timeout
    token = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("VM %s: timed out waiting for %s" % (vm, what))
        batch = api.event_from(["vm/" + vm], token, min(remaining, 30.0))
        token = batch["token"]
        for event in batch["events"]:
            if event["ref"] == vm and "snapshot" in event and predicate(event["snapshot"]):
                return event["snapshot"]


def power_down(api, vm, state):
    if state == "Suspended":
        api.VM.resume(vm, False, True)  # start_paused = False, force = True
        shut_down(api, vm)
    elif state == "Paused":
        api.VM.unpause(vm)
        shut_down(api, vm)
    elif state == "Running":
        shut_down(api, vm)


def cycle(api, vm, iterations, timeout):
    for i in range(1, iterations + 1):
        print("  beginning iteration %d" % i)
        print("      starting...")
        api.VM.start(vm, False, True)  # start_paused = False, force = True
        wait_for(api, vm, lambda r: "suspend" in r["allowed_operations"], timeout, "'suspend' to be allowed")
        print("      suspending...")
        api.VM.suspend(vm)
        print("      resuming...")
        api.VM.resume(vm, False, True)
        print("      shutting down...")
        shut_down(api, vm)
        sys.stdout.flush()


def power_cycle_all(api, args):
    vms = api.VM.get_all_records()
    print("Server has %d VM objects (this includes templates):" % len(vms))
    found = 0
    for vm, rec in vms.items():
        if rec["is_a_template"] or rec["is_control_domain"]:
            continue
        if args.vm is not None and args.vm not in (rec["uuid"], rec["name_label"]):
            continue
        found += 1
        name = rec["name_label"]
        print("Found VM uuid %s called %s" % (rec["uuid"], name))
        print("  VM '%s' is in power state '%s'" % (name, rec["power_state"]))
        power_down(api, vm, rec["power_state"])
        cycle(api, vm, args.iterations, args.timeout)
        print("  VM '%s' is %s after %d cycles" % (name, api.VM.get_power_state(vm), args.iterations))
    if found == 0:
        print("No VM matched")
        return 1
    return 0


def main():
    parser = connection.add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--vm", help="only this VM (name-label or uuid); default: every VM")
    parser.add_argument("--iterations", type=int, default=9, help="power cycles per VM (default 9)")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for one state change (default 120 s)")
    args = parser.parse_args()
    return connection.from_arguments(args).run("powercycle.py", lambda api: power_cycle_all(api, args))


if __name__ == "__main__":
    sys.exit(main())
