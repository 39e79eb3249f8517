"""Trampolines: code that lets a live function run a body needing other closure cells than it
has. A function's closure cannot be replaced, and its code must have as many free variables as
the closure has cells; so when the new body needs cells the function lacks (zero-argument
`super()` added to a method needs a `__class__` cell), the live function gets a small code
object with its own parameters and free variables that calls a new function running the new
body with the right cells. Every existing reference keeps working and sees the new body.

The trampoline has the new body's parameters, so the live function's own defaults, signature
and annotations keep applying; it passes every argument on explicitly. The function it calls is
held as a constant of the trampoline's code: nothing is added to the module or the class."""

from __future__ import annotations

import ast
import warnings
import weakref
from types import CellType, CodeType, FunctionType
from typing import Any, List, Optional, Tuple

from .codeobjects import find_nested

# Code objects of trampolines made here -> the function each calls.
_TARGETS: weakref.WeakKeyDictionary[CodeType, FunctionType] = weakref.WeakKeyDictionary()

_MARKER = "\x00splice-trampoline-target"
_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08
_CO_GENERATOR, _CO_COROUTINE, _CO_ASYNC_GENERATOR = 0x20, 0x80, 0x200


def target(code: CodeType) -> Optional[FunctionType]:
    """The function a trampoline calls, if `code` is one."""
    try:
        return _TARGETS.get(code)
    except TypeError:
        return None


def running(function: FunctionType) -> Tuple[CodeType, Tuple[Any, ...]]:
    """The code a live function runs, and that code's closure cells: through its trampoline
    if it has one."""
    called = target(function.__code__)
    if called is not None:
        return called.__code__, called.__closure__ or ()
    return function.__code__, function.__closure__ or ()


def cells_for(function: FunctionType, new_code: CodeType, cls: Optional[type]) -> Optional[Tuple[CellType, ...]]:
    """Cells for `new_code`'s free variables: the live ones by name, a fresh `__class__` cell
    bound to `cls`; None when some free variable has no cell to come from."""
    code, closure = running(function)
    live = dict(zip(code.co_freevars, closure))
    cells: List[CellType] = []
    for name in new_code.co_freevars:
        if name in live:
            cells.append(live[name])
        elif name == "__class__" and isinstance(cls, type):
            cells.append(CellType(cls))
        else:
            return None
    return tuple(cells)


def make(function: FunctionType, new_code: CodeType, cells: Tuple[CellType, ...]) -> Optional[CodeType]:
    """Code for `function` that calls a new function running `new_code` with `cells`; None
    when a trampoline cannot pass it on faithfully (async generators)."""
    called = FunctionType(new_code, function.__globals__, function.__name__, None, cells)
    called.__qualname__ = function.__qualname__
    called.__module__ = function.__module__
    called.__doc__ = function.__doc__
    code = calling(function, called)
    if code is not None:
        _TARGETS[code] = called
    return code


def calling(function: FunctionType, called: FunctionType) -> Optional[CodeType]:
    """Code for `function` (its free variables) with `called`'s parameters, passing each
    argument on to `called`: its globals, closure and body run. None when a trampoline cannot
    pass the call on faithfully (async generators)."""
    new_code = called.__code__
    if new_code.co_flags & _CO_ASYNC_GENERATOR:
        return None
    free = function.__code__.co_freevars
    params, forward = _signature(new_code)
    if set(free) & set(_names(new_code)):
        return None
    call = f"{_MARKER!r}({', '.join(forward)})"
    if new_code.co_flags & _CO_COROUTINE:
        header, body = "async def", f"return await {call}"
    elif new_code.co_flags & _CO_GENERATOR:
        header, body = "def", f"return (yield from {call})"
    else:
        header, body = "def", f"return {call}"
    # Free variables come from an enclosing function that binds them; `if 0:` names them
    # without a single instruction.
    lines = ["def _splice_outer():"]
    lines += [f"    {name} = None" for name in free]
    # Named after the body once compiled: `<lambda>` is no name a def can have.
    lines.append(f"    {header} _splice_trampoline({', '.join(params)}):")
    if free:
        lines.append(f"        if 0: {', '.join(free)}")
    lines.append(f"        {body}")
    tree = ast.parse("\n".join(lines) + "\n")
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno = node.end_lineno = new_code.co_firstlineno
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "'str' object is not callable"
        outer = compile(tree, new_code.co_filename, "exec", dont_inherit=True)
    inner = find_nested(find_nested(outer, "_splice_outer"), "_splice_trampoline")
    consts = tuple(called if isinstance(c, str) and c == _MARKER else c for c in inner.co_consts)
    code = inner.replace(co_consts=consts, co_name=new_code.co_name)
    if hasattr(code, "co_qualname"):
        code = code.replace(co_qualname=new_code.co_qualname)
    return code


def _names(code: CodeType) -> List[str]:
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & _CO_VARARGS) + bool(code.co_flags & _CO_VARKEYWORDS)
    return list(code.co_varnames[:count])


def _signature(code: CodeType) -> Tuple[List[str], List[str]]:
    """The parameter list of a def with `code`'s parameters (no defaults: those stay on the
    function object) and the arguments passing each on."""
    names = code.co_varnames
    posonly = getattr(code, "co_posonlyargcount", 0)
    positional = list(names[: code.co_argcount])
    kwonly = list(names[code.co_argcount : code.co_argcount + code.co_kwonlyargcount])
    rest = code.co_argcount + code.co_kwonlyargcount
    varargs = names[rest] if code.co_flags & _CO_VARARGS else None
    varkw = names[rest + bool(varargs)] if code.co_flags & _CO_VARKEYWORDS else None
    params = positional[:posonly] + (["/"] if posonly else []) + positional[posonly:]
    if varargs:
        params.append(f"*{varargs}")
    elif kwonly:
        params.append("*")
    params += kwonly
    if varkw:
        params.append(f"**{varkw}")
    forward = positional + ([f"*{varargs}"] if varargs else []) + [f"{k}={k}" for k in kwonly]
    forward += [f"**{varkw}"] if varkw else []
    return params, forward
