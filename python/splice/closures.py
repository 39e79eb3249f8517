"""Closures of a changed function: the new code for each live function object (directly, or
through a trampoline when its cells differ from what the new body needs), the closures made
from its nested functions, and where the old body keeps running."""

from __future__ import annotations

import gc
import sys
from types import CodeType, FunctionType
from typing import Dict, List, Optional

from . import reasons as R
from . import trampolines
from .codeobjects import changed_pairs, kind
from .locate import functions_with_code
from .outcomes import outcome
from .plan import SET, Plan


def root_codes(roots: List[FunctionType], new_root: CodeType, cls) -> Optional[Dict[int, CodeType]]:
    """The code each live function gets, by id: the new code, or a trampoline where its closure
    differs from what the new body needs and its cells (or a fresh `__class__` bound to `cls`)
    provide it. None when some function cannot run the new body."""
    codes: Dict[int, CodeType] = {}
    for function in roots:
        code: Optional[CodeType] = new_root
        if function.__code__.co_freevars != new_root.co_freevars:
            cells = trampolines.cells_for(function, new_root, cls)
            code = trampolines.make(function, new_root, cells) if cells is not None else None
        if code is None:
            return None
        codes[id(function)] = code
    return codes


def patch_closures(plan: Plan, results: Dict[str, dict], old_root: CodeType, new_root: CodeType, root_qualname: str):
    """Adds to `plan` the new code of every live closure made from a nested function that
    changed, and puts each nested function's result in `results`. Returns the pairs of old and
    new nested code, with their qualified names."""
    pairs = changed_pairs(old_root, new_root, root_qualname)
    if not pairs:
        return pairs
    live_by_code = functions_with_code([old for old, _, _ in pairs])
    for old, new, nested_qualname in pairs:
        closures = live_by_code.get(id(old), [])
        fits = []
        for function in closures:
            code = (root_codes([function], new, None) or {}).get(id(function))
            if code is not None:
                fits.append(function)
                plan.snapshot.remember(function)
                plan.ops.append((SET, function, "__code__", code))
        result = outcome(nested_qualname, R.PATCHED, R.CODE_REPLACED, "", None, len(fits))
        if len(fits) < len(closures):
            result.update(
                status=R.REFUSED,
                reason=R.CLOSURE_CHANGED,
                message=stale_closures(nested_qualname, old, new, len(closures) - len(fits), root_qualname),
            )
        elif not closures:
            result["message"] = f"no live closures; calls of {root_qualname}() from now on create the new body"
        results[nested_qualname] = result
    return pairs


def still_running(old_root: CodeType, root_qualname: str, pairs) -> List[str]:
    """Where the old body keeps running after the patch: frames on threads' stacks, and
    suspended generators and coroutines made before it."""
    olds = {id(old_root): root_qualname}
    olds.update((id(old), qualname) for old, _, qualname in pairs)
    notes = []
    threading = sys.modules.get("threading")
    names = {t.ident: t.name for t in threading.enumerate()} if threading else {}
    main = threading.main_thread().ident if threading else None
    for ident, frame in sys._current_frames().items():
        while frame is not None:
            qualname = olds.get(id(frame.f_code))
            if qualname is not None:
                who = "the main thread" if ident == main else f"thread {names.get(ident, ident)}"
                short = qualname.rsplit(".", 1)[-1]
                notes.append(f"{who} is inside {short}(); it picks up the new body on its next call")
                break
            frame = frame.f_back
    generating = [old for old in [old_root] + [pair[0] for pair in pairs] if kind(old) != "a plain function"]
    if generating:
        suspended = 0
        for referrer in gc.get_referrers(*generating):
            frame = getattr(referrer, "gi_frame", None) or getattr(referrer, "cr_frame", None)
            frame = frame or getattr(referrer, "ag_frame", None)
            if frame is not None and any(frame.f_code is code for code in generating):
                suspended += 1
        if suspended:
            made = "generator or coroutine" if suspended == 1 else "generators or coroutines"
            keep = "keeps" if suspended == 1 else "keep"
            notes.append(
                f"{suspended} suspended {made} made before this patch {keep} running the old body; "
                "new ones get the new one"
            )
    return notes


def closure_change(old: CodeType, new: CodeType) -> str:
    if "__class__" in new.co_freevars and "__class__" not in old.co_freevars:
        return "now uses zero-argument super() or __class__"
    if "__class__" in old.co_freevars and "__class__" not in new.co_freevars:
        return "no longer uses zero-argument super() or __class__"
    return f"changed its free variables from {old.co_freevars} to {new.co_freevars}"


def stale_closures(qualname: str, old: CodeType, new: CodeType, count: int, root: str) -> str:
    added = [v for v in new.co_freevars if v not in old.co_freevars]
    removed = [v for v in old.co_freevars if v not in new.co_freevars]
    change = []
    if added:
        change.append("now uses " + ", ".join(added))
    if removed:
        change.append("no longer uses " + ", ".join(removed))
    if not change:
        change.append("uses them in another order")
    closures = "closure made before this edit keeps" if count == 1 else "closures made before this edit keep"
    return (
        f"the free variables of {qualname} changed ({'; '.join(change)} from the enclosing "
        f"function): {count} live {closures} the old body; calls of {root}() from now on get "
        "the new one"
    )
