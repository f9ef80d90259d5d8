"""Fixtures that run the real xapi-server binary and connect the official XenAPI module to it."""
import os
import shutil
import sys
import time

import pytest
import XenAPI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from xapiserver import BINARY, ROOT, XapiServer, make_dir  # noqa: E402

PASSWORD = "e2e-secret"


class Server(XapiServer):
    """A server for one test (or module), in `state_dir`."""

    def __init__(self, state_dir, in_memory=False, demo_vms=5, extra=(), socket_path=None):
        super().__init__(state_dir, PASSWORD, in_memory=in_memory, demo_vms=demo_vms, extra=extra, socket_path=socket_path)
        self.state_dir = state_dir

    def session(self, url=None):
        return super().session(url, originator="e2e")


def make_state_dir():
    return make_dir("xapi-e2e-")


@pytest.fixture
def state_dir():
    d = make_state_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    """A shared server for tests that do not care about each other's changes."""
    d = make_state_dir()
    srv = Server(d, in_memory=True).start()
    yield srv
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def session(server):
    s = server.session()
    yield s
    try:
        s.xenapi.session.logout()
    except Exception:
        pass


def ordinary_vms(session):
    return sorted(ref for ref, r in session.xenapi.VM.get_all_records().items()
                  if not r["is_a_template"] and not r["is_control_domain"])


# Simulated hosts that answer at once, and guest agents that report once.
FAST = ["--simulation", "instant", "--guest-agent-period", "0"]


def fast_server(demo_vms):
    """A module's own fast server (`yield from fast_server(n)` in a module-scoped fixture)."""
    d = make_state_dir()
    srv = Server(d, in_memory=True, demo_vms=demo_vms, extra=FAST).start()
    yield srv
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


def failure(call, *args):
    """The XenAPI error details of a call that must fail."""
    with pytest.raises(XenAPI.Failure) as info:
        call(*args)
    return info.value.details


def wait_for(x, classes, predicate, timeout=20):
    """Whether `predicate` holds within `timeout` seconds, re-checked after each `event.from`
    batch on `classes` (object subscriptions such as "vm/<ref>" keep batches small): the
    test waits on the server's events, never polls."""
    deadline = time.monotonic() + timeout
    token = x.event_from(classes, "", 0.0)["token"]
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        token = x.event_from(classes, token, remaining)["token"]
    return True
