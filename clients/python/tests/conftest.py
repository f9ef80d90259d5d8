"""Fixtures: a real xapi-server per test module, and helpers that run `xe` and the example scripts
as separate processes against it (the same way tests/e2e runs the binary)."""
import os
import shutil
import subprocess
import time
import sys

import pytest
import XenAPI

CLIENT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(CLIENT_DIR))
EXAMPLES = os.path.join(CLIENT_DIR, "examples")
PASSWORD = "clients-secret"
DEMO_VMS = 4

sys.path.insert(0, CLIENT_DIR)
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from xapiserver import XapiServer, make_dir  # noqa: E402


class Server(XapiServer):
    """One in-memory xapi-server with its own directory, plus ways to run clients against it."""

    def __init__(self, demo_vms=DEMO_VMS):
        directory = make_dir("xapi-clients-")
        super().__init__(directory, PASSWORD, in_memory=True, demo_vms=demo_vms)
        self.dir = directory

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def session(self):
        return super().session(originator="clients-tests")

    def env(self, **extra):
        """Environment for client processes: the server's port and password, the package on the path."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("XE_")}
        env.update({"XE_HOST": "127.0.0.1", "XE_PORT": str(self.port), "XE_PASSWORD": PASSWORD,
                    "PYTHONPATH": CLIENT_DIR + os.pathsep + env.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"})
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def xe_command(self, *args):
        return [sys.executable, "-m", "xapi_clients.xe"] + list(args)

    def xe(self, *args, env=None, input=None, cwd=None, timeout=60):
        """Runs xe to completion; returns the CompletedProcess (text stdout/stderr, returncode)."""
        return subprocess.run(self.xe_command(*args), env=env or self.env(), input=input, cwd=cwd or self.dir,
                              capture_output=True, text=True, timeout=timeout)

    def example(self, name, *args, env=None, timeout=60):
        return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args), env=env or self.env(),
                              cwd=self.dir, capture_output=True, text=True, timeout=timeout)

    def spawn(self, argv, env=None):
        return subprocess.Popen(argv, env=env or self.env(), cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def spawn_example(self, name, *args):
        return self.spawn([sys.executable, os.path.join(EXAMPLES, name)] + list(args))


@pytest.fixture(scope="module")
def server():
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server():
    """A server of its own, for tests that change or destroy demo objects."""
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server):
    s = server.session()
    yield s.xenapi
    try:
        s.xenapi.session.logout()
    except Exception:
        pass


def ordinary_vms(x):
    """Refs of the demo VMs (not templates, not the control domain), ordered by name."""
    recs = x.VM.get_all_records()
    return sorted((r for r, v in recs.items() if not v["is_a_template"] and not v["is_control_domain"]),
                  key=lambda r: recs[r]["name_label"])


def parse_records(text):
    """xe record blocks -> [[(label, value)]], checking xe's layout on the way."""
    records = []
    for block in [b for b in text.split("\n\n\n") if b.strip()]:
        lines = block.strip("\n").split("\n")
        width = lines[0].index(": ")
        rec = []
        for i, line in enumerate(lines):
            assert line[width:width + 2] == ": ", "misaligned line %r" % line
            label = line[:width]
            assert (label == label.rstrip()) if i else (label == label.lstrip()), "bad padding %r" % line
            rec.append((label.strip(), line[width + 2:]))
        records.append(rec)
    return records


def values(record):
    """{name: value} of a parsed record, qualifiers dropped."""
    return {label.split(" (")[0]: value for label, value in record}


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met within %s s" % timeout)
