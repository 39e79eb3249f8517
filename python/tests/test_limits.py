"""What a patch may not do, refused before anything is compiled or run: parts too large,
names the module's machinery owns, malformed parameters. Real programs, real sockets."""

from __future__ import annotations

import pytest

from conftest import DEADLINE
from rawclient import APP, error_of


def statement(text: str, line: int) -> dict:
    return {"qualname": "", "kind": "statement", "change": "new", "source": "\n" * (line - 1) + text, "line": line}


def definition(qualname: str, text: str, line: int) -> dict:
    return {"qualname": qualname, "kind": "definition", "change": "new", "source": "\n" * (line - 1) + text}


def test_a_definition_named_like_module_machinery_is_refused_and_patches_keep_working(program):
    prog = program(APP)
    prog.ready()
    path = prog.path()
    before = prog.eval("__file__")

    result = prog.client.patch(path, [definition("__file__", "def __file__():\n    return 1\n", 10)])

    answer = result["definitions"][0]
    assert (answer["status"], answer["reason"]) == ("refused", "reserved-name"), answer
    assert prog.eval("__file__") == before
    patched = prog.patch(APP.replace('"hello "', '"bye "'))
    assert patched["greet"]["status"] == "patched"
    assert prog.eval("greet('a')") == "bye a"


@pytest.mark.parametrize("text", ["__name__ = 'other'\n", "from os import path as __spec__\n"])
def test_a_statement_setting_module_machinery_is_refused(program, text):
    prog = program(APP)
    prog.ready()

    result = prog.client.patch(prog.path(), [statement(text, 2)])

    answer = result["definitions"][0]
    assert (answer["status"], answer["reason"]) == ("refused", "reserved-name"), answer
    assert prog.eval("__name__") == "__main__"
    assert prog.eval("__spec__") is None


def test_a_part_over_a_megabyte_is_refused_without_compiling_it(program):
    prog = program(APP)
    prog.ready()
    huge = "def huge():\n" + "    x = 1\n" * 150_000

    result = prog.client.patch(prog.path(), [definition("huge", huge, 3)])

    answer = result["definitions"][0]
    assert (answer["status"], answer["reason"]) == ("refused", "part-too-large"), answer
    assert "MB" in answer["message"]
    assert prog.eval("'huge' in globals()") is False


@pytest.mark.parametrize(
    "params",
    [["app.py", []], {"path": "/tmp/a\u0000b.py", "definitions": []}, {"path": 3, "definitions": []}],
    ids=["array", "nul-in-path", "path-not-a-string"],
)
def test_malformed_patch_params_are_an_invalid_request(program, connect, params):
    raw = connect(program(APP).record()["address"])
    raw.sock.settimeout(DEADLINE)

    response = raw.request("patch", params)

    assert error_of(response) == "invalid-request", response
    raw.assert_alive()
