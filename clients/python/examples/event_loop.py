#!/usr/bin/env python3
"""The event loop of the seed document ("Sending events from the xenapi"), ported to Python 3.

Registers for VM and pool events with the legacy event.register / event.next API and prints
each event; on EVENTS_LOST it registers again. Only the syntax was changed (print function,
`except ... as e`), plus the typo `operatoin` and the format string that had one argument too
many; the connection comes from the command line instead of "http://xshost", --count bounds the
loop for tests, and failures other than EVENTS_LOST end the script instead of being retried
silently forever.

    python3 event_loop.py [--count N] [connection options, see --help]
"""
import argparse
import os
import sys

import XenAPI

try:
    from xapi_clients import connection
except ImportError:  # running from a checkout without `pip install ./clients/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    from xapi_clients import connection


def main():
    parser = connection.add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--count", type=int, help="stop after this many event.next batches (default: run forever)")
    args = parser.parse_args()

    session = connection.from_arguments(args).session("seed-event-loop")
    batches = 0
    try:
        session.xenapi.event.register(["VM","pool"]) # register for events in the pool and VM objects
        while args.count is None or batches < args.count:
          try:
            events = session.xenapi.event.next() # block until a xapi event on a xapi DB object is available
            batches += 1
            for event in events:
              print("received event op=%s class=%s ref=%s" % (event['operation'], event['class'], event['ref']))
              if event['class'] == 'vm' and event['operation'] == 'mod':
                vm = event['snapshot']
                print("xapi-event on vm: vm_uuid=%s, power_state=%s, current_operation=%s" % (vm['uuid'],vm['power_state'],list(vm['current_operations'].values())))
          except XenAPI.Failure as e:
            if len(e.details) > 0 and e.details[0] == 'EVENTS_LOST':
              session.xenapi.event.unregister(["VM","pool"])
              session.xenapi.event.register(["VM","pool"])
            else:
              raise
    except KeyboardInterrupt:
        pass
    finally:
        session.xenapi.session.logout()


if __name__ == "__main__":
    main()
