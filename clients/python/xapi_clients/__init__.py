"""Python clients of xapi-swift built on the official XenAPI module: the `xe` command-line
client (xapi_clients.xe) and the connection settings it shares with the example scripts
(xapi_clients.connection)."""
