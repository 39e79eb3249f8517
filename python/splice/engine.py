"""The patch engine: compile changed definitions in their context and swap their code into
every live function object, in place.

A request is handled in two phases. `prepare` compiles, finds the live objects and checks
every rule without changing anything, producing operations; `commit` hands all operations of
the request to the native module, which applies them in one step under the interpreter lock
(or none of them). The engine never runs module-level code of the program: it executes a
definition only to create one that did not exist.
"""

from __future__ import annotations
import __future__

import ast
import gc
import json
import linecache
import os
import sys
import time
import weakref
from collections import deque
from types import CodeType, FunctionType, ModuleType
from typing import Any, Dict, List, Optional, Tuple

from . import _agent, feedback
from .codeobjects import changed_pairs, find_path, kind, replace_path, same_code
from .locate import FileIndex, file_index, functions_with_code, future_flags, modules_for
from .wrapping import wrap

SET, DELETE, CALL = 0, 1, 2
REPORTING = sys.version_info >= (3, 11)
HISTORY_DEPTH = 16
_ANNOTATIONS_FLAG = __future__.annotations.compiler_flag

Op = Tuple[int, Any, Optional[str], Any]


def handle(method: str, params_json: str, source: Optional[str] = None) -> str:
    """Entry point for the native listener: one request in, one JSON result out. A patch's
    whole-file text comes apart from its JSON params."""
    params = json.loads(params_json)
    if method == "patch":
        result = ENGINE.patch(params["path"], source, params["definitions"])
    elif method == "revert":
        result = ENGINE.revert(params["path"], params["qualnames"])
    elif method == "loaded":
        result = loaded(params["path"])
    else:
        raise ValueError(f"unknown method {method}")
    return json.dumps(result)


def outcome(qualname: str, status: str, message: str = "", span=None, live: int = 0) -> dict:
    return {
        "qualname": qualname,
        "status": status,
        "message": message,
        "span": span,
        "live_functions": live,
    }


class Snapshot:
    """What one patch of one definition replaced, enough to put it back. Functions are held
    weakly: history never keeps a dead closure alive."""

    __slots__ = ("entries", "added", "lines")

    def __init__(self) -> None:
        self.entries: List[tuple] = []
        self.added: Optional[Tuple[Any, str]] = None
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
    __slots__ = ("result", "ops", "snapshot", "fingerprint", "touched", "installed")

    def __init__(self, result: dict, ops=None, snapshot=None, fingerprint=None) -> None:
        self.result = result
        self.ops: List[Op] = ops or []
        self.snapshot: Optional[Snapshot] = snapshot
        self.fingerprint = fingerprint
        self.touched: List[FunctionType] = []
        # Wrapped code objects this plan puts in place, with their qualified names and how to
        # compile them unwrapped.
        self.installed: List[Tuple[CodeType, str, Optional[feedback.Unwrapped]]] = []


class Context:
    """One patch request against one file, known by its resolved path `key`."""

    def __init__(self, key: str, modules: List[ModuleType]) -> None:
        self.key = key
        self.modules = modules
        self.filenames = tuple(sorted({m.__file__ for m in modules}))
        self.filename = modules[0].__file__
        self.flags = future_flags(modules[0])
        self.index: FileIndex = file_index(self.filenames)
        self.added: set = set()
        self.nested_results: Dict[str, dict] = {}


