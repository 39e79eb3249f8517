"""The patch engine: bring a running program in step with a saved file, part by part.

A request carries the parts of one file that differ from what the program last took:
definitions (functions, methods, classes) and statements of module and class bodies. They are
handled in this order, which is part of the contract:

1. module-level imports, then other module-level statements, in file order, each run once in
   the module's namespace (statements cannot be undone: each runs as soon as it is decided on,
   and one that raises is reported while the rest goes on);
2. definitions: `functions.prepare` compiles, finds the live objects and checks every rule
   without changing anything, producing operations; the native module then applies the
   operations of every definition at once, under the interpreter lock (or none of them);
3. statements of class bodies (set on the live class), then parts removed from the file.

A part whose text did not change is never sent, so never touched.
"""

from __future__ import annotations

import json
import linecache
import os
import time
from collections import deque
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from . import _agent, feedback, functions, reloaders, statements
from . import reasons as R
from .locate import FileIndex, file_index, future_flags, modules_for
from .outcomes import outcome
from .plan import DELETE, SET, Plan
from .scopes import RESERVED_NAMES, assigned_names

HISTORY_DEPTH = 16
# Larger parts are refused before they are compiled: the program pauses while one compiles.
MAX_PART_BYTES = 1 << 20


def handle(method: str, params_json: str, source: Optional[str] = None) -> str:
    """Entry point for the native listener: one request in, one JSON result out. A patch's
    whole-file text comes apart from its JSON params."""
    params = json.loads(params_json)
    if method == "patch":
        key = os.path.realpath(params["path"])
        complete = params.get("complete", False)
        if complete and source is not None and _taken_in_full.get(key) == source:
            result = ENGINE.already_running(params["path"], params["definitions"])
        else:
            result = ENGINE.patch(params["path"], source, params["definitions"], params.get("statements", "run"))
        if source is not None and result["modules"]:
            taken = complete and all(r["status"] in TAKEN for r in result["definitions"])
            reloaders.settle(key, source, taken)
            if taken:
                _taken_in_full[key] = source
            else:
                _taken_in_full.pop(key, None)
        for listener in list(patch_listeners):
            listener(result)
    elif method == "revert":
        _taken_in_full.pop(os.path.realpath(params["path"]), None)
        result = ENGINE.revert(params["path"], params["qualnames"])
    elif method == "loaded":
        return json.dumps(loaded(params["path"]))
    else:
        raise ValueError(f"unknown method {method}")
    notices = reloaders.take_notices()
    if notices:
        result["notices"] = notices
    return json.dumps(result)


# The text of each file this program took in full at its last patch (a complete request, every
# part taken): a complete request with that same text has nothing left to do. A save reaches a
# program twice when it runs in watch mode and an editor's server sends the save as well; its
# statements must run once.
_taken_in_full: Dict[str, str] = {}

# Called with the result of each patch once it is applied, on the thread that applied it: how
# `pytest --splice-loop` learns that a save reached the session.
patch_listeners: List[Callable[[dict], None]] = []

# Statuses after which the program runs the part as sent.
TAKEN = frozenset((R.PATCHED, R.UNCHANGED, R.ADDED, R.REVERTED_STATUS))


class Context:
    """One patch request against one file, known by its resolved path `key`."""

    def __init__(self, key: str, modules: List[ModuleType], source: Optional[str] = None) -> None:
        self.key = key
        # The whole file as saved, when the request carries it.
        self.source = source
        self.modules = modules
        self.filenames = tuple(sorted({m.__file__ for m in modules}))
        self.filename = modules[0].__file__
        self.flags = future_flags(modules[0])
        self.index: FileIndex = file_index(self.filenames)
        self.added: set = set()
        self.nested_results: Dict[str, dict] = {}


def _stage(part: dict) -> Tuple[int, int]:
    """When a part is handled (see the module's docstring), then its line."""
    line = part.get("line") or part.get("previous_line") or 0
    if part.get("kind") == "statement":
        if part.get("change") == "removed":
            return 5, line
        if part["qualname"]:
            return 4, line
        return (0 if _is_import(part["source"]) else 1), line
    if part.get("change") == "removed":
        return 5, line
    return 2, part["qualname"].count(".")


def _placed(part: dict) -> dict:
    """The part with its texts at their real lines: a request sends each from its first line
    (`source_line`), the engine compiles it where it is in the file."""
    placed = dict(part)
    for key, line_key in (("source", "source_line"), ("previous", "previous_source_line")):
        line = placed.pop(line_key, 0) or 0
        if line > 1 and placed.get(key) is not None:
            placed[key] = "\n" * (line - 1) + placed[key]
    return placed


def _over_limits(part: dict) -> Optional[dict]:
    """Why a part is refused before anything is compiled, if it is."""
    qualname = part["qualname"]
    for text in (part.get("source"), part.get("previous")):
        size = len((text or "").lstrip("\n"))  # without the blank lines that place it
        if size > MAX_PART_BYTES:
            message = f"this part is {size / 1e6:.1f} MB; parts over {MAX_PART_BYTES >> 20} MB are not patched"
            return outcome(qualname, R.REFUSED, R.PART_TOO_LARGE, message)
    if part.get("kind") != "statement" and qualname in RESERVED_NAMES:
        message = f"{qualname} is the module's own; a definition by that name is not installed"
        return outcome(qualname, R.REFUSED, R.RESERVED_NAME, message)
    return None


