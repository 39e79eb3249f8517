"""The wire protocol as a client sees it: raw bytes over the agent's real socket, and
`splice.Client`, against real programs."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Union

import pytest

import splice
from conftest import DEADLINE, wait_for
from rawclient import APP, Raw, error_of

MAX_FRAME_BYTES = 32 << 20


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait(timeout=DEADLINE)
    return child.pid


# -- handshake --------------------------------------------------------------------------------


def test_handshake_returns_agent_info_and_ping_answers_after_it(program, connect):
    before = time.time()
    prog = program(APP, argv=["app.py", "arg"])
    record = prog.record()
    raw = connect(record["address"], greet=False)

    info = raw.handshake()["result"]

    assert info["pid"] == prog.pid
    assert info["argv"] == ["app.py", "arg"]
    assert info["cwd"] == os.path.realpath(prog.root)
    assert info["python_version"] == prog.eval("__import__('platform').python_version()")
    assert info["protocol_version"] == splice.PROTOCOL_VERSION
    assert info["address"] == record["address"] == f"unix:{prog.runtime_dir}/{prog.pid}.sock"
    assert before <= info["started_at"] <= time.time()
    assert info == record, "the handshake and the record describe the same agent"
    assert raw.request("ping")["result"] == {"pid": prog.pid}
    assert prog.client.agent == info
    assert prog.client.ping() == {"pid": prog.pid}


def test_request_before_handshake_is_refused_and_connection_keeps_working(program, connect):
    raw = connect(program(APP).record()["address"], greet=False)

    response = raw.request("ping")

    assert error_of(response) == "handshake-required"
    assert "result" in raw.handshake()
    raw.assert_alive()


def test_wrong_protocol_version_is_refused_naming_both_versions(program, connect):
    raw = connect(program(APP).record()["address"], greet=False)

    response = raw.handshake(version=999)

    assert error_of(response) == "protocol-mismatch"
    message = response["error"]["message"]
    assert "999" in message and f"speaks {splice.PROTOCOL_VERSION}" in message
    assert error_of(raw.request("ping")) == "handshake-required"
    assert "result" in raw.handshake()


# -- broken requests --------------------------------------------------------------------------

BROKEN = {
    "malformed json": (b'{"id": 7, "method": ', "parse-error", None),
    "not utf-8": (b'{"id": 7, "method": "\xff"}', "parse-error", None),
    "not an object": (b"[1, 2, 3]", "invalid-request", None),
    "no id": (b'{"method": "ping"}', "invalid-request", None),
    "negative id": (b'{"id": -1, "method": "ping"}', "invalid-request", None),
    "no method": (b'{"id": 7}', "invalid-request", 7),
    "unknown method": (b'{"id": 7, "method": "frobnicate"}', "unknown-method", 7),
    "patch without definitions": (
        b'{"id": 7, "method": "patch", "params": {"path": "/x.py"}}',
        "invalid-request",
        7,
    ),
    "params of the wrong type": (
        b'{"id": 7, "method": "loaded", "params": {"path": 3}}',
        "invalid-request",
        7,
    ),
    "handshake without version": (
        b'{"id": 7, "method": "handshake", "params": {}}',
        "invalid-request",
        7,
    ),
}


@pytest.mark.parametrize("line, code, request_id", BROKEN.values(), ids=BROKEN.keys())
def test_broken_request_gets_one_error_and_connection_and_program_keep_working(
    program, connect, line, code, request_id
):
    prog = program(APP)
    raw = connect(prog.record()["address"])

    raw.send(line)
    response = raw.receive()

    assert response is not None and error_of(response) == code
    assert response["id"] == request_id
    raw.assert_alive()
    assert prog.eval("greet('x')") == "hello x"


def test_oversized_message_is_skipped_with_too_large_and_connection_keeps_working(program, connect):
    raw = connect(program(APP).record()["address"])
    padding = b"x" * (MAX_FRAME_BYTES + 1)

    raw.send(b'{"id": 9, "method": "ping", "params": "' + padding + b'"}')

    response = raw.receive()
    assert response is not None and error_of(response) == "too-large"
    assert response["id"] is None
    raw.assert_alive()


def test_truncated_message_gets_truncated_reply_and_agent_keeps_accepting(program, connect):
    prog = program(APP)
    address = prog.record()["address"]
    raw = connect(address)

    raw.sock.sendall(b'{"id": 9, "method": "pi')
    raw.sock.shutdown(socket.SHUT_WR)

    response = raw.receive()
    assert response is not None and error_of(response) == "truncated"
    assert raw.receive() is None, "the agent closes the connection after a truncated message"
    connect(address).assert_alive()
    assert splice.Client(address).ping() == {"pid": prog.pid}


def test_every_pipelined_request_gets_exactly_one_response_in_order(program, connect):
    prog = program(APP)
    prog.ready()  # `__main__` is loaded only once its code runs
    raw = connect(prog.record()["address"], greet=False)
    handshake = {"protocol_version": splice.PROTOCOL_VERSION}
    requests: List[Union[bytes, Dict[str, Any]]] = [
        {"id": 1, "method": "ping"},
        {"id": 2, "method": "handshake", "params": handshake},
        {"id": 3, "method": "ping"},
        b"{not json",
        {"id": 5, "method": "loaded", "params": {"path": prog.path()}},
        {"id": 6, "method": "frobnicate"},
        b"",  # a blank line is not a request
        {"id": 7, "method": "ping", "params": None},
        {"id": 8, "method": "revert", "params": {"path": prog.path(), "qualnames": []}},
        {"id": 9, "method": "ping"},
    ]

    raw.send(*requests)
    raw.sock.shutdown(socket.SHUT_WR)
    responses = list(iter(raw.receive, None))

    answers = [(r["id"], "error" if "error" in r else "result") for r in responses]
    assert answers == [
        (1, "error"),  # before the handshake
        (2, "result"),
        (3, "result"),
        (None, "error"),
        (5, "result"),
        (6, "error"),
        (7, "result"),
        (8, "result"),
        (9, "result"),
    ]
    assert responses[4]["result"]["modules"] == ["__main__"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_agent_keeps_accepting_after_the_program_ran_out_of_descriptors(program, connect):
    prog = program(APP)
    address = prog.record()["address"]
    prog.exec("""
        import os, resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 8, hard))
        held = []
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
    """)
    # The agent has no descriptor to accept it with, or none to serve it with once accepted
    # (Linux reserves the number for an accept already waiting): either way it is dropped.
    starved = Raw(address)
    starved.sock.setblocking(False)

    def dropped() -> bool:
        if any("accept" in line for line in prog.stderr if line):
            return True
        try:
            return starved.sock.recv(1) == b""
        except BlockingIOError:
            return False

    wait_for(dropped, what="the starved connection dropped")
    starved.close()

    prog.exec("""
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for fd in held:
            os.close(fd)
    """)

    connect(address).assert_alive()
    assert splice.Client(address).ping() == {"pid": prog.pid}


# -- the runtime folder -----------------------------------------------------------------------


def test_runtime_folder_socket_and_record_are_private(program):
    prog = program(APP)
    prog.record()

    assert mode(prog.runtime_dir) == 0o700
    assert mode(prog.runtime_dir / f"{prog.pid}.sock") == 0o600
    assert mode(prog.runtime_dir / f"{prog.pid}.json") == 0o600


def test_an_open_runtime_folder_is_refused_and_left_as_it_is(program, runtime_dir):
    """Someone else could have planted records in it: the program runs without an agent and
    says why."""
    runtime_dir.mkdir()
    runtime_dir.chmod(0o755)

    prog = program(APP)
    prog.ready()

    assert mode(runtime_dir) == 0o755
    assert not (runtime_dir / f"{prog.pid}.json").exists()
    wait_for(lambda: "mode 755" in "".join(line for line in prog.stderr if line), what="the refusal on stderr")
    assert prog.eval("greet('x')") == "hello x"


# Runs as root, then connects as nobody: the socket is made before, since after setuid the
# interpreter's own files (under /root) may be out of reach; credentials count from connect().
AS_NOBODY = """
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
sock.settimeout(float(sys.argv[2]))
sock.connect(sys.argv[1])
print("eof" if sock.recv(4096) == b"" else "answered")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_connection_from_another_user_is_closed_without_an_answer(program, workdir, connect):
    prog = program(APP)
    record = prog.record()
    sock_path = prog.runtime_dir / f"{prog.pid}.sock"
    for folder in (workdir, prog.runtime_dir):
        folder.chmod(0o711)
    sock_path.chmod(0o666)

    stranger = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(sock_path), str(DEADLINE)],
        capture_output=True,
        text=True,
        timeout=2 * DEADLINE,
    )

    assert (stranger.stdout, stranger.stderr) == ("eof\n", "")
    connect(record["address"]).assert_alive()


