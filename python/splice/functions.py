"""Definitions that changed: functions and methods get their new code in place (every live
function object, so that every reference runs it), decorators are applied again when their
text changed, new definitions are created, moved ones get their line numbers, removed ones
leave the class or module. Everything here is prepared as operations; nothing changes until
the engine commits them all at once."""

from __future__ import annotations

import ast
import sys
from types import CodeType, FunctionType
from typing import Any, Dict, List, Optional, Union

from . import assertions, feedback, trampolines
from . import reasons as R
from .closures import closure_change, patch_closures, root_codes, still_running
from .codeobjects import find_path, kind, replace_path, same_code, shift_lines
from .decorators import redecorate, signature_ops
from .live import ROLE_TEXT, compatible_roles, decorator_role, live_roots, unwrap
from .locate import functions_with_code
from .outcomes import name_span, outcome, syntax_error_span
from .plan import CALL, DELETE, SET, Plan, Snapshot
from .scopes import find_node, first_line, in_block, resolve_container
from .wrapping import wrap

REPORTING = sys.version_info >= (3, 11)


def parse(ctx, source: str):
    return compile(source, ctx.filename, "exec", ctx.flags | ast.PyCF_ONLY_AST, dont_inherit=True)


class Sent:
    """A definition part as sent, compiled, and where it sits: `root` is the definition not
    nested in a function (a module function, a method), `inner` the path below it."""

    def __init__(self, ctx, part: dict, tree, wrapped_code: CodeType, node, holder, new_code: CodeType) -> None:
        self.qualname: str = part["qualname"]
        self.source: str = part["source"]
        self.tree, self.wrapped_code, self.node, self.holder, self.new_code = (
            tree,
            wrapped_code,
            node,
            holder,
            new_code,
        )
        parts = self.qualname.split(".")
        self.span = name_span(self.source, node)
        self.previous = _previous_node(ctx, part, parts)
        self.at_line = first_line(self.previous) if self.previous is not None else part.get("previous_line")
        self.root_parts = parts[: parts.index("<locals>")] if "<locals>" in parts else parts
        self.root_qualname = ".".join(self.root_parts)
        self.inner = [p for p in parts if p != "<locals>"][len(self.root_parts) :]
        self.container_parts, self.name = self.root_parts[:-1], self.root_parts[-1]

    def outcome(self, status: str, reason: str, message: str) -> Plan:
        return Plan(outcome(self.qualname, status, reason, message, self.span))


def _compile(ctx, part: dict) -> Union[Sent, Plan]:
    qualname = part["qualname"]
    parts = qualname.split(".")
    try:
        tree = assertions.rewritten(ctx.modules[0] if ctx.modules else None, parse(ctx, part["source"]), part["source"])
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
    new_code = find_path(wrapped_code, [p for p in parts if p != "<locals>"]) if node is not None else None
    if node is None or new_code is None:
        return Plan(outcome(qualname, R.ERROR, R.INTERNAL, f"the source sent for {qualname} does not define it"))
    return Sent(ctx, part, tree, wrapped_code, node, holder, new_code)


def prepare(engine, ctx, part: dict) -> Plan:
    """The plan for one definition part (new or changed)."""
    sent = _compile(ctx, part)
    if isinstance(sent, Plan):
        return sent
    parts = sent.qualname.split(".")
    for i in range(1, len(parts)):
        ancestor = ".".join(parts[:i])
        if ancestor in ctx.added:
            return sent.outcome(R.ADDED, R.CREATED, f"created with {ancestor}")
    if sent.qualname in ctx.nested_results:
        return Plan(dict(ctx.nested_results[sent.qualname], span=sent.span))

    role = decorator_role(sent.node, sent.name) if not sent.inner else "function"
    roots, caches, live_role, raw = live_roots(
        ctx, sent.container_parts, sent.name, sent.root_qualname, role, sent.at_line
    )
    if isinstance(sent.node, ast.ClassDef):
        return _class_plan(ctx, sent, live_role)
    if not roots and sent.at_line is not None and live_role is not None and _namesakes(ctx, sent.root_qualname):
        return sent.outcome(
            R.REFUSED,
            R.AMBIGUOUS,
            f"the program holds functions named {sent.name} but none defined at line {sent.at_line}; "
            "restart to take this edit",
        )
    previous = sent.previous
    decorators_changed = previous is not None and _dump(previous.decorator_list) != _dump(sent.node.decorator_list)
    if not decorators_changed and not compatible_roles(live_role, role):
        if not ({live_role, role} <= {"function", "classmethod", "staticmethod"} and not sent.inner):
            return sent.outcome(
                R.REFUSED,
                R.PROPERTY_CHANGED,
                f"{sent.qualname} was {ROLE_TEXT[live_role]} and is now {ROLE_TEXT[role]}: the class "
                "attribute cannot change kind in place; restart the program to take this edit",
            )
        decorators_changed = True  # rebinding the attribute is decorating anew
    if not roots:
        return _no_live_function(ctx, sent, live_role)
    plan = _code_plan(engine, ctx, sent, roots, caches, decorators_changed)
    if decorators_changed and not sent.inner and plan.result["status"] == R.PATCHED:
        registered = previous is not None and bool(previous.decorator_list) and raw is roots[0]
        error = redecorate(ctx, plan, sent.node, roots[0], sent.container_parts, sent.name, raw, sent.span, registered)
        if error is not None:
            return error
    return plan


