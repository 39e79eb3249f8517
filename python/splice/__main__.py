"""`python -m splice app.py [args]` / `python -m splice -m pkg.mod [args]`: run a program as
`__main__`, exactly as `python app.py` would, with the agent listening; with `--watch`, each
save of its source files is patched into it without an editor.

`python -m splice --agents [--json]` lists this user's running agents.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import runpy
import sys
from importlib.abc import Loader
from importlib.machinery import SourceFileLoader, SourcelessFileLoader
from pkgutil import get_importer, read_code
from types import CodeType, ModuleType, TracebackType
from typing import List, Optional, Tuple

USAGE = """usage: python -m splice [--watch [DIR]]... [--no-children] app.py [args ...]
       python -m splice [--watch [DIR]]... [--no-children] -m pkg.mod [args ...]
       python -m splice --agents [--json]

Runs the program with the splice agent listening, so that editors (through splice-lsp) can
patch its functions while it runs. Every Python process of the program gets one too: forked
workers and Python programs it starts (subprocesses, multiprocessing, reloaders), unless
--no-children.

--watch     patch the program with every save of a Python file under the current folder,
            from any editor, and say on stderr what each save changed (`splice: ...`).
            `--watch DIR` (repeatable) watches DIR too; hidden folders, __pycache__ and
            virtual environments are left out.

Environment: SPLICE_RUNTIME_DIR (where agents are found), SPLICE_LISTEN=tcp:PORT (listen on
127.0.0.1 with a token instead of a Unix socket)."""


def _strip_own_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """Drops the frames of this runner and runpy, so that the traceback reads as if the program
    had been started directly."""
    # By the names their code carries: runpy is frozen from 3.11 on (`<frozen runpy>`).
    runner_files = {
        __file__,
        _run.__code__.co_filename,
        runpy.__file__,
        runpy.run_path.__code__.co_filename,
    }
    while tb is not None and tb.tb_frame.f_code.co_filename in runner_files:
        tb = tb.tb_next
    return tb


def _run(argv: List[str], children: bool = True) -> None:
    if argv[0] == "-m":
        if len(argv) < 2:
            raise SystemExit("python -m splice -m: a module name is required")
        sys.argv = argv[1:]  # runpy sets argv[0] to the module's file, as `python -m` does
        sys.path[0] = os.getcwd()
        _start_agent(children)
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return
    path = argv[0]
    sys.argv = list(argv)
    if get_importer(path) is not None:
        # A folder or zip file holding a `__main__.py`: first on the path, as python does.
        sys.path[0] = os.path.abspath(path)
        _start_agent(children)
        _fresh_main()
        runpy._run_module_as_main("__main__", alter_argv=False)  # what python itself calls
        return
    # A script: its real folder (links resolved) first on the path, as `python app.py`.
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    filename = os.path.abspath(path)
    try:
        code, loader = _read_script(filename)
    except OSError as err:
        print(
            f"{sys.executable}: can't open file {filename!r}: [Errno {err.errno}] {err.strerror}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    _start_agent(children)
    main = _fresh_main()
    # An absolute `__file__` and code file names, as python gives since 3.9: they stay right
    # when the program changes directory.
    vars(main).update(__file__=filename, __cached__=None, __loader__=loader)
    exec(code, vars(main))


def _read_script(filename: str) -> Tuple[CodeType, Loader]:
    """The code of a script, or of a compiled one (`app.pyc`), as `python app.py` reads it."""
    with io.open_code(filename) as file:
        code = read_code(file)
    if code is not None:
        return code, SourcelessFileLoader("__main__", filename)
    with io.open_code(filename) as file:
        # dont_inherit: this module's `from __future__` imports are not the program's.
        code = compile(file.read(), filename, "exec", dont_inherit=True)
    return code, SourceFileLoader("__main__", filename)


def _fresh_main() -> ModuleType:
    """A `__main__` module of the program's own, as python makes: it stays in `sys.modules`
    after the program's code ends, for atexit handlers and pickling by reference."""
    main = ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    return main


