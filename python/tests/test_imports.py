"""Requests arrive whenever they arrive, also while the program imports: the engine never
meets a half-imported module of its own, and a file still being imported is not patched
half-way. Real programs, real sockets."""

from __future__ import annotations

WORK = "\n".join(f"def helper_{i}(x):\n    return x + {i}\n" for i in range(200))

IMPORTING_IN_A_LOOP = """
import importlib, os, sys
def greet():
    return 0
print("ready", flush=True)
while not os.path.exists("stop"):
    # Fresh imports, again and again: of a module with a long body, and of one the engine
    # imports itself (a request arriving in its middle must not meet it half-initialised).
    for name in ("busy", "ast"):
        sys.modules.pop(name, None)
        importlib.import_module(name)
import probe
probe.serve(globals())
"""


def test_patches_arriving_while_the_program_imports_in_a_loop_all_apply(program):
    prog = program(IMPORTING_IN_A_LOOP, busy=WORK)
    prog.ready()
    for n in range(1, 31):
        text = IMPORTING_IN_A_LOOP.replace("return 0", f"return {n}")
        result = prog.patch(text, ["greet"])
        assert result["greet"]["status"] == "patched", result
    (prog.root / "stop").write_text("")
    prog._ready = False  # the probe says ready again once the loop ended
    assert prog.eval("greet()") == 30


BEING_IMPORTED = """
import probe
def f():
    return 1
probe.serve(globals())
"""


def test_a_file_still_being_imported_is_not_patched_half_way(program):
    prog = program("import slow\n", slow=BEING_IMPORTED)

    result = prog.patch(BEING_IMPORTED.replace("return 1", "return 2"), ["f"], name="slow.py")

    answer = result["f"]
    assert (answer["status"], answer["reason"]) == ("not-loaded", "file-not-loaded"), answer
    assert "importing" in answer["message"]
    assert prog.eval("f()") == 1
