"""Where the server is and how to log in to it.

`xe` and the example scripts resolve the same settings in the same order: command-line option,
then `XE_*` environment variable, then the defaults of the README's demo server (127.0.0.1:8080,
user root, the password the server generated into ``./state/password``).
"""
import http.client
import os
import socket
import urllib.parse

import XenAPI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_USER = "root"
# The server keeps its generated password here when run with the default --state-dir.
STATE_PASSWORD_FILE = os.path.join("state", "password")


class SettingsError(Exception):
    """A setting that cannot be used (unreadable password file, bad port, unusable socket path)."""


def read_password_file(path):
    """Returns (user or None, password).

    xe's -pwf files hold the user name on the first line and the password on the second; the
    server's state/password holds just the password. Both are accepted.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\r\n") for line in f.read().splitlines()]
    except OSError as e:
        raise SettingsError("Error opening password file '%s': %s" % (path, e.strerror or e))
    lines = [line for line in lines if line != ""]
    if len(lines) >= 2:
        return lines[0], lines[1]
    if len(lines) == 1:
        return None, lines[0]
    raise SettingsError("Password file '%s' is empty" % path)


def parse_port(text):
    try:
        port = int(text)
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536:
        raise SettingsError("Port number must be an integer (1-65535), got '%s'" % text)
    return port


class Settings:
    """A resolved connection: either TCP to host:port (or an explicit URL) or the unix socket."""

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER, password="",
                 unix_socket=None, url=None):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.unix_socket = unix_socket
        self._url = url

    @property
    def url(self):
        if self.unix_socket:
            # XenAPI.UDSHTTPConnection turns every '_' of the host part back into '/'.
            return "http://" + self.unix_socket.replace("/", "_") + "/"
        if self._url:
            return self._url
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d/" % (host, self.port)

    def describe(self):
        return "unix socket " + self.unix_socket if self.unix_socket else self.url

    def session(self, originator="xapi-swift-clients"):
        """A logged-in XenAPI.Session; the unix socket is pre-authenticated as root."""
        if self.unix_socket:
            if "_" in self.unix_socket:
                raise SettingsError("The unix socket path must not contain '_' (XenAPI.UDSTransport "
                                    "maps '_' to '/'): %s" % self.unix_socket)
            s = XenAPI.Session(self.url, transport=XenAPI.UDSTransport())
        else:
            s = XenAPI.Session(self.url)
        s.login_with_password(self.user, self.password or "", "1.0", originator)
        return s

    def run(self, originator, body):
        """Log in, return ``body(api)`` as an exit status, always log out.

        A XenAPI failure is reported on stdout and becomes status 1, Ctrl-C becomes 0: what a
        script run by hand should do.
        """
        session = self.session(originator)
        try:
            return body(session.xenapi)
        except KeyboardInterrupt:
            return 0
        except XenAPI.Failure as e:
            print("Failed: %s" % e.details)
            return 1
        finally:
            session.xenapi.session.logout()

    def http_get(self, path, timeout=30):
        """GET a plain HTTP resource of the server (e.g. /diagnostics); returns (status, body)."""
        if self.unix_socket:
            conn = _UnixHTTPConnection(self.unix_socket, timeout=timeout)
        else:
            parsed = urllib.parse.urlsplit(self.url)
            cls = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
            conn = cls(parsed.hostname, parsed.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def resolve(host=None, port=None, user=None, password=None, password_file=None, unix_socket=None,
            url=None, environ=None):
    """Settings from explicit values (None = not given), then XE_* variables, then defaults."""
    env = os.environ if environ is None else environ
    host = host or env.get("XE_HOST") or DEFAULT_HOST
    port = parse_port(port if port is not None else env.get("XE_PORT", DEFAULT_PORT))
    unix_socket = unix_socket or env.get("XE_UNIX_SOCKET") or None
    file_user = None
    if password is None:
        if password_file:
            file_user, password = read_password_file(password_file)
        elif env.get("XE_PASSWORD") is not None:
            password = env["XE_PASSWORD"]
        elif env.get("XE_PASSWORD_FILE"):
            file_user, password = read_password_file(env["XE_PASSWORD_FILE"])
        elif os.path.isfile(STATE_PASSWORD_FILE):
            file_user, password = read_password_file(STATE_PASSWORD_FILE)
        else:
            password = ""
    for candidate in (user, file_user, env.get("XE_USER"), DEFAULT_USER):
        if candidate is not None:
            user = candidate
            break
    return Settings(host=host, port=port, user=user, password=password, unix_socket=unix_socket, url=url)


def add_arguments(parser):
    """The connection options of xe, for argparse-based scripts."""
    group = parser.add_argument_group("connection (defaults: XE_* variables, then the demo server)")
    group.add_argument("--url", help="server URL, e.g. http://127.0.0.1:8080/ (overrides -s/-p)")
    group.add_argument("-s", dest="host", metavar="HOST", help="server host (XE_HOST, default 127.0.0.1)")
    group.add_argument("-p", dest="port", metavar="PORT", help="server port (XE_PORT, default 8080)")
    group.add_argument("-u", dest="user", metavar="USER", help="user name (XE_USER, default root)")
    group.add_argument("-pw", dest="password", metavar="PASSWORD", help="password (XE_PASSWORD)")
    group.add_argument("-pwf", dest="password_file", metavar="FILE",
                       help="password file (XE_PASSWORD_FILE, default ./state/password)")
    group.add_argument("--unix-socket", metavar="PATH", help="server's unix socket (XE_UNIX_SOCKET); no password needed")
    return parser


def from_arguments(args, environ=None):
    return resolve(host=args.host, port=args.port, user=args.user, password=args.password,
                   password_file=args.password_file, unix_socket=args.unix_socket, url=args.url,
                   environ=environ)
