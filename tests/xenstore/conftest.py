"""Fixtures for the pyxs suite. run.sh starts our xenstored with a dom0 socket at
$XENSTORED_PATH and unprivileged sockets $XS_TEST_DIR/dom<N>.sock (N = 5, 6, 7)."""
import errno
import os
import socket
import struct
import uuid

import pytest
from pyxs import Client
from pyxs.exceptions import PyXSError

SOCKET = os.environ.get("XENSTORED_PATH", "")
TEST_DIR = os.environ.get("XS_TEST_DIR", "")


def domain_socket(domid):
    return os.path.join(TEST_DIR, f"dom{domid}.sock")


@pytest.fixture
def dom0():
    with Client(unix_socket_path=SOCKET) as client:
        yield client


@pytest.fixture
def dom0b():
    """A second dom0 connection (another client racing the first)."""
    with Client(unix_socket_path=SOCKET) as client:
        yield client


@pytest.fixture
def domain():
    """Opens a client acting as an unprivileged domain."""
    clients = []

    def open_domain(domid):
        client = Client(unix_socket_path=domain_socket(domid))
        client.connect()
        clients.append(client)
        return client

    yield open_domain
    for client in clients:
        client.close()


@pytest.fixture
def base(dom0):
    """A fresh absolute test directory, removed afterwards."""
    path = b"/pytest/" + uuid.uuid4().hex[:12].encode()
    dom0.mkdir(path)
    yield path
    dom0.delete(path)


def errno_of(call, *args):
    """The errno a failing xenstore call raised (None if it succeeded)."""
    try:
        call(*args)
    except PyXSError as error:
        return error.args[0]
    return None


class Raw:
    """A raw protocol connection for what client libraries refuse to send."""

    def __init__(self, path=SOCKET):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, op, payload, tx_id=0, rq_id=0, length=None):
        size = len(payload) if length is None else length
        self.sock.sendall(struct.pack("IIII", op, rq_id, tx_id, size) + payload)

    def receive(self):
        while len(self.buffer) < 16:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        op, rq_id, tx_id, size = struct.unpack("IIII", self.buffer[:16])
        while len(self.buffer) < 16 + size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        payload = self.buffer[16 : 16 + size]
        self.buffer = self.buffer[16 + size :]
        return op, rq_id, tx_id, payload

    def call(self, op, payload, tx_id=0, rq_id=0):
        self.send(op, payload, tx_id=tx_id, rq_id=rq_id)
        while True:
            message = self.receive()
            if message[0] != 15:  # skip watch events
                return message

    def is_closed(self):
        try:
            data = self.sock.recv(1)
        except ConnectionResetError:
            return True
        return data == b""

    def close(self):
        self.sock.close()


@pytest.fixture
def raw():
    connections = []

    def open_raw(path=SOCKET):
        connection = Raw(path)
        connections.append(connection)
        return connection

    yield open_raw
    for connection in connections:
        connection.close()


ERRNO = errno