def _no_live_function(ctx, sent: Sent, live_role: Optional[str]) -> Plan:
    """A definition the program holds no function of: created, or why not."""
    if live_role == "property":
        return sent.outcome(
            R.REFUSED,
            R.PROPERTY_CHANGED,
            f"{sent.qualname} adds an accessor to a live property, which cannot change in place; "
            "restart the program to take this edit",
        )
    if sent.inner:
        return sent.outcome(R.ERROR, R.CONTAINER_MISSING, f"{sent.root_qualname} is not loaded in the running program")
    if in_block(sent.holder, sent.node):
        return _never_defined(sent.qualname, sent.name, sent.span)
    return prepare_added(
        ctx, sent.qualname, sent.container_parts, sent.name, sent.wrapped_code, sent.tree, sent.source, sent.span
    )


def _code_plan(engine, ctx, sent: Sent, roots: List[FunctionType], caches, decorators_changed: bool) -> Plan:
    """New code for live functions: the root's own and the closures of its nested functions."""
    qualname, new_code, inner = sent.qualname, sent.new_code, sent.inner
    # What the live function runs: through a trampoline, the function that calls.
    old_root = trampolines.running(roots[0])[0]
    if inner:
        old_code = find_path(old_root, inner)
        if old_code is None:
            return sent.outcome(
                R.ERROR,
                R.CONTAINER_MISSING,
                f"{qualname} is new inside {sent.root_qualname}: patch {sent.root_qualname} to create it",
            )
        if old_code.co_freevars == new_code.co_freevars:
            new_root = replace_path(old_root, inner, new_code)
        else:
            # The enclosing function must now provide other cells: take it whole, as sent.
            new_root = find_path(sent.wrapped_code, sent.root_parts)
    else:
        old_code, new_root = old_root, new_code
    if kind(old_code) != kind(new_code):
        return sent.outcome(
            R.REFUSED,
            R.KIND_CHANGED,
            f"{qualname} was {kind(old_code)} and is now {kind(new_code)}: callers already "
            "treat its results the old way; restart the program to take this edit",
        )
    cls = resolve_container(ctx.modules[0], sent.container_parts) if sent.container_parts else None
    codes = root_codes(roots, new_root, cls)
    if codes is None:
        return sent.outcome(
            R.REFUSED,
            R.CLOSURE_CHANGED,
            f"{qualname} {closure_change(old_root, new_code)}: a function's closure "
            "cannot change in place; restart the program to take this edit",
        )

    plan = sent.outcome(R.PATCHED, R.CODE_REPLACED, "")
    plan.snapshot = Snapshot()
    extra_ops: List[tuple] = []
    if not inner:
        try:
            extra_ops += signature_ops(
                engine, ctx, qualname, sent.node, sent.previous, new_code, roots, sent.container_parts
            )
        except Exception as err:
            return sent.outcome(
                R.ERROR,
                R.DEFAULTS_RAISED,
                f"evaluating the defaults of {qualname} raised {type(err).__name__}: {err}",
            )
    same_as = _same_as(ctx, sent, old_code)
    unchanged = any(same_code(old_code, c, lines=True) for c in same_as)
    if unchanged and not extra_ops and not decorators_changed:
        return sent.outcome(R.UNCHANGED, R.SAME_CODE, "")

    for function in roots:
        if not same_code(function.__code__, new_root, lines=True):
            plan.snapshot.remember(function)
            plan.ops.append((SET, function, "__code__", codes[id(function)]))
            plan.touched.append(function)
    if any(code is not new_root for code in codes.values()):
        plan.result["message"] = (
            f"the new body {closure_change(roots[0].__code__, new_code)}: it runs through a trampoline "
            "with the cells it needs"
        )
    pairs = patch_closures(plan, ctx.nested_results, old_root, new_root, sent.root_qualname)
    plan.ops.extend(extra_ops)
    plan.ops.extend((CALL, cache.cache_clear, None, None) for cache in caches)
    if inner and qualname in ctx.nested_results:
        plan.result.update(ctx.nested_results[qualname], span=sent.span)
    elif any(same_code(old_code, c) for c in same_as):
        plan.result.update(
            reason=R.LINES_MOVED, message=f"moved to line {new_code.co_firstlineno}; line numbers updated"
        )
    if not inner:
        plan.result["live_functions"] = len(roots)
    # Unwrapped, the root compiles from the text sent only when all of it was installed.
    unwrapped = None if inner else feedback.Unwrapped(sent.source, ctx.filename, ctx.flags, sent.root_parts)
    plan.installed.append((new_root, sent.root_qualname, unwrapped))
    plan.result["still_running"] = still_running(old_root, sent.root_qualname, pairs)
    return plan