def test_stale_records_are_removed_and_only_live_agents_are_listed(program, runtime_dir):
    runtime_dir.mkdir(mode=0o700)
    stale = dead_pid()
    stale_files = [runtime_dir / f"{stale}.json", runtime_dir / f"{stale}.sock"]
    stale_files[0].write_text(json.dumps({"pid": stale, "address": "unix:/nowhere"}))
    stale_files[1].write_text("")

    prog = program(APP)
    record = prog.record()

    assert not any(path.exists() for path in stale_files)
    assert splice.list_agents(str(runtime_dir)) == [record]
    assert prog.finish() == 0
    assert sorted(os.listdir(runtime_dir)) == []
    assert splice.list_agents(str(runtime_dir)) == []


# -- TCP --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, accepted",
    [(None, False), ("0" * 32, False), ("", False), ("right", True)],
    ids=["no token", "wrong token", "empty token", "right token"],
)
def test_tcp_handshake_needs_the_record_token(program, connect, token, accepted):
    record = program(APP, env={"SPLICE_LISTEN": "tcp:0"}).record()
    assert record["address"].startswith("tcp:127.0.0.1:")
    assert record["address"] != "tcp:127.0.0.1:0"
    assert len(record["token"]) == 32
    raw = connect(record["address"], greet=False)

    extra = {} if token is None else {"token": record["token"] if token == "right" else token}
    response = raw.handshake(**extra)

    if accepted:
        assert response["result"]["address"] == record["address"]
        assert "token" not in response["result"]
        raw.assert_alive()
    else:
        assert error_of(response) == "unauthorized"
        assert raw.receive() is None, "a client with a wrong token is disconnected"


def test_tcp_client_with_token_patches_and_without_is_refused(program):
    prog = program(APP, env={"SPLICE_LISTEN": "tcp:0"})
    record = prog.record()

    with pytest.raises(splice.AgentError) as refused:
        splice.Client(record["address"])
    assert refused.value.args[0] == "unauthorized"

    result = prog.patch(APP.replace('"hello "', '"bye "'))
    assert result["greet"]["status"] == "patched"
    assert prog.eval("greet('x')") == "bye x"
