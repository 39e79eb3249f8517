"""`python -m splice app.py [args]` / `python -m splice -m pkg.mod [args]`: run a program as
`__main__`, exactly as `python app.py` would, with the agent listening.

`python -m splice --agents` lists this user's running agents.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from types import TracebackType
from typing import List, Optional

USAGE = """usage: python -m splice app.py [args ...]
       python -m splice -m pkg.mod [args ...]
       python -m splice --agents

Runs the program with the splice agent listening, so that editors (through splice-lsp) can
patch its functions while it runs. Environment: SPLICE_RUNTIME_DIR (where agents are found),
SPLICE_LISTEN=tcp:PORT (listen on 127.0.0.1 with a token instead of a Unix socket)."""


def _strip_own_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """Drops the frames of this runner and runpy, so that the traceback reads as if the program
    had been started directly."""
    runner_files = {__file__, runpy.__file__}
    while tb is not None and tb.tb_frame.f_code.co_filename in runner_files:
        tb = tb.tb_next
    return tb


def _run(argv: List[str]) -> None:
    if argv[0] == "-m":
        if len(argv) < 2:
            raise SystemExit("python -m splice -m: a module name is required")
        sys.argv = argv[1:]  # runpy sets argv[0] to the module's file, as `python -m` does
        sys.path[0] = os.getcwd()
        _start_agent(sys.argv)
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        path = argv[0]
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(path))
        _start_agent(sys.argv)
        runpy.run_path(path, run_name="__main__")


def _start_agent(argv: List[str]) -> None:
    import splice

    try:
        splice.start()
    except OSError as err:
        print(f"splice: the agent could not start ({err}); running without it", file=sys.stderr)


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if args else 2)
    if args[0] == "--agents":
        import splice

        for record in splice.list_agents():
            record.pop("token", None)
            print(json.dumps(record))
        return
    if args[0] == "--version":
        import splice

        print(f"splice {splice.__version__} (protocol {splice.PROTOCOL_VERSION})")
        return
    try:
        _run(args)
    except (SystemExit, KeyboardInterrupt):
        # Exit status and the interpreter's own handling of Ctrl-C stay exactly Python's.
        raise
    except BaseException as err:
        tb = _strip_own_frames(err.__traceback__)
        sys.excepthook(type(err), err.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    main()
