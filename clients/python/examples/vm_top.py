#!/usr/bin/env python3
"""A live, top-like view of the VMs and their power states, driven by event.from.

The view is a cache of VM records: the first event.from (empty token) fills it, each later call
blocks until VMs change and updates only those. event.from may silently drop deletions for very
old tokens, so after every batch the cache size is checked against valid_ref_counts["vm"], the
server's count of VM objects; on a mismatch the cache is rebuilt from an empty token.

    python3 vm_top.py [--iterations N] [--timeout S] [--all] [--no-clear] [connection options]
"""
import argparse
import os
import sys
import time

try:
    from xapi_clients import connection
except ImportError:  # running from a checkout without `pip install ./clients/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    from xapi_clients import connection

CLEAR = "\x1b[H\x1b[2J"
ROW = "%-28s %-10s %-36s %-16s %s"


class VmTable:
    """VM records kept current from event.from batches."""

    def __init__(self):
        self.vms = {}
        self.token = ""
        self.resyncs = 0

    def apply(self, batch):
        """Applies one event.from result; returns False when the cache no longer matches the server."""
        for event in batch["events"]:
            if event["class"] != "vm":
                continue
            if event["operation"] == "del":
                self.vms.pop(event["ref"], None)
            elif "snapshot" in event:
                self.vms[event["ref"]] = event["snapshot"]
        self.token = batch["token"]
        expected = batch["valid_ref_counts"].get("vm")
        return expected is None or expected == len(self.vms)

    def resync(self):
        """Forgets everything; the next event.from with the empty token returns every VM again."""
        self.vms = {}
        self.token = ""
        self.resyncs += 1

    def update(self, api, timeout):
        """One event.from call; returns the number of VM events it brought."""
        batch = api.event_from(["vm"], self.token, timeout)
        changed = sum(1 for e in batch["events"] if e["class"] == "vm")
        if not self.apply(batch):
            self.resync()
            self.apply(api.event_from(["vm"], "", 0.0))
        return changed


def render(table, host_names, show_all):
    shown = [r for r in table.vms.values()
             if show_all or not (r["is_a_template"] or r["is_control_domain"])]
    states = {}
    for r in shown:
        states[r["power_state"].lower()] = states.get(r["power_state"].lower(), 0) + 1
    summary = ", ".join("%d %s" % (n, s) for s, n in sorted(states.items()))
    lines = ["%s  %d VMs (%s); %d VM objects on the server%s"
             % (time.strftime("%H:%M:%S"), len(shown), summary or "none", len(table.vms),
                "; resynchronised %d times" % table.resyncs if table.resyncs else ""),
             ROW % ("NAME", "POWER", "UUID", "HOST", "OPERATIONS")]
    for r in sorted(shown, key=lambda r: (r["name_label"], r["uuid"])):
        host = host_names.get(r["resident_on"], "")
        ops = ",".join(sorted(r["current_operations"].values()))
        lines.append(ROW % (r["name_label"][:28], r["power_state"].lower(), r["uuid"], host[:16], ops))
    return "\n".join(lines)


def show(api, args, clear):
    table = VmTable()
    host_names = {ref: rec["name_label"] for ref, rec in api.host.get_all_records().items()}
    done = 0
    while args.iterations is None or done < args.iterations:
        changed = table.update(api, args.timeout)
        done += 1
        if changed or done == 1:
            sys.stdout.write((CLEAR if clear else "") + render(table, host_names, args.all) + "\n\n")
            sys.stdout.flush()
    return 0


def main():
    parser = connection.add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--iterations", type=int, help="number of event.from calls (default: forever)")
    parser.add_argument("--timeout", type=float, default=30.0, help="timeout of each event.from call (default 30)")
    parser.add_argument("--all", action="store_true", help="also show templates and control domains")
    parser.add_argument("--no-clear", action="store_true", help="print frames one after another")
    args = parser.parse_args()
    clear = sys.stdout.isatty() and not args.no_clear
    return connection.from_arguments(args).run("vm_top.py", lambda api: show(api, args, clear))


if __name__ == "__main__":
    sys.exit(main())
