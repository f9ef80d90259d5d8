#!/usr/bin/env python3
"""Watch every event of the server with event.from(["*"], token, timeout).

The first call, with an empty token, returns every object as an `add`; each later call returns
only what changed since the token it was given (one event per changed object), or nothing when
the timeout passes first.

    python3 watch_all_events.py [--iterations N] [--timeout S] [--interval S] [connection options]
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

ROW = "%8s  %20s  %5s  %s"


def print_batch(events):
    print("Number of events retrieved: %d" % len(events))
    if not events:
        return
    header = ROW % ("id", "class", "type", "name of object (if available)")
    print("-" * len(header))
    print(header)
    print("-" * len(header))
    for event in events:
        name = event.get("snapshot", {}).get("name_label", "n/a")
        print(ROW % (event["id"], event["class"], event["operation"], name))


def watch(session, iterations, timeout, interval):
    token = ""
    done = 0
    while iterations is None or done < iterations:
        print("Waiting for events (up to %g s)..." % timeout)
        sys.stdout.flush()
        batch = session.xenapi.event_from(["*"], token, timeout)
        token = batch["token"]
        print_batch(batch["events"])
        sys.stdout.flush()
        done += 1
        if interval and (iterations is None or done < iterations):
            # Pausing between calls shows coalescing: the next call returns one event per object.
            time.sleep(interval)


def main():
    parser = connection.add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--iterations", type=int, help="number of event.from calls (default: forever)")
    parser.add_argument("--timeout", type=float, default=30.0, help="timeout of each event.from call (default 30)")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds to sleep between calls (default 0)")
    args = parser.parse_args()
    try:
        session = connection.from_arguments(args).session("watch-all-events.py")
    except XenAPI.Failure as e:
        sys.exit("Failed to acquire a session: %s" % e.details)
    try:
        watch(session, args.iterations, args.timeout, args.interval)
    except KeyboardInterrupt:
        pass
    except XenAPI.Failure as e:
        sys.exit("Failed: %s" % e.details)
    finally:
        session.xenapi.session.logout()


if __name__ == "__main__":
    main()