def _is_import(text: Optional[str]) -> bool:
    stripped = (text or "").lstrip()
    return stripped.startswith(("import ", "from "))


class Engine:
    def __init__(self) -> None:
        self.history: Dict[Tuple[str, str], deque] = {}
        # Of the signature each function's defaults were last evaluated from, where the text
        # the program took is not known.
        self.fingerprints: Dict[Tuple[str, str], str] = {}

    def already_running(self, path: str, parts: List[dict]) -> dict:
        """The answer to a request for the text the program took in full last: every part is
        what it runs."""
        modules = modules_for(os.path.realpath(path))
        message = "the program already runs this text"
        return {
            "path": path,
            "modules": [m.__name__ for m in modules],
            "definitions": [outcome(p["qualname"], R.UNCHANGED, R.SAME_CODE, message) for p in parts],
        }

    def patch(self, path: str, source: Optional[str], parts: List[dict], policy: str = "run") -> dict:
        key = os.path.realpath(path)
        modules = modules_for(key)
        if not modules:
            message = f"no module of this program is loaded from {path}"
            return {
                "path": path,
                "modules": [],
                "definitions": [outcome(p["qualname"], R.NOT_LOADED, R.FILE_NOT_LOADED, message) for p in parts],
            }
        importing = [m.__name__ for m in modules if getattr(getattr(m, "__spec__", None), "_initializing", False)]
        if importing:
            names = ", ".join(importing)
            message = f"the program is importing {path} right now ({names}); save again once it is loaded"
            return {
                "path": path,
                "modules": [],
                "definitions": [outcome(p["qualname"], R.NOT_LOADED, R.FILE_NOT_LOADED, message) for p in parts],
            }
        ctx = Context(key, modules, source)
        order = sorted(range(len(parts)), key=lambda i: _stage(parts[i]))
        results: List[Optional[dict]] = [None] * len(parts)
        plans: Dict[int, Plan] = {}
        body_line = None
        if any(_stage(p)[0] < 2 for p in parts):
            body_line = statements.module_body_line(ctx)
        done: Set[int] = set()

        def commit() -> None:
            self._commit(ctx, parts, plans, done, source, path)

        for i in order:
            stage = _stage(parts[i])[0]
            refusal = _over_limits(parts[i])
            if refusal is not None:
                results[i] = refusal
                continue
            part = _placed(parts[i])
            try:
                if stage < 2:
                    results[i] = statements.run_module_statement(ctx, part, policy != "skip", body_line)
                elif stage == 2:
                    plans[i] = self._prepare(ctx, part)
                    continue
                elif stage == 4:
                    commit()
                    results[i] = statements.run_class_statement(ctx, part)
                else:
                    commit()
                    if part.get("kind") == "statement":
                        results[i] = statements.remove_statement(ctx, part, _assigned_now(ctx, parts))
                    else:
                        plans[i] = functions.remove(ctx, part)
                        commit()
            except Exception as err:  # an engine bug must not lose the rest of the request
                results[i] = outcome(part["qualname"], R.ERROR, R.INTERNAL, f"internal error: {err!r}")
        commit()
        for i, plan in plans.items():
            results[i] = plan.result
        return {"path": path, "modules": [m.__name__ for m in modules], "definitions": results}

    def _prepare(self, ctx: Context, part: dict) -> Plan:
        try:
            change = part.get("change", "changed")
            if change == "moved":
                return functions.move(ctx, part)
            return functions.prepare(self, ctx, part)
        except Exception as err:
            return Plan(outcome(part["qualname"], R.ERROR, R.INTERNAL, f"internal error: {err!r}"))

    def _commit(self, ctx: Context, parts: List[dict], plans: Dict[int, Plan], done: Set[int], source, path) -> None:
        """Applies every prepared plan not in `done` yet, all at once or none."""
        pending = {i: p for i, p in plans.items() if i not in done}
        done.update(pending)
        if not pending:
            return
        ops = [op for i in sorted(pending, key=lambda i: _stage(parts[i])) for op in pending[i].ops]
        if ops:
            try:
                _agent.commit(ops)
            except Exception as err:
                message = f"applying the patch failed and was undone: {err!r}"
                for plan in pending.values():
                    if plan.ops:
                        plan.result.update(status=R.ERROR, reason=R.COMMIT_FAILED, message=message, live_functions=0)
                        plan.ops = []
        changed = any(plan.ops for plan in pending.values())
        text = source if source is not None else _read(path)
        lines = linecache_update(ctx.filenames, text) if changed else {}
        patched_at = time.time()
        for i, plan in pending.items():
            qualname = parts[i]["qualname"]
            if plan.ops and plan.snapshot is not None:
                plan.snapshot.lines = lines
                stack = self.history.setdefault((ctx.key, qualname), deque(maxlen=HISTORY_DEPTH))
                stack.append(plan.snapshot)
            for function in plan.touched:
                ctx.index.add(function)
            if plan.ops:
                for code, code_qualname, unwrapped in plan.installed:
                    feedback.register(code, code_qualname, patched_at, unwrapped)

    # -- revert ------------------------------------------------------------------------------

    def revert(self, path: str, qualnames: List[str]) -> dict:
        key = os.path.realpath(path)
        modules = modules_for(key)
        results = []
        for qualname in qualnames:
            stack = self.history.get((key, qualname))
            if not stack:
                message = f"nothing to revert: {qualname} was not patched"
                results.append(outcome(qualname, R.ERROR, R.NOTHING_TO_REVERT, message))
                continue
            snapshot = stack[-1]
            ops: List[Any] = []
            live = 0
            for ref, code, defaults, kwdefaults, doc, annotation_dict in snapshot.entries:
                function = ref()
                if function is None:
                    continue
                live += 1
                ops += [
                    (SET, function, "__code__", code),
                    (SET, function, "__defaults__", defaults),
                    (SET, function, "__kwdefaults__", kwdefaults),
                    (SET, function, "__doc__", doc),
                    (SET, function, "__annotations__", annotation_dict),
                ]
            if snapshot.added is not None:
                ops.append((DELETE, snapshot.added[0], snapshot.added[1], None))
            if snapshot.rebound is not None:
                container, name, value = snapshot.rebound
                ops.append((SET, container, name, value))
            try:
                _agent.commit(ops)
            except Exception as err:
                results.append(outcome(qualname, R.ERROR, R.COMMIT_FAILED, f"revert failed and was undone: {err!r}"))
                continue
            stack.pop()
            self.fingerprints.pop((key, qualname), None)
            linecache_restore(snapshot.lines)
            message = "removed" if snapshot.added is not None else "previous version restored"
            results.append(outcome(qualname, R.REVERTED_STATUS, R.REVERTED, message, None, live))
        return {"path": path, "modules": [m.__name__ for m in modules], "definitions": results}


