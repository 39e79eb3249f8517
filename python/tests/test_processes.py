"""Every process of a program gets an agent: forked children through the fork hook, Python
children through the startup hook (`splice-children.pth`) when the parent asked for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import splice
from conftest import wait_for
from splice.source import definitions

FORKING = """
import os, sys, probe

def f():
    return 1

r1, w1 = os.pipe()
r2, w2 = os.pipe()
child = os.fork()
if child == 0:
    # The parent's ends closed: the child ends when the parent does.
    os.close(w1)
    os.close(r2)
    with os.fdopen(r1) as requests, os.fdopen(w2, "w") as answers:
        for line in requests:
            answers.write(f"{f()}\\n")
            answers.flush()
    sys.exit(0)
os.close(r1)
os.close(w2)
to_child, from_child = os.fdopen(w1, "w"), os.fdopen(r2)

def ask():
    to_child.write("?\\n")
    to_child.flush()
    return int(from_child.readline())

probe.serve(globals())
"""


def records(runtime_dir: Path) -> List[dict]:
    found = []
    for path in runtime_dir.glob("*.json"):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass
    return found


def children_of(runtime_dir: Path, pid: int) -> List[dict]:
    return [r for r in records(runtime_dir) if r.get("parent_pid") == pid]


def test_a_forked_child_gets_its_own_agent_and_the_parent_keeps_its_own(program, runtime_dir):
    prog = program(FORKING)
    assert prog.eval("ask()") == 1
    (child,) = wait_for(lambda: children_of(runtime_dir, prog.pid), what="the child's record")
    assert child["pid"] == prog.eval("child")
    assert child["address"] != prog.record()["address"]

    patched = FORKING.replace("return 1", "return 2")
    result = splice.Client(child["address"], timeout=20).patch(prog.path(), definitions(patched, ["f"]), patched)
    assert [d["status"] for d in result["definitions"]] == ["patched"]
    # The child runs the new code; the parent, not patched, its own.
    assert prog.eval("[f(), ask()]") == [1, 2]
    assert prog.patch(patched)["f"]["status"] == "patched"
    assert prog.eval("[f(), ask()]") == [2, 2]

    # A child that exits removes its record.
    prog.exec("to_child.close(); os.waitpid(child, 0)")
    wait_for(lambda: not children_of(runtime_dir, prog.pid), what="the child's record to go")
    assert prog.eval("f()") == 2


SPAWNING = """
import subprocess, sys, probe
{start}
child = subprocess.Popen([sys.executable, "-c", "print('up', flush=True); input()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "up\\n"
probe.serve(globals())
"""


def test_python_children_get_an_agent_when_the_program_asks(program, runtime_dir):
    prog = program(SPAWNING.format(start="import splice; splice.start(children=True)"), launcher=())
    (child,) = wait_for(lambda: children_of(runtime_dir, prog.pid), what="the child's record")
    assert child["pid"] == prog.eval("child.pid")
    assert child["argv"][0] == "-c"


def test_a_program_run_by_splice_that_starts_the_agent_itself_keeps_its_children(program, runtime_dir):
    # `python -m splice` asked for children; the program's own `splice.start()` leaves that be.
    prog = program(SPAWNING.format(start="import splice; splice.start()"))
    (child,) = wait_for(lambda: children_of(runtime_dir, prog.pid), what="the child's record")
    assert child["pid"] == prog.eval("child.pid")


def test_no_child_gets_an_agent_without_the_parent_asking(program, runtime_dir):
    # Started with splice.start(): forked children get an agent, spawned ones do not.
    prog = program(SPAWNING.format(start="import splice; splice.start()"), launcher=())
    assert prog.eval("child.pid") > 0
    assert children_of(runtime_dir, prog.pid) == []


def test_no_children_turns_both_off(program, runtime_dir):
    app = FORKING.replace("import os, sys, probe", "import os, subprocess, sys, probe")
    prog = program(app, argv=["--no-children", "app.py"])
    assert prog.eval("ask()") == 1
    prog.exec(
        "spawned = subprocess.Popen([sys.executable, '-c', 'print(1)'], stdout=subprocess.PIPE, text=True)\n"
        "assert spawned.stdout.readline() == '1\\n'\n"
        "spawned.wait()"
    )
    assert children_of(runtime_dir, prog.pid) == []


def test_a_forked_child_of_a_tcp_agent_listens_on_a_port_of_its_own(program, runtime_dir):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prog = program(FORKING, env={"SPLICE_LISTEN": f"tcp:{port}"})
    assert prog.eval("ask()") == 1
    assert prog.record()["address"] == f"tcp:127.0.0.1:{port}"
    (child,) = wait_for(lambda: children_of(runtime_dir, prog.pid), what="the child's record")
    assert child["address"].startswith("tcp:127.0.0.1:") and child["address"] != prog.record()["address"]
    assert child["token"] and child["token"] != prog.record()["token"]
    patched = FORKING.replace("return 1", "return 3")
    client = splice.Client(child["address"], child["token"], timeout=20)
    assert client.patch(prog.path(), definitions(patched, ["f"]), patched)["definitions"][0]["status"] == "patched"
    assert prog.eval("[f(), ask()]") == [1, 3]
