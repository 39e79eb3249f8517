"""Definitions that changed: functions and methods get their new code in place (every live
function object, so that every reference runs it), decorators are applied again when their
text changed, new definitions are created, moved ones get their line numbers, removed ones
leave the class or module. Everything here is prepared as operations; nothing changes until
the engine commits them all at once."""

from __future__ import annotations

import ast
import gc
import sys
from types import CodeType, FunctionType
from typing import Any, Dict, List, Optional, Tuple

from . import feedback, trampolines
from . import reasons as R
from .codeobjects import changed_pairs, find_path, kind, replace_path, same_code, shift_lines
from .locate import functions_with_code
from .outcomes import name_span, outcome, syntax_error_span
from .plan import CALL, DELETE, SET, Plan, Snapshot
from .scopes import FUNCTIONS, find_node, first_line, in_block, resolve_container
from .wrapping import wrap

REPORTING = sys.version_info >= (3, 11)
_ANNOTATIONS_FLAG = 0x1000000  # __future__.annotations.compiler_flag
# Implicitly class or static methods: their bodies patch like any method's.
_IMPLICIT = {"__init_subclass__": "classmethod", "__class_getitem__": "classmethod", "__new__": "staticmethod"}


def parse(ctx, source: str):
    return compile(source, ctx.filename, "exec", ctx.flags | ast.PyCF_ONLY_AST, dont_inherit=True)


