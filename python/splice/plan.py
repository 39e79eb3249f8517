"""What a prepared part changes when committed, and enough to undo it."""

from __future__ import annotations

import weakref
from types import CodeType, FunctionType
from typing import Any, Dict, List, Optional, Tuple

from . import feedback

# Operations of `_agent.commit`: set an attribute, delete one, call a function.
SET, DELETE, CALL = 0, 1, 2

Op = Tuple[int, Any, Optional[str], Any]


class Snapshot:
    """What one patch of one definition replaced, enough to put it back. Functions are held
    weakly: history never keeps a dead closure alive."""

    __slots__ = ("entries", "added", "rebound", "lines")

    def __init__(self) -> None:
        self.entries: List[tuple] = []
        # (container, name) of a definition created by the patch.
        self.added: Optional[Tuple[Any, str]] = None
        # (container, name, value before) of an attribute rebound or deleted by the patch.
        self.rebound: Optional[Tuple[Any, str, Any]] = None
        self.lines: Dict[str, Any] = {}

    def remember(self, function: FunctionType) -> None:
        self.entries.append(
            (
                weakref.ref(function),
                function.__code__,
                function.__defaults__,
                function.__kwdefaults__,
                function.__doc__,
                dict(function.__annotations__),
            )
        )


class Plan:
    __slots__ = ("result", "ops", "snapshot", "touched", "installed")

    def __init__(self, result: dict, ops=None, snapshot=None) -> None:
        self.result = result
        self.ops: List[Op] = ops or []
        self.snapshot: Optional[Snapshot] = snapshot
        self.touched: List[FunctionType] = []
        # Wrapped code objects this plan puts in place, with their qualified names and how to
        # compile them unwrapped.
        self.installed: List[Tuple[CodeType, str, Optional[feedback.Unwrapped]]] = []
