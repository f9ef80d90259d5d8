"""Runs the real xapi-server binary for tests: on a free port, with its own directory, stopped
with SIGTERM (or any signal). Shared by tests/e2e and clients/python/tests."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("XAPI_SERVER_BIN", os.path.join(ROOT, ".build", "debug", "xapi-server"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_dir(prefix="xapi-test-"):
    """A fresh directory whose path has no '_': XenAPI.UDSTransport maps every '_' of the socket
    path to '/'."""
    while True:
        d = tempfile.mkdtemp(prefix=prefix)
        if "_" not in d:
            return d
        os.rmdir(d)


class XapiServer:
    """One xapi-server process. `in_memory` keeps nothing on disk; otherwise `directory` is its
    state directory."""

    def __init__(self, directory, password, in_memory=True, demo_vms=5, extra=(), socket_path=None):
        if not os.access(BINARY, os.X_OK):
            raise RuntimeError("xapi-server binary not found at %s: run `swift build` or set XAPI_SERVER_BIN" % BINARY)
        self.directory = directory
        self.password = password
        self.port = free_port()
        self.socket_path = socket_path or os.path.join(directory, "xapi.sock")
        self.xenstore_socket = os.path.join(directory, "xenstored.sock")
        self.url = "http://127.0.0.1:%d/" % self.port
        self.args = [BINARY, "--host", "127.0.0.1", "--port", str(self.port), "--password", password,
                     "--unix-socket", self.socket_path, "--xenstore-socket", self.xenstore_socket,
                     "--demo-vms", str(demo_vms), "--log-level", os.environ.get("XAPI_LOG_LEVEL", "warning")]
        self.args += ["--in-memory"] if in_memory else ["--state-dir", directory]
        self.args += list(extra)
        self.process = None
        self.log = None

    def start(self, timeout=60):
        self.log = open(os.path.join(self.directory, "server.log"), "ab")
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("xapi-server exited with %s; see %s/server.log" % (self.process.returncode, self.directory))
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
        if self.log:
            self.log.close()
            self.log = None

    def session(self, url=None, originator="tests"):
        s = XenAPI.Session(url or self.url)
        s.login_with_password("root", self.password, "1.0", originator)
        return s

    def local_session(self):
        s = XenAPI.Session("http://" + self.socket_path.replace("/", "_") + "/", transport=XenAPI.UDSTransport())
        s.login_with_password("", "")
        return s