def prepare(engine, ctx, part: dict) -> Plan:
    """The plan for one definition part (new or changed)."""
    qualname, source = part["qualname"], part["source"]
    parts = qualname.split(".")
    try:
        tree = parse(ctx, source)
        # What gets installed reports the exceptions it raises (see wrapping.py), where a
        # `try` costs nothing until something raises: CPython 3.11 and later.
        if REPORTING:
            tree = wrap(tree)
        wrapped_code = compile(tree, ctx.filename, "exec", ctx.flags, dont_inherit=True)
    except SyntaxError as err:
        return Plan(outcome(qualname, R.ERROR, R.SYNTAX_ERROR, f"SyntaxError: {err.msg}", syntax_error_span(err)))
    except (ValueError, TypeError) as err:
        return Plan(outcome(qualname, R.ERROR, R.COMPILE_ERROR, f"cannot compile: {err}"))
    node, holder = find_node(tree, parts)
    code_path = [p for p in parts if p != "<locals>"]
    new_code = find_path(wrapped_code, code_path) if node is not None else None
    if node is None or new_code is None:
        return Plan(outcome(qualname, R.ERROR, R.INTERNAL, f"the source sent for {qualname} does not define it"))
    span = name_span(source, node)
    previous = _previous_node(ctx, part, parts)

    root_parts = parts[: parts.index("<locals>")] if "<locals>" in parts else parts
    root_qualname = ".".join(root_parts)
    inner_path = code_path[len(root_parts) :]
    container_parts, name = root_parts[:-1], root_parts[-1]

    for i in range(1, len(parts)):
        ancestor = ".".join(parts[:i])
        if ancestor in ctx.added:
            return Plan(outcome(qualname, R.ADDED, R.CREATED, f"created with {ancestor}", span))
    if qualname in ctx.nested_results:
        return Plan(dict(ctx.nested_results[qualname], span=span))

    role = decorator_role(node, name) if not inner_path else "function"
    at_line = first_line(previous) if previous is not None else part.get("previous_line")
    roots, caches, live_role, raw = live_roots(ctx, container_parts, name, root_qualname, role, at_line)

    if isinstance(node, ast.ClassDef):
        return _class_plan(engine, ctx, part, node, previous, live_role, wrapped_code, tree, span, holder)
    decorators_changed = previous is not None and _dump(previous.decorator_list) != _dump(node.decorator_list)
    if not roots and at_line is not None and live_role is not None and _namesakes(ctx, root_qualname):
        return Plan(
            outcome(
                qualname,
                R.REFUSED,
                R.AMBIGUOUS,
                f"the program holds functions named {name} but none defined at line {at_line}; "
                "restart to take this edit",
                span,
            )
        )
    if not decorators_changed and not _compatible_roles(live_role, role):
        if {live_role, role} <= {"function", "classmethod", "staticmethod"} and not inner_path:
            decorators_changed = True
        else:
            return Plan(
                outcome(
                    qualname,
                    R.REFUSED,
                    R.PROPERTY_CHANGED,
                    f"{qualname} was {_ROLE_TEXT[live_role]} and is now {_ROLE_TEXT[role]}: the class "
                    "attribute cannot change kind in place; restart the program to take this edit",
                    span,
                )
            )
    if not roots and live_role == "property":
        return Plan(
            outcome(
                qualname,
                R.REFUSED,
                R.PROPERTY_CHANGED,
                f"{qualname} adds an accessor to a live property, which cannot change in place; "
                "restart the program to take this edit",
                span,
            )
        )
    if not roots:
        if inner_path:
            return Plan(
                outcome(
                    qualname,
                    R.ERROR,
                    R.CONTAINER_MISSING,
                    f"{root_qualname} is not loaded in the running program",
                    span,
                )
            )
        if in_block(holder, node):
            return _never_defined(qualname, name, span)
        return prepare_added(ctx, qualname, container_parts, name, wrapped_code, tree, source, span)

    # What the live function runs: through a trampoline, the function that calls.
    old_root = trampolines.running(roots[0])[0]
    if inner_path:
        old_code = find_path(old_root, inner_path)
        if old_code is None:
            return Plan(
                outcome(
                    qualname,
                    R.ERROR,
                    R.CONTAINER_MISSING,
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
                R.REFUSED,
                R.KIND_CHANGED,
                f"{qualname} was {kind(old_code)} and is now {kind(new_code)}: callers already "
                "treat its results the old way; restart the program to take this edit",
                span,
            )
        )
    # A function's closure cannot be replaced in place: a new body that needs other cells
    # runs behind a trampoline, when the live cells (or a fresh `__class__`) provide them.
    trampolined: Dict[int, CodeType] = {}
    if any(f.__code__.co_freevars != new_root.co_freevars for f in roots):
        cls = resolve_container(ctx.modules[0], container_parts) if container_parts else None
        for function in (f for f in roots if f.__code__.co_freevars != new_root.co_freevars):
            cells = trampolines.cells_for(function, new_root, cls)
            code = trampolines.make(function, new_root, cells) if cells is not None else None
            if code is None:
                return Plan(
                    outcome(
                        qualname,
                        R.REFUSED,
                        R.CLOSURE_CHANGED,
                        f"{qualname} {_closure_change(old_root, new_code)}: a function's closure "
                        "cannot change in place; restart the program to take this edit",
                        span,
                    )
                )
            trampolined[id(function)] = code

    plan = Plan(outcome(qualname, R.PATCHED, R.CODE_REPLACED, "", span), snapshot=Snapshot())
    extra_ops: List[tuple] = []
    if not inner_path:
        try:
            extra_ops += signature_ops(engine, ctx, qualname, node, previous, new_code, roots, container_parts)
        except Exception as err:
            return Plan(
                outcome(
                    qualname,
                    R.ERROR,
                    R.DEFAULTS_RAISED,
                    f"evaluating the defaults of {qualname} raised {type(err).__name__}: {err}",
                    span,
                )
            )

    same_as: List[CodeType] = []
    if previous is None:
        # Nothing known of the text the program took: compare code. Code never patched runs
        # unwrapped: compare it with what the same text compiles to.
        if feedback.is_installed(old_code):
            same_as = [new_code]
        else:
            plain = compile(source, ctx.filename, "exec", ctx.flags, dont_inherit=True)
            same_as = [new_code, find_path(plain, code_path) or new_code]
        if not extra_ops and not decorators_changed and any(same_code(old_code, c, lines=True) for c in same_as):
            return Plan(outcome(qualname, R.UNCHANGED, R.SAME_CODE, "", span))

    for function in roots:
        if not same_code(function.__code__, new_root, lines=True):
            plan.snapshot.remember(function)
            plan.ops.append((SET, function, "__code__", trampolined.get(id(function), new_root)))
            plan.touched.append(function)
    if trampolined:
        plan.result["message"] = (
            f"the new body {_closure_change(roots[0].__code__, new_code)}: it runs through a trampoline "
            "with the cells it needs"
        )
    self_result = plan.result
    pairs = changed_pairs(old_root, new_root, root_qualname)
    if pairs:
        live_by_code = functions_with_code([old for old, _, _ in pairs])
        for old, new, nested_qualname in pairs:
            closures = live_by_code.get(id(old), [])
            fits = []
            for function in closures:
                code: Optional[CodeType] = new
                if function.__code__.co_freevars != new.co_freevars:
                    # The live cells may still hold all the new body needs.
                    cells = trampolines.cells_for(function, new, None)
                    code = trampolines.make(function, new, cells) if cells is not None else None
                if code is not None:
                    fits.append(function)
                    plan.snapshot.remember(function)
                    plan.ops.append((SET, function, "__code__", code))
            result = outcome(nested_qualname, R.PATCHED, R.CODE_REPLACED, "", None, len(fits))
            if len(fits) < len(closures):
                result.update(
                    status=R.REFUSED,
                    reason=R.CLOSURE_CHANGED,
                    message=_stale_closures(nested_qualname, old, new, len(closures) - len(fits), root_qualname),
                )
            elif not closures:
                result["message"] = f"no live closures; calls of {root_qualname}() from now on create the new body"
            ctx.nested_results[nested_qualname] = result
        if inner_path:
            self_result = ctx.nested_results.get(qualname, self_result)
    plan.ops.extend(extra_ops)
    plan.ops.extend((CALL, cache.cache_clear, None, None) for cache in caches)
    if decorators_changed and not inner_path:
        registered = previous is not None and bool(previous.decorator_list) and raw is roots[0]
        error = _redecorate(ctx, plan, node, roots[0], container_parts, name, raw, span, registered)
        if error is not None:
            return error

    if self_result is not plan.result:
        plan.result.update(self_result, span=span)
    elif previous is None and any(same_code(old_code, c) for c in same_as):
        plan.result.update(
            reason=R.LINES_MOVED, message=f"moved to line {new_code.co_firstlineno}; line numbers updated"
        )
    if not inner_path:
        plan.result["live_functions"] = len(roots)
    # Unwrapped, the root compiles from the text sent only when all of it was installed.
    unwrapped = None if inner_path else feedback.Unwrapped(source, ctx.filename, ctx.flags, root_parts)
    plan.installed.append((new_root, root_qualname, unwrapped))
    plan.result["still_running"] = still_running(old_root, root_qualname, pairs)
    return plan


