"""Watch mode: `python -m splice --watch app.py` patches the running program with each save of its
source files, written by any editor in any of the usual ways, and says on stderr what became of
each save. Real programs, real file writes, the program's real inotify watcher."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conftest import wait_for

WATCH = ("-m", "splice", "--watch")

APP = """\
import probe

LIMIT = 1


class Base:
    pass


class Model:
    size = 3


def greet():
    return "v1"


def total():
    return LIMIT * 10


probe.serve(globals())
"""


def save_by_writing(path: Path, text: str) -> None:
    path.write_text(text)


def save_by_renaming(path: Path, text: str) -> None:
    """An atomic save: the new text written beside the file, then renamed over it."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text)
    os.replace(temporary, path)


def save_with_backup(path: Path, text: str) -> None:
    """Vim's way without `backupcopy`: the file renamed to its backup, the text written anew."""
    os.replace(path, path.with_name(path.name + "~"))
    path.write_text(text)


def said(prog, fragment: str):
    """The line the program wrote on stderr containing `fragment`, once there is one."""
    return wait_for(
        lambda: next((line for line in prog.stderr if line and fragment in line), None),
        what=f"a line with {fragment!r} on stderr; got {prog.stderr!r}",
    )


@pytest.mark.parametrize("save", [save_by_writing, save_by_renaming, save_with_backup])
def test_every_way_of_saving_patches_the_program(program, save):
    prog = program(APP, launcher=WATCH)
    prog.ready()

    save(Path(prog.path()), APP.replace('"v1"', '"v2"'))

    wait_for(lambda: prog.eval("greet()") == "v2", what="the new greet")
    line = said(prog, "greet")
    assert line == "splice: app.py:14 greet patched\n"


def test_an_import_a_constant_and_a_refused_edit_in_one_save(program):
    prog = program(APP, launcher=WATCH)
    prog.ready()
    greet_before = prog.eval("id(greet)")
    edited = (
        APP.replace("import probe\n", "import json\nimport probe\n")
        .replace("LIMIT = 1", "LIMIT = 2")
        .replace("return LIMIT * 10", "return json.dumps(LIMIT * 10)")
        .replace("class Model:", "class Model(Base):")
    )

    save_by_writing(Path(prog.path()), edited)

    line = said(prog, "refused")
    assert line.startswith("splice: "), line
    assert "app.py:1 `import json` ran" in line
    assert "app.py:4 `LIMIT = 2` ran" in line
    assert "app.py:19 total patched" in line
    assert "app.py:11 Model refused: " in line
    assert prog.eval("total()") == "20"
    # Refused: the program keeps the class it had; the function kept its identity.
    assert prog.eval("Model.__bases__ == (object,)") is True
    assert prog.eval("id(greet)") == greet_before

    # Saved again with the header put back, nothing is left to take.
    save_by_writing(Path(prog.path()), edited.replace("class Model(Base):", "class Model:"))
    said(prog, "app.py: no code changed")


def test_files_the_program_has_not_loaded_are_left_alone(program):
    prog = program(APP, launcher=WATCH, other="def f():\n    return 1\n")
    prog.ready()

    save_by_writing(Path(prog.path("other.py")), "def f():\n    return 2\n")
    save_by_writing(Path(prog.path()), APP.replace('"v1"', '"v2"'))

    said(prog, "greet patched")
    assert not any(line and "other.py" in line for line in prog.stderr), prog.stderr
    # Imported now, the module runs the text saved.
    assert prog.eval("__import__('other').f()") == 2


def test_a_module_in_a_folder_watched_besides_the_current_one(program, workdir):
    lib = workdir / "lib"
    lib.mkdir()
    (lib / "helpers.py").write_text("def answer():\n    return 41\n")
    app = f"import sys\nsys.path.insert(0, {str(lib)!r})\nimport helpers\n" + APP
    prog = program(app, launcher=(*WATCH, str(lib)))
    prog.ready()

    save_by_renaming(lib / "helpers.py", "def answer():\n    return 42\n")

    wait_for(lambda: prog.eval("helpers.answer()") == 42, what="the new answer")
    assert said(prog, "answer").endswith("helpers.py:1 answer patched\n")