class Engine:
    def __init__(self) -> None:
        self.history: Dict[Tuple[str, str], deque] = {}
        self.fingerprints: Dict[Tuple[str, str], str] = {}

    # -- patch -------------------------------------------------------------------------------

    def patch(self, path: str, source: Optional[str], definitions: List[dict]) -> dict:
        key = os.path.realpath(path)
        modules = modules_for(key)
        if not modules:
            return {
                "path": path,
                "modules": [],
                "definitions": [
                    outcome(d["qualname"], "not-loaded", f"no module of this program is loaded from {path}")
                    for d in definitions
                ],
            }
        ctx = Context(key, modules)
        order = sorted(range(len(definitions)), key=lambda i: definitions[i]["qualname"].count("."))
        plans: Dict[int, Plan] = {}
        for i in order:
            definition = definitions[i]
            try:
                plans[i] = self.prepare(ctx, definition["qualname"], definition["source"])
            except Exception as err:  # an engine bug must not lose the rest of the request
                plans[i] = Plan(outcome(definition["qualname"], "error", f"internal error: {err!r}"))
        ops = [op for i in order for op in plans[i].ops]
        if ops:
            try:
                _agent.commit(ops)
            except Exception as err:
                message = f"applying the patch failed and was undone: {err!r}"
                for plan in plans.values():
                    if plan.ops:
                        plan.result.update(status="error", message=message, live_functions=0)
                        plan.ops = []
        changed = any(plan.ops for plan in plans.values())
        text = source if source is not None else _read(path)
        lines = linecache_update(ctx.filenames, text) if changed else {}
        for i in order:
            plan = plans[i]
            qualname = definitions[i]["qualname"]
            if plan.fingerprint is not None:
                self.fingerprints[(ctx.key, qualname)] = plan.fingerprint
            if plan.ops and plan.snapshot is not None:
                plan.snapshot.lines = lines
                stack = self.history.setdefault((ctx.key, qualname), deque(maxlen=HISTORY_DEPTH))
                stack.append(plan.snapshot)
            for function in plan.touched:
                ctx.index.add(function)
            if plan.ops:
                patched_at = time.time()
                for code, code_qualname, unwrapped in plan.installed:
                    feedback.register(code, code_qualname, patched_at, unwrapped)
        return {
            "path": path,
            "modules": [m.__name__ for m in modules],
            "definitions": [plans[i].result for i in range(len(definitions))],
        }

    def prepare(self, ctx: Context, qualname: str, source: str) -> Plan:
        parts = qualname.split(".")
        try:
            tree = compile(source, ctx.filename, "exec", ctx.flags | ast.PyCF_ONLY_AST, dont_inherit=True)
            # What gets installed reports the exceptions it raises (see wrapping.py), where a
            # `try` costs nothing until something raises: CPython 3.11 and later.
            if REPORTING:
                tree = wrap(tree)
            wrapped_code = compile(tree, ctx.filename, "exec", ctx.flags, dont_inherit=True)
        except SyntaxError as err:
            return Plan(outcome(qualname, "error", f"SyntaxError: {err.msg}", syntax_error_span(err)))
        except (ValueError, TypeError) as err:
            return Plan(outcome(qualname, "error", f"cannot compile: {err}"))
        node = find_node(tree, parts)
        code_path = [p for p in parts if p != "<locals>"]
        new_code = find_path(wrapped_code, code_path) if node is not None else None
        if node is None or new_code is None:
            return Plan(outcome(qualname, "error", f"the source sent for {qualname} does not define it"))
        span = name_span(source, node)

        if "<locals>" in parts:
            cut = parts.index("<locals>")
            root_parts = parts[:cut]
        else:
            root_parts = parts
        root_qualname = ".".join(root_parts)
        inner_path = code_path[len(root_parts) :]
        container_parts, name = root_parts[:-1], root_parts[-1]

        for i in range(1, len(parts)):
            ancestor = ".".join(parts[:i])
            if ancestor in ctx.added:
                return Plan(outcome(qualname, "added", f"created with {ancestor}", span))
        if qualname in ctx.nested_results:
            return Plan(dict(ctx.nested_results[qualname], span=span))

        role = decorator_role(node) if not inner_path else "function"
        roots, caches, live_role = self.live_roots(ctx, container_parts, name, root_qualname, role)
        if isinstance(node, ast.ClassDef) and live_role == "class":
            return Plan(
                outcome(
                    qualname,
                    "unchanged",
                    "class bodies are not run again; their methods are patched one by one",
                    span,
                )
            )
        if not _compatible_roles(live_role, role):
            return Plan(
                outcome(
                    qualname,
                    "refused",
                    f"{qualname} was {_ROLE_TEXT[live_role]} and is now {_ROLE_TEXT[role]}: the class "
                    "attribute cannot change kind in place; restart the program to take this edit",
                    span,
                )
            )
        if not roots and live_role == "property":
            return Plan(
                outcome(
                    qualname,
                    "refused",
                    f"{qualname} adds an accessor to a live property, which cannot change in place; "
                    "restart the program to take this edit",
                    span,
                )
            )
        if not roots:
            if inner_path:
                return Plan(outcome(qualname, "error", f"{root_qualname} is not loaded in the running program", span))
            return self.prepare_added(ctx, qualname, container_parts, name, wrapped_code, tree, source, span)

        old_root = roots[0].__code__
        if inner_path:
            old_code = find_path(old_root, inner_path)
            if old_code is None:
                return Plan(
                    outcome(
                        qualname,
                        "error",
                        f"{qualname} is new inside {root_qualname}: patch {root_qualname} to create it",
                        span,
                    )
                )
            if old_code.co_freevars == new_code.co_freevars:
                new_root = replace_path(old_root, inner_path, new_code)
            else:
                # The enclosing function must now provide other cells: take it whole, as sent.
                new_root = find_path(wrapped_code, root_parts)
        else:
            old_code, new_root = old_root, new_code

        if kind(old_code) != kind(new_code):
            return Plan(
                outcome(
                    qualname,
                    "refused",
                    f"{qualname} was {kind(old_code)} and is now {kind(new_code)}: callers already "
                    "treat its results the old way; restart the program to take this edit",
                    span,
                )
            )
        if roots[0].__code__.co_freevars != new_root.co_freevars:
            return Plan(
                outcome(
                    qualname,
                    "refused",
                    f"{qualname} {_closure_change(roots[0].__code__, new_root)}: a function's closure "
                    "cannot change in place; restart the program to take this edit",
                    span,
                )
            )

        plan = Plan(outcome(qualname, "patched", "", span), snapshot=Snapshot())
        if not inner_path:
            try:
                extra_ops, plan.fingerprint = self.signature_ops(ctx, qualname, node, new_code, roots, container_parts)
            except Exception as err:
                return Plan(
                    outcome(
                        qualname,
                        "error",
                        f"evaluating the defaults of {qualname} raised {type(err).__name__}: {err}",
                        span,
                    )
                )
        else:
            extra_ops = []

        # Code never patched runs unwrapped: compare it with what the same text compiles to.
        if feedback.is_installed(old_code):
            same_as = [new_code]
        else:
            plain = compile(source, ctx.filename, "exec", ctx.flags, dont_inherit=True)
            same_as = [new_code, find_path(plain, code_path) or new_code]
        if not extra_ops and any(same_code(old_code, c, lines=True) for c in same_as):
            return Plan(outcome(qualname, "unchanged", "", span), fingerprint=plan.fingerprint)

        for function in roots:
            if not same_code(function.__code__, new_root, lines=True):
                plan.snapshot.remember(function)
                plan.ops.append((SET, function, "__code__", new_root))
                plan.touched.append(function)
        self_result = plan.result
        pairs = changed_pairs(old_root, new_root, root_qualname)
        if pairs:
            live_by_code = functions_with_code([old for old, _, _ in pairs])
            for old, new, nested_qualname in pairs:
                closures = live_by_code.get(id(old), [])
                fits = [f for f in closures if f.__code__.co_freevars == new.co_freevars]
                for function in fits:
                    plan.snapshot.remember(function)
                    plan.ops.append((SET, function, "__code__", new))
                result = outcome(nested_qualname, "patched", "", None, len(fits))
                if len(fits) < len(closures):
                    result.update(
                        status="refused",
                        message=_stale_closures(
                            nested_qualname,
                            old,
                            new,
                            len(closures) - len(fits),
                            root_qualname,
                        ),
                    )
                elif not closures:
                    result["message"] = f"no live closures; calls of {root_qualname}() from now on create the new body"
                ctx.nested_results[nested_qualname] = result
            if inner_path:
                self_result = ctx.nested_results.get(qualname, self_result)
        plan.ops.extend(extra_ops)
        plan.ops.extend((CALL, cache.cache_clear, None, None) for cache in caches)

        if self_result is not plan.result:
            plan.result.update(self_result, span=span)
        elif any(same_code(old_code, c) and not same_code(old_code, c, lines=True) for c in same_as):
            plan.result.update(message=f"moved to line {new_code.co_firstlineno}; line numbers updated")
        if not inner_path:
            plan.result["live_functions"] = len(roots)
        # Unwrapped, the root compiles from the text sent only when all of it was installed.
        unwrapped = None if inner_path else feedback.Unwrapped(source, ctx.filename, ctx.flags, root_parts)
        plan.installed.append((new_root, root_qualname, unwrapped))
        plan.result["still_running"] = still_running(old_root, root_qualname, pairs)
        return plan

    def live_roots(self, ctx: Context, container_parts: List[str], name: str, qualname: str, role: str):
        """Live functions of a definition that is not nested in a function, with the caches
        wrapped around them and the kind of class attribute they are found as."""
        found: Dict[int, FunctionType] = {}
        caches: List[Any] = []
        live_role = None
        for module in ctx.modules:
            container = resolve_container(module, container_parts)
            if container is None or name not in vars(container):
                continue
            raw = vars(container)[name]
            live_role = role_of(raw)
            function, wrappers = unwrap(raw, role, name, ctx.filenames)
            caches.extend(w for w in wrappers if callable(getattr(w, "cache_clear", None)))
            if function is not None:
                found[id(function)] = function
        # A property's accessors share one qualified name: only the attribute tells them apart.
        if not role.startswith("property-"):
            for function in ctx.index.functions(qualname):
                if function.__code__.co_filename in ctx.filenames:
                    found.setdefault(id(function), function)
        # The function reached through the module comes first: its code is the reference.
        return list(found.values()), caches, live_role

    def prepare_added(self, ctx, qualname, container_parts, name, module_code, tree, source, span) -> Plan:
        module = ctx.modules[0]
        container = resolve_container(module, container_parts)
        if container is None:
            owner = ".".join(container_parts)
            return Plan(outcome(qualname, "error", f"class {owner} is not defined in the running program", span))
        if container_parts:
            body = find_path(module_code, container_parts)
        else:
            # The context's imports were there to compile alike; creating a function runs
            # only its own statement.
            tree.body = [stmt for stmt in tree.body if not isinstance(stmt, (ast.Import, ast.ImportFrom))]
            body = compile(tree, ctx.filename, "exec", ctx.flags, dont_inherit=True)
        # A new method's decorators may use names of the class body.
        namespace: Dict[str, Any] = dict(vars(container)) if container_parts else {}
        try:
            exec(body, vars(module), namespace)
        except Exception as err:
            return Plan(outcome(qualname, "error", f"defining {qualname} raised {type(err).__name__}: {err}", span))
        if name not in namespace:
            return Plan(outcome(qualname, "error", f"the source sent for {qualname} does not define it", span))
        cell = namespace.get("__classcell__")
        if cell is not None:
            cell.cell_contents = container
        snapshot = Snapshot()
        snapshot.added = (container, name)
        ctx.added.add(qualname)
        where = f"class {'.'.join(container_parts)}" if container_parts else f"module {module.__name__}"
        plan = Plan(
            outcome(qualname, "added", f"created in {where}", span), [(SET, container, name, namespace[name])], snapshot
        )
        if isinstance(namespace[name], FunctionType):
            plan.touched.append(namespace[name])
            unwrapped = feedback.Unwrapped(source, ctx.filename, ctx.flags, container_parts + [name])
            plan.installed.append((namespace[name].__code__, qualname, unwrapped))
        return plan

    def signature_ops(self, ctx, qualname, node, new_code, roots, container_parts):
        """Operations updating docstring, defaults and annotations, and the fingerprint of the
        expressions they were evaluated from. Expressions are evaluated again only when their
        text changed since the last patch: they may build fresh objects each time."""
        ops: List[Op] = []
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return ops, None
        doc = new_code.co_consts[0] if ast.get_docstring(node, clean=False) is not None else None
        for function in roots:
            if function.__doc__ != doc:
                ops.append((SET, function, "__doc__", doc))
        fingerprint = ast.dump(node.args) + "->" + (ast.dump(node.returns) if node.returns else "")
        if self.fingerprints.get((ctx.key, qualname)) == fingerprint:
            return ops, fingerprint
        reference = roots[0]
        module_globals = reference.__globals__
        container = resolve_container(ctx.modules[0], container_parts)
        local_names = dict(vars(container)) if container_parts and container is not None else None

        def evaluate(expr: ast.expr) -> Any:
            code = compile(ast.Expression(expr), ctx.filename, "eval", ctx.flags, dont_inherit=True)
            return eval(code, module_globals, local_names)

        args = node.args
        defaults = tuple(evaluate(e) for e in args.defaults) or None
        kwdefaults = {a.arg: evaluate(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None} or None
        annotations = self._annotations(ctx, node, evaluate)
        for function in roots:
            if not _same_values(function.__defaults__, defaults):
                ops.append((SET, function, "__defaults__", defaults))
            if not _same_values(function.__kwdefaults__, kwdefaults):
                ops.append((SET, function, "__kwdefaults__", kwdefaults))
            if annotations is not None and not _same_values(function.__annotations__, annotations):
                ops.append((SET, function, "__annotations__", annotations))
        return ops, fingerprint

    @staticmethod
    def _annotations(ctx, node, evaluate) -> Optional[dict]:
        args = node.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        exprs = [(a.arg, a.annotation) for a in every if a.annotation is not None]
        if node.returns is not None:
            exprs.append(("return", node.returns))
        try:
            if ctx.flags & _ANNOTATIONS_FLAG:
                return {name: ast.unparse(expr) for name, expr in exprs}
            return {name: evaluate(expr) for name, expr in exprs}
        except Exception:
            return None  # annotations that fail to evaluate are left as they were

    # -- revert ------------------------------------------------------------------------------

    def revert(self, path: str, qualnames: List[str]) -> dict:
        key = os.path.realpath(path)
        modules = modules_for(key)
        results = []
        for qualname in qualnames:
            stack = self.history.get((key, qualname))
            if not stack:
                results.append(outcome(qualname, "error", f"nothing to revert: {qualname} was not patched"))
                continue
            snapshot = stack[-1]
            ops: List[Op] = []
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
            try:
                _agent.commit(ops)
            except Exception as err:
                results.append(outcome(qualname, "error", f"revert failed and was undone: {err!r}"))
                continue
            stack.pop()
            self.fingerprints.pop((key, qualname), None)
            linecache_restore(snapshot.lines)
            message = "removed" if snapshot.added is not None else "previous version restored"
            results.append(outcome(qualname, "reverted", message, None, live))
        return {"path": path, "modules": [m.__name__ for m in modules], "definitions": results}


ENGINE = Engine()


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


# -- the source tree ---------------------------------------------------------------------------

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _scope_defs(body: List[ast.stmt]):
    """Definitions whose qualified name is directly under this scope: those in nested blocks
    (if, try, with, for, match) too, but not those inside nested definitions."""
    for stmt in body:
        if isinstance(stmt, _DEFS):
            yield stmt
            continue
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                yield from _scope_defs([child])
            elif isinstance(child, ast.ExceptHandler) or type(child).__name__ == "match_case":
                yield from _scope_defs(child.body)


def find_node(tree: ast.Module, parts: List[str]):
    body: List[ast.stmt] = tree.body
    node = None
    for part in parts:
        if part == "<locals>":
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return None
            continue
        node = next((d for d in _scope_defs(body) if d.name == part), None)
        if node is None:
            return None
        body = node.body
    return node


def resolve_container(module: ModuleType, parts: List[str]):
    container: Any = module
    for part in parts:
        container = vars(container).get(part)
        if not isinstance(container, type):
            return None
    return container


_ROLE_TEXT = {
    "function": "a plain function",
    "classmethod": "a classmethod",
    "staticmethod": "a staticmethod",
    "property-get": "a property getter",
    "property-set": "a property setter",
    "property-del": "a property deleter",
    "wrapped": "a wrapped function",
    "property": "a property",
}


def decorator_role(node) -> str:
    """What the definition's decorators make of it, as far as patching in place cares."""
    for decorator in getattr(node, "decorator_list", []):
        if isinstance(decorator, ast.Name) and decorator.id in ("classmethod", "staticmethod"):
            return decorator.id
        if isinstance(decorator, ast.Name) and decorator.id == "property":
            return "property-get"
        if isinstance(decorator, ast.Attribute) and decorator.attr in ("getter", "setter", "deleter"):
            return {"getter": "property-get", "setter": "property-set", "deleter": "property-del"}[decorator.attr]
    return "function"


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


def _compatible_roles(live_role: Optional[str], role: str) -> bool:
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


def _same_values(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _closure_change(old: CodeType, new: CodeType) -> str:
    if "__class__" in new.co_freevars and "__class__" not in old.co_freevars:
        return "now uses zero-argument super() or __class__"
    if "__class__" in old.co_freevars and "__class__" not in new.co_freevars:
        return "no longer uses zero-argument super() or __class__"
    return f"changed its free variables from {old.co_freevars} to {new.co_freevars}"


def _stale_closures(qualname: str, old: CodeType, new: CodeType, count: int, root: str) -> str:
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


# -- positions --------------------------------------------------------------------------------


def _column(line: str, byte_offset: int) -> int:
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", "replace"))


def _line(source: str, lineno: int) -> str:
    """Line `lineno` (from 1) of `source`, without splitting past it."""
    lines = source.split("\n", lineno)
    return lines[lineno - 1] if lineno - 1 < len(lines) else ""


def name_span(source: str, node) -> dict:
    """The span of the definition's name on its `def`/`class` line."""
    text = _line(source, node.lineno)
    start = _column(text, node.col_offset)
    keyword_end = text.find(node.name, start)
    column = keyword_end if keyword_end >= 0 else start
    return {"line": node.lineno, "column": column, "end_line": node.lineno, "end_column": column + len(node.name)}


def syntax_error_span(err: SyntaxError) -> Optional[dict]:
    if not err.lineno:
        return None
    column = max((err.offset or 1) - 1, 0)
    end_line = getattr(err, "end_lineno", None) or err.lineno
    end_offset = getattr(err, "end_offset", None)
    end_column = max(end_offset - 1, column + 1) if end_offset and end_line == err.lineno else column + 1
    if end_line != err.lineno and end_offset:
        end_column = max(end_offset - 1, 0)
    return {"line": err.lineno, "column": column, "end_line": end_line, "end_column": end_column}


# -- linecache --------------------------------------------------------------------------------


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def linecache_update(filenames: Tuple[str, ...], text: Optional[str]) -> Dict[str, Any]:
    """Makes tracebacks show `text` for these files; returns the entries it replaced."""
    previous = {name: linecache.cache.get(name) for name in filenames}
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
            linecache.cache[name] = entry