def _previous_node(ctx, part: dict, parts: List[str]):
    previous = part.get("previous")
    if not previous:
        return None
    try:
        node, _ = find_node(parse(ctx, previous), parts)
    except SyntaxError:
        return None
    return node


def _dump(nodes) -> str:
    return "|".join(ast.dump(n) for n in nodes)


def _namesakes(ctx, qualname: str) -> bool:
    return len(ctx.index.functions(qualname)) > 0


# -- classes -----------------------------------------------------------------------------------


def _class_plan(engine, ctx, part, node, previous, live_role, wrapped_code, tree, span, holder) -> Plan:
    qualname = part["qualname"]
    parts = qualname.split(".")
    if live_role == "class":
        if previous is None:
            return Plan(outcome(qualname, R.UNCHANGED, R.SAME_CODE, "", span))
        header = [(_dump(n.bases), _dump(n.keywords), _dump(n.decorator_list)) for n in (previous, node)]
        if header[0] != header[1]:
            what = [w for w, a, b in zip(("bases", "keywords (metaclass)", "decorators"), *header) if a != b]
            return Plan(
                outcome(
                    qualname,
                    R.REFUSED,
                    R.CLASS_HEADER_CHANGED,
                    f"the {' and '.join(what)} of class {node.name} changed: a live class keeps its "
                    "header; restart the program to take this edit",
                    span,
                )
            )
        return Plan(outcome(qualname, R.UNCHANGED, R.SAME_CODE, "", span))
    if in_block(holder, node):
        return _never_defined(qualname, node.name, span)
    return prepare_added(ctx, qualname, parts[:-1], parts[-1], wrapped_code, tree, part["source"], span)


def _never_defined(qualname: str, name: str, span) -> Plan:
    message = f"the program never defined this {name}: the block around it took another branch"
    return Plan(outcome(qualname, R.REFUSED, R.NOT_DEFINED, message, span))


