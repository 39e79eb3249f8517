"""Splice: live patching for Python. Edited functions go straight into the running program.

Start the agent with `python -m splice app.py` (or `-m pkg.mod`), or call `splice.start()`
inside the program. Editors reach it through `splice-lsp`; scripts through `splice.connect()`.
"""

from __future__ import annotations

import atexit
import os
import sys
import sysconfig
from typing import TYPE_CHECKING, Any, List, Optional

if sysconfig.get_config_var("Py_GIL_DISABLED"):
    # The native module is built for the stable ABI, which a free-threaded interpreter cannot
    # load (it fails with a SystemError), and a patch is applied at once under the interpreter
    # lock, which it does not have (ARCHITECTURE.md: free-threaded CPython).
    raise ImportError(
        f"splice does not support free-threaded CPython yet ({sys.version.split()[0]}, built with "
        "--disable-gil); run the program on a CPython with the interpreter lock"
    )

from . import _agent  # noqa: E402
from ._agent import PROTOCOL_VERSION, AgentError  # noqa: E402
from .client import Client, connect, list_agents  # noqa: E402

if TYPE_CHECKING:
    from .replacing import Replacement, replace, replaced

__version__: str = _agent.__version__
__all__ = [
    "PROTOCOL_VERSION",
    "AgentError",
    "Client",
    "Replacement",
    "address",
    "connect",
    "list_agents",
    "replace",
    "replaced",
    "start",
    "stop",
]

_REPLACING = ("Replacement", "replace", "replaced")


def __getattr__(name: str) -> Any:
    # `splice.replace` and its kin are imported on first use: `import splice` stays cheap.
    if name in _REPLACING:
        from . import replacing

        return getattr(replacing, name)
    raise AttributeError(f"module 'splice' has no attribute {name!r}")


def _handle(method: str, params_json: str, source: Optional[str] = None) -> str:
    # Imported on the first request, so that starting the agent costs next to nothing. Never
    # inside an import on the main thread (see runner.rs): what the engine imports is then
    # whole.
    from .engine import handle

    return handle(method, params_json, source)


CHILDREN_VARIABLE = "SPLICE_CHILDREN"
"""Set in the environment of a program whose Python children start an agent of their own (read by
the startup hook `splice-children.pth`)."""

WATCH_VARIABLE = "SPLICE_WATCH"
"""Folders (separated by `os.pathsep`) whose Python files each process of the program watches and
patches itself with when they are saved (`python -m splice --watch`)."""
WATCH_ROOT_VARIABLE = "SPLICE_WATCH_ROOT"
"""The pid of the process `python -m splice --watch` started."""

# Whether this process's forked children start an agent of their own; the fork hook is
# registered once, when the first agent starts (it cannot be unregistered).
_fork_children = True
_fork_hook_registered = False


def start(children: Optional[bool] = None, *, forks: Optional[bool] = None) -> str:
    """Starts the agent in this process, if not yet running, and returns its address.

    Processes this one forks (gunicorn and multiprocessing workers) get an agent of their own,
    unless `forks=False`. With `children=True`, so do Python programs it starts by exec or
    spawn (subprocesses, multiprocessing spawn and forkserver, framework reloaders), through
    the environment variable `SPLICE_CHILDREN`; `children=False` stops that. Left out, each
    stays as it is: a program started by `python -m splice` (or as such a program's child)
    that calls `start()` itself keeps giving its children an agent.

    The agent listens on a Unix socket in the per-user runtime folder (`$SPLICE_RUNTIME_DIR`,
    else `$XDG_RUNTIME_DIR/splice`, else `/tmp/splice-<uid>`), or on 127.0.0.1 with a token
    when `SPLICE_LISTEN=tcp:PORT`.
    """
    return _start(children, forks, os.environ.get("SPLICE_LISTEN") or None)


