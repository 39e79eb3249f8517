"""Finding what the running program holds from a file: its modules and its live functions."""

from __future__ import annotations
import __future__

import gc
import os
import sys
import weakref
from types import FunctionType, ModuleType
from typing import Dict, List, Optional, Tuple

# Resolved paths of module files, keyed by the `__file__` string: resolving costs system calls.
_real_paths: Dict[str, str] = {}


def real_path(path: str) -> str:
    known = _real_paths.get(path)
    if known is None:
        known = _real_paths[path] = os.path.realpath(path)
    return known


# Resolved path -> (keys in sys.modules of the modules loaded from it, size of sys.modules then).
# Valid while no module was added or removed and each still comes from that path.
_modules_of: Dict[str, Tuple[List[str], int]] = {}


def modules_for(target: str) -> List[ModuleType]:
    """Modules loaded from the resolved path `target`; `__main__` first when it is one."""
    known = _modules_of.get(target)
    if known is not None and known[1] == len(sys.modules):
        modules = [sys.modules.get(key) for key in known[0]]
        if all(m is not None and real_path(getattr(m, "__file__", "") or "") == target for m in modules):
            return modules  # type: ignore[return-value]
    found = []
    for key, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and real_path(file) == target:
            found.append((key != "__main__", key, module))
    found.sort(key=lambda entry: entry[:2])
    seen: set = set()
    keys, modules = [], []
    for _, key, module in found:
        if id(module) not in seen:
            seen.add(id(module))
            keys.append(key)
            modules.append(module)
    if modules:
        _modules_of[target] = (keys, len(sys.modules))
    return modules


def future_flags(module: ModuleType) -> int:
    """Compiler flags of the module's `from __future__ import ...` statements."""
    flags = 0
    namespace = vars(module)
    for feature_name in __future__.all_feature_names:
        feature = namespace.get(feature_name)
        if isinstance(feature, __future__._Feature):
            flags |= feature.compiler_flag
    return flags


def qualname_of(function: FunctionType) -> Optional[str]:
    """The qualified name of the definition `function` was made from; None for a wrapper that
    borrowed another function's `__qualname__` (functools.wraps)."""
    code = function.__code__
    qualname = getattr(code, "co_qualname", None)
    if qualname is not None:
        return qualname
    qualname = function.__qualname__
    if qualname.rsplit(".", 1)[-1] != code.co_name:
        return None
    return qualname


class FileIndex:
    """Every function object made from one file, by qualified name, held weakly. Built by one
    heap scan on the file's first patch; functions found later are added as they are met."""

    def __init__(self, filenames: Tuple[str, ...]):
        self.filenames = filenames
        self.by_qualname: Dict[str, weakref.WeakSet] = {}
        for obj in gc.get_objects():
            if type(obj) is FunctionType and obj.__code__.co_filename in filenames:
                self.add(obj)

    def add(self, function: FunctionType) -> None:
        qualname = qualname_of(function)
        if qualname is not None:
            self.by_qualname.setdefault(qualname, weakref.WeakSet()).add(function)

    def functions(self, qualname: str) -> List[FunctionType]:
        return list(self.by_qualname.get(qualname, ()))

    def qualnames(self) -> List[str]:
        return sorted(name for name, functions in self.by_qualname.items() if len(functions))


_indexes: Dict[Tuple[str, ...], FileIndex] = {}


def file_index(filenames: Tuple[str, ...]) -> FileIndex:
    """The index of the functions made from files known to code objects by these names."""
    index = _indexes.get(filenames)
    if index is None:
        index = _indexes[filenames] = FileIndex(filenames)
    return index


def functions_with_code(codes: list) -> Dict[int, List[FunctionType]]:
    """Live functions running any of `codes` (closures made at any time), by id of the code."""
    found: Dict[int, List[FunctionType]] = {}
    if not codes:
        return found
    wanted = {id(code) for code in codes}
    for referrer in gc.get_referrers(*codes):
        if type(referrer) is FunctionType and id(referrer.__code__) in wanted:
            found.setdefault(id(referrer.__code__), []).append(referrer)
    return found
