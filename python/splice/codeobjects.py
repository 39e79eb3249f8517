"""Comparing, searching and rebuilding code objects, the unit the engine swaps."""

from __future__ import annotations

import sys
from types import CodeType
from typing import Iterator, List, Optional, Tuple

CO_GENERATOR = 0x20
CO_COROUTINE = 0x80
CO_ITERABLE_COROUTINE = 0x100
CO_ASYNC_GENERATOR = 0x200
_KIND_FLAGS = CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR

# Everything that decides what a code object does, and nothing that only says where it is.
_BEHAVIOUR = [
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_nlocals",
    "co_flags",
    "co_code",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
    "co_name",
]
if sys.version_info >= (3, 11):
    _BEHAVIOUR += ["co_qualname", "co_exceptiontable"]


def kind(code: CodeType) -> str:
    flags = code.co_flags & _KIND_FLAGS
    if flags & CO_ASYNC_GENERATOR:
        return "an async generator"
    if flags & CO_COROUTINE:
        return "a coroutine"
    if flags & CO_GENERATOR:
        return "a generator"
    return "a plain function"


def _same_const(a: object, b: object, lines: bool) -> bool:
    if isinstance(a, CodeType) and isinstance(b, CodeType):
        return same_code(a, b, lines)
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(  # type: ignore[arg-type]
            _same_const(x, y, lines)
            for x, y in zip(a, b)  # type: ignore[call-overload]
        )
    try:
        # repr tells 0.0 from -0.0 and keeps NaN equal to itself.
        return bool(a == b) and (not isinstance(a, float) or repr(a) == repr(b))
    except Exception:
        return a is b


def same_code(a: CodeType, b: CodeType, lines: bool = False) -> bool:
    """Whether two code objects behave the same, nested code included; with `lines`, also
    whether they report the same line numbers."""
    if a is b:
        return True
    if any(getattr(a, attr) != getattr(b, attr) for attr in _BEHAVIOUR):
        return False
    if lines and (a.co_firstlineno != b.co_firstlineno or _line_table(a) != _line_table(b)):
        return False
    return len(a.co_consts) == len(b.co_consts) and all(
        _same_const(x, y, lines) for x, y in zip(a.co_consts, b.co_consts)
    )


def _line_table(code: CodeType) -> bytes:
    return code.co_linetable if sys.version_info >= (3, 10) else code.co_lnotab


def nested_codes(code: CodeType) -> Iterator[CodeType]:
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield const


def find_nested(code: CodeType, name: str) -> Optional[CodeType]:
    for const in nested_codes(code):
        if const.co_name == name:
            return const
    return None


def find_path(code: CodeType, path: List[str]) -> Optional[CodeType]:
    """Follows names through nested code: ["A", "m"] is method m's code in class A's body."""
    for name in path:
        found = find_nested(code, name)
        if found is None:
            return None
        code = found
    return code


def replace_path(root: CodeType, path: List[str], leaf: CodeType) -> CodeType:
    """A copy of `root` in which the code at `path` is `leaf`, every level between rebuilt."""
    if not path:
        return leaf
    child = find_nested(root, path[0])
    if child is None:
        raise LookupError(path[0])
    new_child = replace_path(child, path[1:], leaf)
    consts = tuple(new_child if c is child else c for c in root.co_consts)
    return root.replace(co_consts=consts)


def changed_pairs(old: CodeType, new: CodeType, qualname: str) -> List[Tuple[CodeType, CodeType, str]]:
    """Nested code objects of `old` paired with their counterparts in `new` (by name and order
    among equal names), where they differ, with their qualified names."""
    pairs: List[Tuple[CodeType, CodeType, str]] = []
    seen: dict = {}
    new_by_name: dict = {}
    for const in nested_codes(new):
        new_by_name.setdefault(const.co_name, []).append(const)
    for const in nested_codes(old):
        index = seen.get(const.co_name, 0)
        seen[const.co_name] = index + 1
        candidates = new_by_name.get(const.co_name, [])
        if index >= len(candidates):
            continue
        counterpart = candidates[index]
        if same_code(const, counterpart, lines=True):
            continue
        child_qualname = nested_qualname(qualname, old, const)
        pairs.append((const, counterpart, child_qualname))
        pairs.extend(changed_pairs(const, counterpart, child_qualname))
    return pairs


CO_OPTIMIZED = 0x1


def nested_qualname(parent_qualname: str, parent: CodeType, child: CodeType) -> str:
    """The qualified name CPython gives functions made from `child`, nested in `parent`."""
    if sys.version_info >= (3, 11):
        return child.co_qualname
    separator = ".<locals>." if parent.co_flags & CO_OPTIMIZED else "."
    return f"{parent_qualname}{separator}{child.co_name}"


def shift_lines(code: CodeType, delta: int) -> CodeType:
    """The same code `delta` lines further down, nested code included (line tables are
    relative to the first line)."""
    consts = tuple(shift_lines(c, delta) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=max(code.co_firstlineno + delta, 1), co_consts=consts)