def _start_agent(children: bool) -> None:
    import splice

    try:
        splice.start(children=children, forks=children)
    except OSError as err:
        print(f"splice: the agent could not start ({err}); running without it", file=sys.stderr)


def _as_trees(records: List[dict]) -> List[Tuple[int, dict]]:
    """Records in tree order, each with its depth: a process's children (forked workers, spawned
    children) follow it."""
    pids = {r["pid"] for r in records}
    children: dict = {}
    for r in records:
        parent = r.get("parent_pid")
        children.setdefault(parent if parent in pids and parent != r["pid"] else None, []).append(r)
    ordered: List[Tuple[int, dict]] = []
    stack = [(0, r) for r in sorted(children.get(None, []), key=lambda r: r["pid"], reverse=True)]
    while stack:
        depth, r = stack.pop()
        ordered.append((depth, r))
        below = sorted(children.get(r["pid"], []), key=lambda c: c["pid"], reverse=True)
        stack.extend((depth + 1, c) for c in below)
    return ordered


def _agents_table(records: List[dict]) -> str:
    """The agents as a table for people, or a sentence when there are none."""
    import splice

    if not records:
        return (
            f"no program is running with the splice agent (looked in {splice._agent.runtime_dir()}); "
            "start one with: python -m splice app.py"
        )
    import time

    rows = [("PID", "PYTHON", "STARTED", "FOLDER", "PROGRAM")]
    for depth, r in _as_trees(records):
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.get("started_at", 0)))
        command = " ".join(r["argv"])
        command = command if len(command) <= 100 else command[:99] + "…"
        program = "  " * depth + ("└ " if depth else "") + command
        rows.append((str(r["pid"]), r.get("python_version", "?"), started, r.get("cwd", ""), program))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def _options(args: List[str]) -> Tuple[List[str], bool, List[str]]:
    """The options before the program: the rest, whether children get an agent, the folders
    watched (none without `--watch`): the current one, and each that `--watch` is given, as
    `--watch DIR` or `--watch=DIR`."""
    children, watching, extra = True, False, []
    while args:
        option = args[0]
        if option == "--no-children":
            args = args[1:]
            children = False
        elif option.startswith("--watch="):
            args = args[1:]
            watching = True
            extra.append(os.path.abspath(option.split("=", 1)[1]))
        elif option == "--watch":
            args = args[1:]
            watching = True
            # A folder, unless it is the program (a folder with a `__main__.py`).
            if args and os.path.isdir(args[0]) and not os.path.isfile(os.path.join(args[0], "__main__.py")):
                extra.append(os.path.abspath(args[0]))
                args = args[1:]
        else:
            break
    watched = [os.getcwd()] + [folder for folder in extra if folder != os.getcwd()] if watching else []
    return args, children, watched


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if args else 2)
    if args[0] == "--agents":
        import splice

        try:
            records = splice.list_agents()
        except OSError as err:
            raise SystemExit(f"splice: {err}") from None
        for record in records:
            record.pop("token", None)
        if "--json" in args[1:]:
            for record in records:
                print(json.dumps(record))
        else:
            print(_agents_table(records))
        return
    if args[0] == "--version":
        import splice

        print(f"splice {splice.__version__} (protocol {splice.PROTOCOL_VERSION})")
        return
    args, children, watched = _options(args)
    if not args:
        print(USAGE)
        raise SystemExit(2)
    if watched:
        import splice

        os.environ[splice.WATCH_VARIABLE] = os.pathsep.join(watched)
        os.environ[splice.WATCH_ROOT_VARIABLE] = str(os.getpid())
    try:
        _run(args, children)
    except (SystemExit, KeyboardInterrupt):
        # Exit status and the interpreter's own handling of Ctrl-C stay exactly Python's.
        raise
    except BaseException as err:
        tb = _strip_own_frames(err.__traceback__)
        sys.excepthook(type(err), err.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    main()
