"""Fixtures that run the real xapi-server binary and connect the official XenAPI module to it."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("XAPI_SERVER_BIN", os.path.join(ROOT, ".build", "debug", "xapi-server"))
PASSWORD = "e2e-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One xapi-server process on a free port, with its own state directory."""

    def __init__(self, state_dir, in_memory=False, demo_vms=5, extra=()):
        self.state_dir = state_dir
        self.port = free_port()
        # XenAPI.UDSTransport maps every '_' of the host part to '/', so the path must avoid '_'.
        self.socket_path = os.path.join(state_dir, "xapi.sock")
        self.xenstore_socket = os.path.join(state_dir, "xenstored.sock")
        self.url = "http://127.0.0.1:%d/" % self.port
        self.args = [BINARY, "--host", "127.0.0.1", "--port", str(self.port), "--password", PASSWORD,
                     "--unix-socket", self.socket_path, "--xenstore-socket", self.xenstore_socket,
                     "--demo-vms", str(demo_vms), "--log-level", os.environ.get("XAPI_LOG_LEVEL", "warning")]
        self.args += ["--in-memory"] if in_memory else ["--state-dir", state_dir]
        self.args += list(extra)
        self.process = None

    def start(self, timeout=60):
        self.log = open(os.path.join(self.state_dir, "server.log"), "ab")
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("xapi-server exited with %s; see %s/server.log" % (self.process.returncode, self.state_dir))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("xapi-server did not start listening")

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def session(self, url=None):
        s = XenAPI.Session(url or self.url)
        s.login_with_password("root", PASSWORD, "1.0", "e2e")
        return s

    def local_session(self):
        s = XenAPI.Session("http://" + self.socket_path.replace("/", "_") + "/", transport=XenAPI.UDSTransport())
        s.login_with_password("", "")
        return s


def make_state_dir():
    """A fresh directory whose path has no '_' (see Server.socket_path)."""
    while True:
        d = tempfile.mkdtemp(prefix="xapi-e2e-")
        if "_" not in d:
            return d
        os.rmdir(d)


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