ENGINE = Engine()


def _assigned_now(ctx: Context, parts: List[dict]) -> Set[tuple]:
    """(scope, name) bound by the statements this request runs, whose removed counterparts
    must not undo them."""
    found: Set[tuple] = set()
    for part in parts:
        if part.get("kind") != "statement" or part.get("change") == "removed" or not part.get("source"):
            continue
        scope = part["qualname"].split(".") if part["qualname"] else []
        try:
            node = statements.parse(ctx, part["source"], scope)
        except SyntaxError:
            continue
        if node is not None:
            found.update((part["qualname"], name) for name in assigned_names(node))
    return found


def loaded(path: str) -> dict:
    modules = modules_for(os.path.realpath(path))
    names: set = set()
    if modules:
        filenames = tuple(sorted({m.__file__ for m in modules}))
        names.update(name for name in file_index(filenames).qualnames() if not name.rsplit(".", 1)[-1].startswith("<"))
        for module in modules:
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == module.__name__:
                    names.add(value.__qualname__)
    return {"path": path, "modules": [m.__name__ for m in modules], "definitions": sorted(names)}


# -- linecache --------------------------------------------------------------------------------


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def linecache_update(filenames: Tuple[str, ...], text: Optional[str]) -> Dict[str, Any]:
    """Makes tracebacks show `text` for these files; returns the entries it replaced, compact
    (see `_compact`): undo history keeps one per patch."""
    previous = {name: _compact(name, linecache.cache.get(name)) for name in filenames}
    if text is not None:
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for name in filenames:
            # No mtime: linecache.checkcache leaves the entry alone instead of rereading disk.
            linecache.cache[name] = (len(text), None, lines, name)
    return previous


def linecache_restore(previous: Dict[str, Any]) -> None:
    for name, entry in previous.items():
        if entry is None:
            linecache.cache.pop(name, None)
        else:
            size, mtime, chunks, fullname = entry
            linecache.cache[name] = (size, mtime, [line for chunk in chunks for line in chunk], fullname)


_CHUNK_LINES = 64
# The chunks of each file's last compact entry, to share with the next one.
_last_chunks: Dict[str, Dict[tuple, tuple]] = {}


def _compact(name: str, entry: Any) -> Any:
    """A linecache entry with its lines as tuples of `_CHUNK_LINES` lines, each shared with the
    previous compact entry of the file where equal: consecutive versions of a file differ in a
    few lines, so an entry costs its changed chunks, not a copy of the file."""
    if entry is None or len(entry) != 4:
        return None
    size, mtime, lines, fullname = entry
    known = _last_chunks.get(name, {})
    chunks = []
    for start in range(0, len(lines), _CHUNK_LINES):
        chunk = tuple(lines[start : start + _CHUNK_LINES])
        chunks.append(known.get(chunk, chunk))
    _last_chunks[name] = {chunk: chunk for chunk in chunks}
    return (size, mtime, tuple(chunks), fullname)
