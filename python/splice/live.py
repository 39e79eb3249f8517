"""Which live objects a definition is: the function objects behind a module or class attribute
(through classmethod, staticmethod, property and `__wrapped__` chains), told apart from their
namesakes by the line they were defined at, and the role the attribute plays."""

from __future__ import annotations

import ast
from types import FunctionType
from typing import Any, Dict, List, Optional, Tuple

from .scopes import resolve_container

# Implicitly class or static methods: their bodies patch like any method's.
_IMPLICIT = {"__init_subclass__": "classmethod", "__class_getitem__": "classmethod", "__new__": "staticmethod"}


def live_roots(ctx, container_parts: List[str], name: str, qualname: str, role: str, at_line: Optional[int]):
    """Live functions of a definition that is not nested in a function, with the caches
    wrapped around them, the kind of class attribute they are found as and that attribute.
    With `at_line`, only functions defined at that line: namesakes are other definitions."""
    found: Dict[int, FunctionType] = {}
    caches: List[Any] = []
    live_role = None
    raw = None
    for module in ctx.modules:
        container = resolve_container(module, container_parts)
        if container is None or name not in vars(container):
            continue
        raw = vars(container)[name]
        live_role = role_of(raw)
        function, wrappers = unwrap(raw, role, name, ctx.filenames)
        if function is not None and at_line is not None and function.__code__.co_firstlineno != at_line:
            function = None
        if function is not None:
            caches.extend(w for w in wrappers if callable(getattr(w, "cache_clear", None)))
            found[id(function)] = function
    # A property's accessors share one qualified name: only the attribute tells them apart.
    if not role.startswith("property-"):
        for function in ctx.index.functions(qualname):
            if function.__code__.co_filename not in ctx.filenames:
                continue
            if at_line is not None and function.__code__.co_firstlineno != at_line:
                continue
            found.setdefault(id(function), function)
    # The function reached through the module comes first: its code is the reference.
    return list(found.values()), caches, live_role, raw


ROLE_TEXT = {
    "function": "a plain function",
    "classmethod": "a classmethod",
    "staticmethod": "a staticmethod",
    "property-get": "a property getter",
    "property-set": "a property setter",
    "property-del": "a property deleter",
    "wrapped": "a wrapped function",
    "property": "a property",
}


def decorator_role(node, name: str = "") -> str:
    """What the definition's decorators make of it, as far as patching in place cares."""
    for decorator in getattr(node, "decorator_list", []):
        if isinstance(decorator, ast.Name) and decorator.id in ("classmethod", "staticmethod"):
            return decorator.id
        if isinstance(decorator, ast.Name) and decorator.id == "property":
            return "property-get"
        if isinstance(decorator, ast.Attribute) and decorator.attr in ("getter", "setter", "deleter"):
            return {"getter": "property-get", "setter": "property-set", "deleter": "property-del"}[decorator.attr]
    return _IMPLICIT.get(name, "function")


def role_of(raw: Any) -> Optional[str]:
    if isinstance(raw, classmethod):
        return "classmethod"
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if isinstance(raw, property):
        return "property"
    if isinstance(raw, type):
        return "class"
    if isinstance(raw, FunctionType):
        return "function"
    return "wrapped"


def compatible_roles(live_role: Optional[str], role: str) -> bool:
    if live_role in (None, "wrapped", "class"):
        return True
    if live_role == "property":
        return role.startswith("property-")
    return live_role == role


def unwrap(raw: Any, role: str, name: str, filenames: Tuple[str, ...]):
    """The function object of the definition behind a class or module attribute, and the
    wrappers passed on the way (for their caches)."""
    wrappers: List[Any] = []
    if isinstance(raw, (classmethod, staticmethod)):
        raw = raw.__func__
    elif isinstance(raw, property):
        raw = {"property-set": raw.fset, "property-del": raw.fdel}.get(role, raw.fget)
    obj = raw
    for _ in range(32):
        if type(obj) is FunctionType and obj.__code__.co_filename in filenames and obj.__code__.co_name == name:
            return obj, wrappers
        wrappers.append(obj)
        try:
            obj = obj.__wrapped__
        except Exception:
            break
        if isinstance(obj, (classmethod, staticmethod)):
            obj = obj.__func__
    return None, wrappers