def prepare_added(ctx, qualname, container_parts, name, module_code, tree, source, span) -> Plan:
    module = ctx.modules[0]
    container = resolve_container(module, container_parts)
    if container is None:
        owner = ".".join(container_parts)
        message = f"class {owner} is not defined in the running program"
        return Plan(outcome(qualname, R.ERROR, R.CONTAINER_MISSING, message, span))
    if container_parts:
        body = find_path(module_code, container_parts)
    else:
        body = module_code
    # A new method's decorators may use names of the class body.
    namespace: Dict[str, Any] = dict(vars(container)) if container_parts else {}
    try:
        exec(body, vars(module), namespace)
    except Exception as err:
        message = f"defining {qualname} raised {type(err).__name__}: {err}"
        return Plan(outcome(qualname, R.ERROR, R.DEFINITION_RAISED, message, span))
    if name not in namespace:
        return Plan(outcome(qualname, R.ERROR, R.INTERNAL, f"the source sent for {qualname} does not define it", span))
    cell = namespace.get("__classcell__")
    if cell is not None:
        cell.cell_contents = container
    snapshot = Snapshot()
    snapshot.added = (container, name)
    ctx.added.add(qualname)
    where = f"class {'.'.join(container_parts)}" if container_parts else f"module {module.__name__}"
    plan = Plan(
        outcome(qualname, R.ADDED, R.CREATED, f"created in {where}", span),
        [(SET, container, name, namespace[name])],
        snapshot,
    )
    if isinstance(namespace[name], FunctionType):
        plan.touched.append(namespace[name])
        unwrapped = feedback.Unwrapped(source, ctx.filename, ctx.flags, container_parts + [name])
        plan.installed.append((namespace[name].__code__, qualname, unwrapped))
    return plan


# -- decorators, defaults, closures -----------------------------------------------------------


def _redecorate(
    ctx, plan: Plan, node, function: FunctionType, container_parts, name, raw, span, registered: bool
) -> Optional[Plan]:
    """Applies the new decorators to the undecorated function (which keeps its identity and gets
    the new code) and rebinds the result where the definition was bound. None when done.
    `registered`: the previous decorators returned the function itself, so they registered it
    somewhere (a route, a handler table) that nothing can take back."""
    module = ctx.modules[0]
    container = resolve_container(module, container_parts)
    local_names = dict(vars(container)) if container_parts and container is not None else None
    try:
        value: Any = function
        for decorator in reversed(node.decorator_list):
            expr = compile(ast.Expression(decorator), ctx.filename, "eval", ctx.flags, dont_inherit=True)
            value = eval(expr, vars(module), local_names)(value)
    except Exception as err:
        at = node.decorator_list[0] if node.decorator_list else node
        message = f"applying the decorators raised {type(err).__name__}: {err}"
        where = {"line": at.lineno, "column": at.col_offset, "end_line": at.lineno, "end_column": span["end_column"]}
        return Plan(outcome(plan.result["qualname"], R.ERROR, R.DECORATOR_RAISED, message, where))
    if container is None:
        qualname = plan.result["qualname"]
        return Plan(outcome(qualname, R.ERROR, R.CONTAINER_MISSING, "the class is not in the program", span))
    plan.ops.append((SET, container, name, value))
    if plan.snapshot is not None:
        plan.snapshot.rebound = (container, name, raw)
    old = raw
    references = 0
    if old is not None and old is not function:
        references = sum(1 for r in gc.get_referrers(old) if r is not vars(container)) - 1
    note = f"decorated anew and rebound as {'.'.join(container_parts + [name])}"
    if registered:
        note += "; what its previous decorators registered stays registered until the program restarts"
    if references > 0:
        holders = "1 other reference still holds" if references == 1 else f"{references} other references still hold"
        note += f"; {holders} the old decorated object"
    plan.result.update(reason=R.REDECORATED, message=note)
    return None


