"""`splice.replace`: a function runs another's code, for every reference to it that exists.

`unittest.mock.patch("app.pricing.price", fake)` rebinds one name: a `from app.pricing import
price` done before, a bound method taken before, a callback registered before and a closure
holding the function all keep calling the old one. `splice.replace(price, fake)` changes the
function object itself, in place, so every one of them calls `fake`'s code from then on, until
`revert()`:

    with splice.replaced(pricing.price, lambda item: 0):
        assert checkout(cart) == 0      # whatever reference checkout() calls price through

The replacement's own globals, closure and defaults apply. When it shares the target's globals
and neither has free variables, its code is put in the target directly; otherwise the target
gets a trampoline with the replacement's parameters that passes every argument on to it
(`trampolines.py`). Either way the change is one atomic commit, as for an editor's save: a
thread calling the function runs either all of the old or all of the new.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from types import CodeType, FunctionType, MethodType
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from . import _agent, trampolines
from .plan import SET

# The attributes a replacement sets, and revert puts back.
_REPLACED = ("__code__", "__defaults__", "__kwdefaults__")

# One replace or revert at a time: each reads what it then overwrites.
_lock = threading.Lock()


class Replacement:
    """What `replace` changed. `revert()` puts the target back exactly as it was (once; a second
    call does nothing)."""

    def __init__(self, target: FunctionType, replacement: FunctionType, before: Dict[str, Any]):
        self.target = target
        self.replacement = replacement
        self._before: Optional[Dict[str, Any]] = before

    @property
    def active(self) -> bool:
        """Whether the target still runs the replacement's code (not reverted)."""
        return self._before is not None

    def revert(self) -> None:
        with _lock:
            if self._before is None:
                return
            _agent.commit([(SET, self.target, name, self._before[name]) for name in _REPLACED])
            self._before = None

    def __repr__(self) -> str:
        state = "active" if self.active else "reverted"
        return f"<splice.Replacement of {self.target.__qualname__} by {self.replacement.__qualname__}: {state}>"


def replace(target: Callable[..., Any], replacement: Callable[..., Any]) -> Replacement:
    """Makes every existing reference to the function `target` (module attribute, `from`
    imports, bound methods, callbacks, closures) run `replacement`'s code with its defaults.
    `target` and `replacement` may be functions, methods (bound or not), classmethods or
    staticmethods. Returns a `Replacement` whose `revert()` restores the target exactly."""
    function = _function(target, "target")
    new = _function(replacement, "replacement")
    if function is new:
        raise ValueError(f"{function.__qualname__} cannot replace itself")
    code = _code_for(function, new)
    with _lock:
        before = {name: getattr(function, name) for name in _REPLACED}
        _agent.commit(
            [
                (SET, function, "__code__", code),
                (SET, function, "__defaults__", new.__defaults__),
                (SET, function, "__kwdefaults__", new.__kwdefaults__),
            ]
        )
    return Replacement(function, new, before)


@contextmanager
def replaced(target: Callable[..., Any], replacement: Callable[..., Any]) -> Iterator[Replacement]:
    """`replace` for the length of a `with` block: the target is restored on the way out, an
    exception included."""
    handle = replace(target, replacement)
    try:
        yield handle
    finally:
        handle.revert()


def _function(obj: Any, role: str) -> FunctionType:
    """The function object behind a function, a method, a classmethod or a staticmethod."""
    if isinstance(obj, (classmethod, staticmethod, MethodType)):
        obj = obj.__func__
    if not isinstance(obj, FunctionType):
        raise TypeError(
            f"splice.replace: the {role} must be a Python function, method, classmethod or "
            f"staticmethod, not {type(obj).__name__} ({obj!r})"
        )
    return obj


def _code_for(function: FunctionType, new: FunctionType) -> CodeType:
    """The code the target gets: the replacement's own when it can run there unchanged, else a
    trampoline to the replacement."""
    own_globals = new.__globals__ is function.__globals__
    if own_globals and not new.__code__.co_freevars and not function.__code__.co_freevars:
        return new.__code__
    code = trampolines.calling(function, new)
    if code is None:
        raise ValueError(_why_no_trampoline(function, new))
    return code


def _why_no_trampoline(function: FunctionType, new: FunctionType) -> str:
    if new.__code__.co_flags & 0x200:
        reason = "it is an async generator, whose asend/athrow a trampoline cannot pass on"
    else:
        clash: Tuple[str, ...] = tuple(
            set(function.__code__.co_freevars) & set(new.__code__.co_varnames[: new.__code__.co_argcount])
        )
        reason = f"its parameters {', '.join(sorted(clash))} are free variables of the target"
    return (
        f"splice.replace: {new.__qualname__} cannot run in place of {function.__qualname__}: {reason}; "
        "define the replacement in the target's module without closures to put its code there directly"
    )
