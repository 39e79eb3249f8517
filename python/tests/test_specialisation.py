"""A patched function keeps its call specialisation (CPython 3.13+, where assigning `__code__`
clears the function's version and the specialiser gives up on version 0)."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.skipif(sys.version_info < (3, 13), reason="versions are kept by CPython before 3.13")

APP = """
import dis, probe

def f(x):
    return x + 1

def call():
    total = 0
    for i in range(2000):
        total += f(i)
    return total

def specialised_call():
    # What the adaptive interpreter made of the call of f in call().
    names = {i.opname for i in dis.get_instructions(call, adaptive=True)}
    return sorted(n for n in names if n.startswith("CALL"))

probe.serve(globals())
"""


def test_a_patched_function_is_called_through_the_specialised_path(program):
    prog = program(APP)
    assert prog.patch(APP.replace("x + 1", "x + 2"))["f"]["status"] == "patched"
    # A fresh caller, warmed up after the patch: it specialises on the patched f.
    prog.exec("call.__code__ = call.__code__.replace()")
    assert prog.eval("call()") == sum(i + 2 for i in range(2000))
    assert prog.eval("call()") == sum(i + 2 for i in range(2000))
    assert "CALL_PY_EXACT_ARGS" in prog.eval("specialised_call()")