def test_a_syntax_error_is_said_and_the_program_keeps_running(program):
    prog = program(APP, launcher=WATCH)
    prog.ready()
    broken = APP.replace('return "v1"', 'return "v2" +')

    save_by_writing(Path(prog.path()), broken)

    line = said(prog, "failed")
    assert "app.py:15 greet failed: " in line, line
    assert prog.eval("greet()") == "v1"
    save_by_writing(Path(prog.path()), APP.replace('"v1"', '"v3"'))
    wait_for(lambda: prog.eval("greet()") == "v3", what="the fixed greet")


def thread_names(pid: int) -> list:
    tasks = Path(f"/proc/{pid}/task")
    return sorted((task / "comm").read_text().strip() for task in tasks.iterdir())


def test_the_watcher_is_one_native_thread_only_with_watch(program):
    watching = program(APP, launcher=WATCH)
    plain = program(APP)
    for prog in (watching, plain):
        prog.ready()

    assert thread_names(watching.pid).count("splice-watch") == 1
    assert "splice-watch" not in thread_names(plain.pid)
    # No Python thread: the program's own threads are all it has.
    assert watching.eval("len(__import__('threading').enumerate())") == 1


def test_watch_options_are_read_before_the_program():
    from splice.__main__ import _options

    here = os.getcwd()
    assert _options(["app.py", "--watch"]) == (["app.py", "--watch"], True, [])
    assert _options(["--watch", "app.py", "-x"]) == (["app.py", "-x"], True, [here])
    tests = os.path.dirname(__file__)
    assert _options(["--watch", tests, "--no-children", "-m", "pkg"]) == (
        ["-m", "pkg"],
        False,
        [here, tests] if tests != here else [here],
    )
    assert _options([f"--watch={tests}", "app.py"])[2][-1] == tests


def test_usage_names_watch():
    from splice.__main__ import USAGE

    assert "--watch" in textwrap.dedent(USAGE)


def test_a_forked_worker_watches_for_itself(program, workdir):
    report = workdir / "child.txt"
    prog = program(APP, launcher=WATCH)
    prog.exec(
        f"""
        import os, time
        pid = os.fork()
        if pid == 0:
            while True:
                with open({str(report)!r} + ".tmp", "w") as out:
                    out.write(greet())
                os.replace({str(report)!r} + ".tmp", {str(report)!r})
                time.sleep(0.01)
        """
    )
    child = prog.eval("pid")
    try:
        wait_for(lambda: report.exists() and report.read_text() == "v1", what="the child running")
        wait_for(lambda: "splice-watch" in thread_names(child), what="the child's watcher")

        save_by_writing(Path(prog.path()), APP.replace('"v1"', '"v2"'))

        # Each process takes the save on its own: the child's patch says nothing of the parent's.
        wait_for(lambda: report.read_text() == "v2", what="the child running the new greet")
        wait_for(lambda: prog.eval("greet()") == "v2", what="the parent running the new greet")
        # Both say so; the child's line names it.
        said(prog, f"splice: pid {child}: app.py:14 greet patched")
        said(prog, "splice: app.py:14 greet patched")
    finally:
        os.kill(child, 9)
        prog.eval("os.waitpid(pid, 0) and None")


def test_a_save_that_also_came_through_an_editor_server_runs_its_statements_once(program):
    prog = program("hits = []\n" + APP, launcher=WATCH)
    prog.ready()
    saved = "hits = []\nhits.append(1)\n" + APP
    statement = {"qualname": "", "kind": "statement", "change": "new", "source": "hits.append(1)\n", "source_line": 2}
    request = {"path": prog.path(), "definitions": [statement], "source": saved, "complete": True}

    # splice-lsp sends the save...
    first = prog.client.call("patch", request)
    assert [d["status"] for d in first["definitions"]] == ["patched"], first
    assert prog.eval("hits") == [1]
    # ...which reaches the watcher too, as a write of the same text.
    save_by_writing(Path(prog.path()), saved)

    said(prog, "app.py: the program already runs this text")
    again = prog.client.call("patch", request)
    assert [(d["status"], d["reason"]) for d in again["definitions"]] == [("unchanged", "same-code")]
    assert prog.eval("hits") == [1]
