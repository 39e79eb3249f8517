"""Runtime feedback: exceptions raised in patched code, and uncaught ones, reported to the
editor as they happen. Patched functions call `report` from a handler around their body (see
`wrapping.py`); the uncaught-exception hooks are chained in front of the program's own.
"""

from __future__ import annotations

import sys
import time
import weakref
from types import CodeType, TracebackType
from typing import Any, Dict, List, Optional, Tuple

from . import _agent

_NOT_REPORTED = (GeneratorExit, StopIteration, StopAsyncIteration, KeyboardInterrupt, SystemExit)
# After the first report of an exception at a place, at most one update per interval.
FLOOD_INTERVAL = 1.0
CHECK_EVERY = 64
CO_OPTIMIZED = 0x1

# id(code) -> (weak code, qualname, patched_at): the wrapped code objects installed by patches.
_installed: Dict[int, Tuple[Any, str, float]] = {}
# (id(code), line, exception type) -> [count, time of the last report]
_counts: Dict[Tuple[int, int, type], List[float]] = {}


def register(code: CodeType, qualname: str, patched_at: float) -> None:
    """Remembers a wrapped code object now running, and those of the functions nested in it."""
    _installed[id(code)] = (weakref.ref(code), qualname, patched_at)
    for const in code.co_consts:
        if isinstance(const, CodeType) and const.co_flags & CO_OPTIMIZED and not const.co_name.startswith("<"):
            register(const, f"{qualname}.<locals>.{const.co_name}", patched_at)


def is_installed(code: CodeType) -> bool:
    entry = _installed.get(id(code))
    return entry is not None and entry[0]() is code


def _describe(exc: BaseException) -> Tuple[str, str]:
    kind = type(exc)
    name = (
        kind.__qualname__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__qualname__}"
    )
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    return name, message[:500]


def _thread_name() -> str:
    threading = sys.modules.get("threading")
    if threading is None:
        return "main thread"
    thread = threading.current_thread()
    return "main thread" if thread is threading.main_thread() else f"thread {thread.name}"


def report() -> None:
    """Called by the handler of a patched function with the exception being handled. Reports
    it once per place, then a count at a bounded rate; never raises. A flood costs a counter
    increment per raise."""
    try:
        exc = sys.exc_info()[1]
        tb: Optional[TracebackType] = getattr(exc, "__traceback__", None)
        if tb is None or isinstance(exc, _NOT_REPORTED):
            return
        frame = tb.tb_frame  # the handler's own frame comes first: the exception is caught here
        code = frame.f_code
        key = (id(code), tb.tb_lineno, type(exc))
        counted = _counts.get(key)
        if counted is not None:
            counted[0] += 1
            # In a flood the clock is read once every CHECK_EVERY raises.
            if counted[0] % CHECK_EVERY or time.monotonic() - counted[1] < FLOOD_INTERVAL:
                return
        else:
            counted = _counts[key] = [1, 0.0]
        now = time.monotonic()
        entry = _installed.get(id(code))
        if entry is None or entry[0]() is not code:
            return
        # The innermost patched frame reports; those it passes through stay quiet.
        inner = tb.tb_next
        while inner is not None:
            if is_installed(inner.tb_frame.f_code):
                return
            inner = inner.tb_next
        counted[1] = now
        name, message = _describe(exc)
        _push(
            {
                "kind": "exception",
                "frames": [{"path": code.co_filename, "line": tb.tb_lineno, "function": code.co_name}],
                "exception": name,
                "message": message,
                "count": int(counted[0]),
                "thread": _thread_name(),
                "patched": {"qualname": entry[1], "patched_at": entry[2]},
            }
        )
    except BaseException:
        pass


def _push(event: Dict[str, Any]) -> None:
    import json

    _agent.push_event(json.dumps(event))


def report_uncaught(exc: Optional[BaseException], tb: Optional[TracebackType], thread: str) -> None:
    try:
        if exc is None or isinstance(exc, _NOT_REPORTED):
            return
        frames = []
        while tb is not None:
            code = tb.tb_frame.f_code
            frames.append({"path": code.co_filename, "line": tb.tb_lineno, "function": code.co_name})
            tb = tb.tb_next
        frames.reverse()
        name, message = _describe(exc)
        _push(
            {
                "kind": "uncaught",
                "frames": frames[:16],
                "exception": name,
                "message": message,
                "count": 1,
                "thread": thread,
            }
        )
    except BaseException:
        pass


def install_hooks() -> None:
    """Reports uncaught exceptions, then hands them to the hooks the program had."""
    previous = sys.excepthook

    def excepthook(kind, exc, tb):
        report_uncaught(exc, tb, "main thread")
        previous(kind, exc, tb)

    sys.excepthook = excepthook
    threading = sys.modules.get("threading")
    if threading is None:
        import threading
    previous_thread_hook = threading.excepthook

    def thread_excepthook(args):
        thread = args.thread
        report_uncaught(args.exc_value, args.exc_traceback, f"thread {thread.name}" if thread else "a thread")
        previous_thread_hook(args)

    threading.excepthook = thread_excepthook
