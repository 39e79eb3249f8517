"""Decorators and signatures of a changed function: decorators applied again when their text
changed, the result rebound where the definition was bound; defaults, keyword defaults and
annotations evaluated again only when their own text changed."""

from __future__ import annotations

import ast
import gc
from types import FunctionType
from typing import Any, List, Optional

from . import reasons as R
from .outcomes import outcome
from .plan import SET, Plan
from .scopes import FUNCTIONS, resolve_container

_ANNOTATIONS_FLAG = 0x1000000  # __future__.annotations.compiler_flag


def redecorate(
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


def _same_values(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False
