"""A minimal xenstore wire-protocol client (16-byte header, NUL-separated payload), enough for the
end-to-end tests to watch a path and read values through the server's xenstore socket."""
import socket
import struct

READ, WATCH, WATCH_EVENT, ERROR = 2, 4, 15, 16


class XenstoreClient:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""
        self.events = []

    def _send(self, kind, payload):
        self.sock.sendall(struct.pack("<IIII", kind, 0, 0, len(payload)) + payload)

    def _recv_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("xenstore closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _message(self):
        kind, _, _, length = struct.unpack("<IIII", self._recv_exact(16))
        return kind, self._recv_exact(length)

    def _reply(self):
        """The reply to the last request; watch events arriving meanwhile are kept."""
        while True:
            kind, payload = self._message()
            if kind == WATCH_EVENT:
                self.events.append(payload.split(b"\0")[0].decode())
                continue
            return kind, payload

    def read(self, path):
        self._send(READ, path.encode() + b"\0")
        kind, payload = self._reply()
        return None if kind == ERROR else payload.decode()

    def watch(self, path, token="t"):
        self._send(WATCH, path.encode() + b"\0" + token.encode() + b"\0")
        kind, payload = self._reply()
        assert kind == WATCH, payload

    def next_event(self, timeout):
        if self.events:
            return self.events.pop(0)
        self.sock.settimeout(timeout)
        try:
            kind, payload = self._message()
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(None)
        assert kind == WATCH_EVENT
        return payload.split(b"\0")[0].decode()

    def close(self):
        self.sock.close()
