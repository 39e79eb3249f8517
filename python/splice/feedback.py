"""Runtime feedback: exceptions raised in patched code, and uncaught ones, reported to the
editor as they happen. Patched functions call `splice._agent.report` from a handler around their
body (see `wrapping.py`), which counts raises natively and hands some to `report_counted`; the
uncaught-exception hooks are chained in front of the program's own.
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
# After this many raises at one place, the function runs unwrapped: no more counting, no cost.
FLOOD_LIMIT = 10_000
CO_OPTIMIZED = 0x1

# id(code) -> (weak code, qualname, patched_at): the wrapped code objects installed by patches.
_installed: Dict[int, Tuple[Any, str, float]] = {}
# (id(code), line, exception type) -> when it was last reported
_last_report: Dict[Tuple[int, int, type], float] = {}


class Unwrapped:
    """How to compile a patched function without the reporting handler: its context's text
    and the path of names to its code in what that compiles to."""

    __slots__ = ("source", "blank_lines", "filename", "flags", "path")

    def __init__(self, source: str, filename: str, flags: int, path: List[str]) -> None:
        # Kept without the blank lines that place it: one per patched function adds up.
        text = source.lstrip("\n")
        self.source, self.blank_lines = text, len(source) - len(text)
        self.filename, self.flags, self.path = filename, flags, path

    def nested(self, name: str) -> Unwrapped:
        inner = Unwrapped("", self.filename, self.flags, self.path + [name])
        inner.source, inner.blank_lines = self.source, self.blank_lines
        return inner

    def compile(self) -> Optional[CodeType]:
        from .codeobjects import find_path

        text = "\n" * self.blank_lines + self.source
        module = compile(text, self.filename, "exec", self.flags, dont_inherit=True)
        return find_path(module, self.path)


def register(code: CodeType, qualname: str, patched_at: float, unwrapped: Optional[Unwrapped] = None) -> None:
    """Remembers a wrapped code object now running, and those of the functions nested in it."""
    _installed[id(code)] = (weakref.ref(code), qualname, patched_at, unwrapped)
    # Counts and report times kept under its address belonged to a code object freed before.
    _agent.forget_counts(id(code))
    for key in [k for k in _last_report if k[0] == id(code)]:
        del _last_report[key]
    for const in code.co_consts:
        if isinstance(const, CodeType) and const.co_flags & CO_OPTIMIZED and not const.co_name.startswith("<"):
            inner = unwrapped.nested(const.co_name) if unwrapped is not None else None
            register(const, f"{qualname}.<locals>.{const.co_name}", patched_at, inner)


def _unwrap(code: CodeType, unwrapped: Unwrapped) -> bool:
    """Puts the unwrapped twin of `code` into every function running it, so that a flood of
    exceptions stops costing anything. Returns whether it did."""
    import gc
    from types import FunctionType

    from . import _agent

    plain = unwrapped.compile()
    if plain is None or plain.co_freevars != code.co_freevars:
        return False
    functions = [f for f in gc.get_referrers(code) if type(f) is FunctionType and f.__code__ is code]
    _agent.commit([(0, f, "__code__", plain) for f in functions])
    return bool(functions)


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


def report_counted(exc: BaseException, tb: TracebackType, count: int) -> None:
    """The first raise at a place, then one in 64, handed over by the native counter
    (`splice._agent.report`, the handler's `__splice_report__`): reported once per place, then
    with its count at most once per FLOOD_INTERVAL. Past FLOOD_LIMIT raises the function is
    switched to its unwrapped twin, and the last report says counting stopped. Never raises."""
    try:
        frame = tb.tb_frame
        code = frame.f_code
        entry = _installed.get(id(code))
        if entry is None or entry[0]() is not code:
            return
        # The innermost patched frame reports; those it passes through stay quiet.
        inner = tb.tb_next
        while inner is not None:
            if is_installed(inner.tb_frame.f_code):
                return
            inner = inner.tb_next
        key = (id(code), tb.tb_lineno, type(exc))
        now = time.monotonic()
        stopped = count >= FLOOD_LIMIT and entry[3] is not None and _unwrap(code, entry[3])
        last = _last_report.get(key)
        if not stopped and last is not None and now - last < FLOOD_INTERVAL:
            return
        _last_report[key] = now
        name, message = _describe(exc)
        _push(
            {
                "kind": "exception",
                "frames": [{"path": code.co_filename, "line": tb.tb_lineno, "function": code.co_name}],
                "exception": name,
                "message": message,
                "count": count,
                "thread": _thread_name(),
                "patched": {"qualname": entry[1], "patched_at": entry[2]},
                "counting_stopped": stopped,
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