def signature_ops(engine, ctx, qualname, node, previous, new_code, roots, container_parts) -> List[tuple]:
    """Operations updating docstring, defaults and annotations. Expressions are evaluated only
    when their own text changed: they may build fresh objects (a cache dict, a `Depends()`)."""
    ops: List[tuple] = []
    if not isinstance(node, FUNCTIONS):
        return ops
    doc = new_code.co_consts[0] if ast.get_docstring(node, clean=False) is not None else None
    for function in roots:
        if function.__doc__ != doc:
            ops.append((SET, function, "__doc__", doc))
    fingerprint = ast.dump(node.args) + "->" + (ast.dump(node.returns) if node.returns else "")
    if previous is not None:
        old = ast.dump(previous.args) + "->" + (ast.dump(previous.returns) if previous.returns else "")
        if old == fingerprint:
            return ops
    elif engine.fingerprints.get((ctx.key, qualname)) == fingerprint:
        return ops
    engine.fingerprints[(ctx.key, qualname)] = fingerprint
    module_globals = roots[0].__globals__
    container = resolve_container(ctx.modules[0], container_parts)
    local_names = dict(vars(container)) if container_parts and container is not None else None

    def evaluate(expr: ast.expr) -> Any:
        code = compile(ast.Expression(expr), ctx.filename, "eval", ctx.flags, dont_inherit=True)
        return eval(code, module_globals, local_names)

    args = node.args
    defaults = tuple(evaluate(e) for e in args.defaults) or None
    kwdefaults = {a.arg: evaluate(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None} or None
    annotations = _annotations(ctx, node, evaluate)
    for function in roots:
        if not _same_values(function.__defaults__, defaults):
            ops.append((SET, function, "__defaults__", defaults))
        if not _same_values(function.__kwdefaults__, kwdefaults):
            ops.append((SET, function, "__kwdefaults__", kwdefaults))
        if annotations is not None and not _same_values(function.__annotations__, annotations):
            ops.append((SET, function, "__annotations__", annotations))
    return ops


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


# -- moved and removed -------------------------------------------------------------------------


def move(ctx, part: dict) -> Plan:
    """The same text at other lines: the live code gets its line numbers shifted, nothing else
    (code another compiler made, like pytest's assertion rewriting, stays as it is)."""
    qualname = part["qualname"]
    old_line, new_line = part.get("previous_line"), part.get("line")
    parts = qualname.split(".")
    if old_line is None or new_line is None:
        return Plan(outcome(qualname, R.ERROR, R.INTERNAL, "a moved part needs both lines"))
    roots, _, _, _ = live_roots(ctx, parts[:-1], parts[-1], qualname, "any", old_line)
    message = f"moved to line {new_line}; line numbers updated"
    plan = Plan(outcome(qualname, R.PATCHED, R.LINES_MOVED, message), snapshot=Snapshot())
    for function in roots:
        code = function.__code__
        shifted = shift_lines(code, new_line - old_line)
        plan.snapshot.remember(function)
        plan.ops.append((SET, function, "__code__", shifted))
        plan.touched.append(function)
        if feedback.is_installed(code):
            plan.installed.append((shifted, qualname, None))
    if not roots:
        plan.result.update(status=R.UNCHANGED, reason=R.SAME_CODE, message="")
    plan.result["live_functions"] = len(roots)
    return plan


def remove(ctx, part: dict) -> Plan:
    """A definition no longer in the file leaves the class (a base class's method shows
    through) or the module, when what is bound there is that definition."""
    qualname = part["qualname"]
    parts = qualname.split(".")
    container = resolve_container(ctx.modules[0], parts[:-1])
    name = parts[-1]
    if container is None or name not in vars(container):
        return Plan(outcome(qualname, R.UNCHANGED, R.SAME_CODE))
    raw = vars(container)[name]
    line = part.get("previous_line")
    if isinstance(raw, type):
        ok = raw.__qualname__ == qualname
    else:
        function, _ = unwrap(raw, "any", name, ctx.filenames)
        ok = function is not None and (line is None or function.__code__.co_firstlineno == line)
    if not ok:
        return Plan(
            outcome(
                qualname,
                R.REFUSED,
                R.STATEMENT_NOT_UNDONE,
                f"{qualname} was removed from the file, but what the program binds to {name} is another "
                "definition; what the removed one registered stays until a restart",
            )
        )
    snapshot = Snapshot()
    snapshot.rebound = (container, name, raw)
    where = f"class {'.'.join(parts[:-1])}" if parts[:-1] else f"module {ctx.modules[0].__name__}"
    result = outcome(qualname, R.PATCHED, R.DELETED, f"deleted from {where}")
    return Plan(result, [(DELETE, container, name, None)], snapshot)


# -- live objects ------------------------------------------------------------------------------


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
