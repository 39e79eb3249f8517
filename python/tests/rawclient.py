"""A client speaking the agent's newline-delimited JSON by hand, for tests of the raw protocol."""

from __future__ import annotations

import json
import socket
from typing import Any, Dict, Optional, Union

import splice
from conftest import DEADLINE

APP = """
import probe
def greet(name):
    return "hello " + name
probe.serve(globals())
"""


class Raw:
    """One connection to an agent, speaking newline-delimited JSON by hand."""

    def __init__(self, address: str):
        kind, _, where = address.partition(":")
        if kind == "unix":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(DEADLINE)
            self.sock.connect(where)
        else:
            host, _, port = where.rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=DEADLINE)
        self.reader = self.sock.makefile("rb")
        self.next_id = 100

    def send(self, *messages: Union[bytes, Dict[str, Any]]) -> None:
        """Sends every message in one write, each on its own line."""
        lines = [m if isinstance(m, bytes) else json.dumps(m).encode() for m in messages]
        self.sock.sendall(b"".join(line + b"\n" for line in lines))

    def receive(self) -> Optional[Dict[str, Any]]:
        """The next response, or None when the agent closed the connection."""
        line = self.reader.readline()
        return json.loads(line) if line else None

    def request(self, method: str, params: Any = None) -> Dict[str, Any]:
        self.next_id += 1
        message: Dict[str, Any] = {"id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        response = self.receive()
        assert response is not None, f"the agent closed the connection, not answering {method}"
        assert response["id"] == self.next_id
        return response

    def handshake(self, version: int = splice.PROTOCOL_VERSION, **extra: Any) -> Dict[str, Any]:
        return self.request("handshake", {"protocol_version": version, "client": "tests", **extra})

    def assert_alive(self) -> None:
        assert "result" in self.request("ping"), "the connection no longer answers"

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def error_of(response: Dict[str, Any]) -> str:
    assert "error" in response, f"expected an error, got {response}"
    return response["error"]["code"]
