"""The agent lives on Rust threads: a program that monkeypatches sockets and threads with
gevent is patched like any other, also while its hub is busy with greenlets."""

import pytest

gevent = pytest.importorskip("gevent")

from splice.source import definitions  # noqa: E402

PROGRAM = """
from gevent import monkey
monkey.patch_all()
import gevent
import splice
splice.start()

def tick():
    return "old"

ticks = []
def ticker():
    while True:
        ticks.append(tick())
        gevent.sleep(0.001)

gevent.spawn(ticker)
import probe
probe.serve(globals())
"""


def test_gevent_program_is_patched_while_greenlets_run(program):
    prog = program(PROGRAM, launcher=())
    prog.ready()
    assert prog.eval("tick()") == "old"
    text = PROGRAM.replace('return "old"', 'return "new"')
    result = prog.client.patch(prog.path(), definitions(text, ["tick"]), text)
    assert [d["status"] for d in result["definitions"]] == ["patched"]
    assert prog.eval("tick()") == "new"
    assert prog.eval("gevent.sleep(0.05) or ticks[-1]") == "new"