def _start(children: Optional[bool], forks: Optional[bool], listen: Optional[str]) -> str:
    global _fork_children, _fork_hook_registered
    if children is True:
        os.environ[CHILDREN_VARIABLE] = "1"
    elif children is False:
        os.environ.pop(CHILDREN_VARIABLE, None)
    if forks is not None:
        _fork_children = forks
    running = _agent.address()
    if running is not None:
        return running
    address = _start_here(_command_line(), listen)
    atexit.register(_agent.stop)
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_after_fork)
        _fork_hook_registered = True
    from . import feedback, reloaders

    feedback.install_hooks()
    reloaders.watch()
    _watch_if_asked()
    return address


def _start_here(argv: List[str], listen: Optional[str], clean_up: bool = True) -> str:
    return _agent.start(
        _handle,
        argv,
        os.getcwd(),
        sys.version.split()[0],
        sys.executable or "",
        __version__,
        os.environ.get("SPLICE_RUNTIME_DIR") or None,
        listen,
        clean_up,
    )


def _command_line() -> List[str]:
    """What the user ran: `sys.argv`, except that before its main module runs (in a child's
    startup hook) a program started with `python -m mod` is `mod args...`, not `-m args...`,
    and one started with `python -c code` keeps its code: `-c code args...`."""
    argv = list(sys.argv)
    orig = getattr(sys, "orig_argv", None)  # 3.10+
    for option in ("-m", "-c"):
        if argv[:1] == [option] and orig and option in orig[1:]:
            at = orig.index(option, 1)
            return orig[at + 1 :] if option == "-m" else orig[at:]
    return argv


def _runs_none_of_the_program(argv: List[str]) -> bool:
    """Python children that need no agent: `python -m splice` (it starts its own, or lists
    agents) and multiprocessing's resource tracker."""
    if argv[:1] == ["splice"]:
        return True
    return argv[:1] == ["-c"] and argv[1:2] != [] and argv[1].startswith("from multiprocessing.resource_tracker ")


def _child_listen() -> Optional[str]:
    """A child cannot listen on its parent's fixed TCP port: it takes a free one."""
    listen = os.environ.get("SPLICE_LISTEN") or None
    return "tcp:0" if listen and listen.startswith("tcp:") else listen


def _after_fork() -> None:
    """In a forked child of a process with an agent: its own agent, with a fresh socket and record
    naming its parent. The parent's agent is left untouched."""
    # `forked` says whether the parent's agent was running (it may have been stopped).
    if not _fork_children or not _agent.forked():
        return
    try:
        _start_here(_command_line(), _child_listen(), clean_up=False)
        _watch_if_asked()
    except OSError as err:
        print(f"splice: the agent could not start in forked process {os.getpid()} ({err})", file=sys.stderr)


def _watch_if_asked() -> None:
    """Watch mode, when the program was started with `--watch`: a native thread of the agent
    patches this process with each save of a Python file in the folders named."""
    folders = [f for f in os.environ.get(WATCH_VARIABLE, "").split(os.pathsep) if f]
    if folders:
        # Lines from the other processes of the program say which one they come from.
        own = os.environ.get(WATCH_ROOT_VARIABLE) == str(os.getpid())
        _agent.watch(folders, "" if own else f"pid {os.getpid()}: ")


def start_in_child() -> None:
    """The startup hook's entry (`splice-children.pth`): this Python program was started by one
    whose agent asked its children for one. Never raises: the program runs either way."""
    try:
        argv = _command_line()
        if _runs_none_of_the_program(argv):
            return
        if _agent.address() is None:
            _start(children=True, forks=True, listen=_child_listen())
    except Exception as err:  # noqa: BLE001 - the program must start whatever happens here
        print(f"splice: the agent could not start in process {os.getpid()} ({err})", file=sys.stderr)


def stop() -> None:
    """Stops listening and removes this process's socket and record. Processes it forks from
    now on start no agent."""
    _agent.stop()


def address() -> str | None:
    """The address the agent listens on, or None when not started."""
    return _agent.address()