def _same_as(ctx, sent: Sent, old_code: CodeType) -> List[CodeType]:
    """Without the text the program took, what the live code is compared with: the new code,
    and for code never patched (which runs unwrapped) what the same text compiles to plainly."""
    if sent.previous is not None:
        return []
    if feedback.is_installed(old_code):
        return [sent.new_code]
    plain = compile(sent.source, ctx.filename, "exec", ctx.flags, dont_inherit=True)
    path = sent.root_parts + sent.inner
    return [sent.new_code, find_path(plain, path) or sent.new_code]


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


def _class_plan(ctx, sent: Sent, live_role: Optional[str]) -> Plan:
    node, previous = sent.node, sent.previous
    if live_role == "class":
        if previous is None:
            return sent.outcome(R.UNCHANGED, R.SAME_CODE, "")
        header = [(_dump(n.bases), _dump(n.keywords), _dump(n.decorator_list)) for n in (previous, node)]
        if header[0] != header[1]:
            what = [w for w, a, b in zip(("bases", "keywords (metaclass)", "decorators"), *header) if a != b]
            return sent.outcome(
                R.REFUSED,
                R.CLASS_HEADER_CHANGED,
                f"the {' and '.join(what)} of class {node.name} changed: a live class keeps its "
                "header; restart the program to take this edit",
            )
        return sent.outcome(R.UNCHANGED, R.SAME_CODE, "")
    if in_block(sent.holder, node):
        return _never_defined(sent.qualname, node.name, sent.span)
    parts = sent.qualname.split(".")
    return prepare_added(
        ctx, sent.qualname, parts[:-1], parts[-1], sent.wrapped_code, sent.tree, sent.source, sent.span
    )


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
    shifted_by_code: Dict[int, CodeType] = {}
    for function in roots:
        code = function.__code__
        shifted = shift_lines(code, new_line - old_line)
        plan.snapshot.remember(function)
        plan.ops.append((SET, function, "__code__", shifted))
        plan.touched.append(function)
        if feedback.is_installed(code):
            plan.installed.append((shifted, qualname, None))
        _pair_nested(code, shifted, shifted_by_code)
    # Closures made from its nested functions report the new lines too.
    nested = [c for function in roots for c in _all_nested(function.__code__)]
    for live_code, closures in functions_with_code(nested).items():
        for function in closures:
            plan.snapshot.remember(function)
            plan.ops.append((SET, function, "__code__", shifted_by_code[live_code]))
    if not roots:
        plan.result.update(status=R.UNCHANGED, reason=R.SAME_CODE, message="")
    plan.result["live_functions"] = len(roots)
    return plan


def _all_nested(code: CodeType) -> List[CodeType]:
    found = []
    for const in code.co_consts:
        if isinstance(const, CodeType):
            found.append(const)
            found.extend(_all_nested(const))
    return found


def _pair_nested(old: CodeType, new: CodeType, into: Dict[int, CodeType]) -> None:
    """Maps each code object nested in `old` (by id) to its counterpart in `new`, a copy of it."""
    for a, b in zip(old.co_consts, new.co_consts):
        if isinstance(a, CodeType) and isinstance(b, CodeType):
            into[id(a)] = b
            _pair_nested(a, b, into)


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
