"""Before its handshake a connection gets little: a few seconds, small messages, and no way to
lock out the owner by staying idle. Against real programs over their real sockets."""

from __future__ import annotations

import resource
import socket

import pytest

import splice
from conftest import DEADLINE, wait_for
from rawclient import APP, Raw, error_of

HANDSHAKE_DEADLINE = 5.0
MAX_PENDING_FRAME = 64 << 10
IDLE = 1000


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


@pytest.mark.parametrize("listen", ["unix", "tcp:0"])
def test_idle_connections_that_never_greet_leave_the_owner_served(program, listen):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE + 64
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"{IDLE} connections need {wanted} descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    prog = program(APP, env={"SPLICE_LISTEN": listen})
    record = prog.record()
    idle = [Raw(record["address"]) for _ in range(IDLE)]
    try:
        client = splice.Client(record["address"], record.get("token"), timeout=DEADLINE)
        assert client.ping() == {"pid": prog.pid}
        # The oldest idle ones were closed to make room: the agent keeps few of them.
        assert idle[0].receive() is None
    finally:
        for raw in idle:
            raw.close()


def test_a_connection_that_never_greets_is_closed_after_the_deadline(program):
    raw = Raw(program(APP).record()["address"])
    raw.sock.settimeout(HANDSHAKE_DEADLINE + DEADLINE)

    response = raw.receive()

    assert response is not None and error_of(response) == "handshake-required"
    assert "no handshake within" in response["error"]["message"]
    assert raw.receive() is None
    raw.close()


def test_a_large_message_before_the_handshake_ends_the_connection(program, connect):
    address = program(APP).record()["address"]
    raw = connect(address, greet=False)

    raw.send(b'{"id": 1, "method": "handshake", "params": "' + b"x" * MAX_PENDING_FRAME + b'"}')

    response = raw.receive()
    assert response is not None and error_of(response) == "too-large"
    assert raw.receive() is None
    connect(address).assert_alive()


def test_strangers_streaming_large_messages_cost_the_program_little(program):
    prog = program(APP, env={"SPLICE_LISTEN": "tcp:0"})
    host, _, port = prog.record()["address"].partition(":")[2].rpartition(":")
    prog.ready()
    before = vm_rss_kb(prog.pid)
    streams = [socket.create_connection((host, int(port)), timeout=DEADLINE) for _ in range(32)]
    chunk = b"x" * (1 << 20)
    try:
        for sock in streams:
            try:
                for _ in range(8):
                    sock.sendall(chunk)
            except OSError:
                pass  # closed by the agent once past the limit
        grown = vm_rss_kb(prog.pid) - before
        assert grown < 32 * 1024, f"the program grew by {grown} kB"
    finally:
        for sock in streams:
            sock.close()
    wait_for(lambda: splice.Client(prog.record()["address"], prog.record()["token"]).ping(), what="a ping")
