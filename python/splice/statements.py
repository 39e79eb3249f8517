"""Statements of a module or class body that changed: run once, in the module's namespace (or
set on the live class), never again while their text stays the same. Statements cannot be
undone, so each runs as soon as it is decided on; a statement that raises is reported and the
rest of the save goes on."""

from __future__ import annotations

import ast
import sys
from types import FunctionType
from typing import Any, Dict, List, Optional, Set

from . import _agent
from . import reasons as R
from .outcomes import outcome, statement_span, syntax_error_span
from .scopes import (
    RESERVED_NAMES,
    assigned_names,
    defines,
    find_node,
    is_entry_point,
    only_statement,
    resolve_container,
)

SET = 0


def parse(ctx, text: str, scope: List[str]):
    """The one statement of a statement's context, or the SyntaxError it raises."""
    tree = compile(text, ctx.filename, "exec", ctx.flags | ast.PyCF_ONLY_AST, dont_inherit=True)
    return only_statement(tree, scope)


def module_body_line(ctx) -> Optional[int]:
    """The line the module's own body is executing on any thread (a script's top-level loop, a
    module still being imported); None once it finished."""
    for frame in sys._current_frames().values():
        while frame is not None:
            code = frame.f_code
            if code.co_name == "<module>" and code.co_filename in ctx.filenames:
                return frame.f_lineno
            frame = frame.f_back
    return None


def _compile(ctx, node: ast.stmt):
    return compile(ast.Module(body=[node], type_ignores=[]), ctx.filename, "exec", ctx.flags, dont_inherit=True)


def _raised(qualname: str, err: BaseException, span, what: str = "this statement") -> dict:
    return outcome(qualname, R.ERROR, R.STATEMENT_RAISED, f"{what} raised {type(err).__name__}: {err}", span)


def run_module_statement(ctx, part: dict, run: bool, body_line: Optional[int]) -> dict:
    text = part["source"]
    try:
        node = parse(ctx, text, [])
    except SyntaxError as err:
        return outcome("", R.ERROR, R.SYNTAX_ERROR, f"SyntaxError: {err.msg}", syntax_error_span(err))
    if node is None:
        return outcome("", R.ERROR, R.INTERNAL, "the source sent holds no single statement")
    span = statement_span(text, node)
    if is_entry_point(node):
        return outcome(
            "", R.REFUSED, R.ENTRY_POINT, "the entry point is never run again; restart to take this edit", span
        )
    if body_line is not None:
        end = node.end_lineno or node.lineno
        if node.lineno <= body_line <= end:
            return outcome(
                "", R.REFUSED, R.STATEMENT_RUNNING, "the program is inside this statement; restart to take it", span
            )
        if node.lineno > body_line:
            return outcome(
                "",
                R.REFUSED,
                R.NOT_REACHED,
                "the program has not reached this statement; it runs the text it read",
                span,
            )
    reserved = sorted(set(assigned_names(node)) & RESERVED_NAMES)
    if reserved:
        message = f"{', '.join(reserved)} is the module's own; a statement setting it is not run"
        return outcome("", R.REFUSED, R.RESERVED_NAME, message, span)
    names = defines(node)
    module = ctx.modules[0]
    if [n for n in names if n in vars(module)]:
        return outcome(
            "",
            R.REFUSED,
            R.BLOCK_WITH_DEFINITIONS,
            f"this block defines {', '.join(names)}, which the program holds: it is not run again "
            "(its functions are patched one by one); restart to take this edit",
            span,
        )
    if not run:
        return outcome("", R.REFUSED, R.STATEMENT_NOT_RUN, "module statements are not run (moduleStatements)", span)
    replaced = _replace_lambda(ctx, node, span)
    if replaced is not None:
        return replaced
    try:
        code = _compile(ctx, node)
        for target in ctx.modules:
            exec(code, vars(target))
    except Exception as err:
        return _raised("", err, span)
    is_import = isinstance(node, (ast.Import, ast.ImportFrom))
    what = "imported" if is_import else "ran"
    return outcome("", R.PATCHED, R.IMPORT_RAN if is_import else R.STATEMENT_RAN, f"{what} in the program", span)


def _replace_lambda(ctx, node: ast.stmt, span) -> Optional[dict]:
    """`name = lambda ...` over a live lambda of this file: its body replaced in place, so that
    references taken before see it."""
    if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda) and len(node.targets) == 1):
        return None
    target = node.targets[0]
    if not isinstance(target, ast.Name):
        return None
    live = vars(ctx.modules[0]).get(target.id)
    if type(live) is not FunctionType or live.__code__.co_name != "<lambda>":
        return None
    if live.__code__.co_filename not in ctx.filenames:
        return None
    code = _compile(ctx, node)
    new = next(c for c in code.co_consts if hasattr(c, "co_code"))
    if new.co_freevars != live.__code__.co_freevars:
        return None
    module_globals = vars(ctx.modules[0])
    defaults = tuple(
        eval(compile(ast.Expression(d), ctx.filename, "eval", ctx.flags, dont_inherit=True), module_globals)
        for d in node.value.args.defaults
    )
    _agent.commit([(SET, live, "__code__", new), (SET, live, "__defaults__", defaults or None)])
    return outcome("", R.PATCHED, R.LAMBDA_REPLACED, f"{target.id}: the lambda's body replaced in place", span)


# -- class bodies ------------------------------------------------------------------------------


def class_rule(cls: type) -> Optional[tuple]:
    """Why attributes of this class cannot be set from its body's text, if they cannot: its
    metaclass builds the class from the body (Django, SQLAlchemy, pydantic, enums)."""
    # No import at patch time (it could meet a half-imported module): with no enum module
    # loaded there is no enum.
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(cls, enum.EnumMeta):
        return R.ENUM_MEMBER, "enum members cannot change in place; restart to take this edit"
    meta = type(cls)
    if meta is type or meta.__module__ == "abc":
        return None
    name = f"{meta.__module__}.{meta.__qualname__}"
    return (
        R.METACLASS_OWNS_ATTRIBUTES,
        f"{cls.__qualname__} is built by its metaclass {name}, which a plain attribute change would "
        "bypass; restart to take this edit",
    )


def run_class_statement(ctx, part: dict) -> dict:
    scope = part["qualname"].split(".")
    text = part["source"]
    qualname = part["qualname"]
    try:
        node = parse(ctx, text, scope)
    except SyntaxError as err:
        return outcome(qualname, R.ERROR, R.SYNTAX_ERROR, f"SyntaxError: {err.msg}", syntax_error_span(err))
    if node is None:
        return outcome(qualname, R.ERROR, R.INTERNAL, "the source sent holds no single statement")
    span = statement_span(text, node)
    cls = resolve_container(ctx.modules[0], scope)
    if cls is None:
        return outcome(qualname, R.ERROR, R.CONTAINER_MISSING, f"class {qualname} is not in the running program", span)
    refusal = class_rule(cls)
    if refusal is not None:
        return outcome(qualname, R.REFUSED, refusal[0], refusal[1], span)
    namespace: Dict[str, Any] = dict(vars(cls))
    try:
        exec(_compile(ctx, node), vars(ctx.modules[0]), namespace)
    except Exception as err:
        return _raised(qualname, err, span)
    names = [n for n in assigned_names(node) if n in namespace]
    fields = _dataclass_fields(cls, node)
    for name in names:
        value = namespace[name]
        if vars(cls).get(name, _MISSING) is not value:
            setattr(cls, name, value)
            set_name = getattr(type(value), "__set_name__", None)
            if set_name is not None:
                set_name(value, cls, name)
    if fields:
        error = _regenerate_dataclass(cls, fields, namespace, _field_order(ctx, scope))
        if error is not None:
            return outcome(qualname, R.REFUSED, R.DATACLASS_FIELD, error, span)
        message = f"dataclass {cls.__name__} regenerated with {', '.join(fields)}"
        return outcome(qualname, R.PATCHED, R.ATTRIBUTE_SET, message, span)
    return outcome(qualname, R.PATCHED, R.ATTRIBUTE_SET, f"{qualname}.{', '.join(names) or '?'} set", span)


_MISSING = object()


def _dataclass_fields(cls: type, node: ast.stmt) -> List[str]:
    if "__dataclass_fields__" not in vars(cls) or not isinstance(node, ast.AnnAssign):
        return []
    return [node.target.id] if isinstance(node.target, ast.Name) else []


def _field_order(ctx, scope: List[str]) -> List[str]:
    """The annotated names of the class body at `scope`, in the order of the file as saved."""
    if not ctx.source:
        return []
    try:
        node, _ = find_node(ast.parse(ctx.source), scope)
    except SyntaxError:
        return []
    if not isinstance(node, ast.ClassDef):
        return []
    return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]


def _regenerate_dataclass(
    cls: type, changed: List[str], namespace: Dict[str, Any], order: Optional[List[str]] = None
) -> Optional[str]:
    """Makes the dataclass machinery run again over the live class (same identity, so existing
    instances keep their type); None when done, else why not. Fields follow `order` (the
    file's), a field new to the class included."""
    dataclasses = sys.modules["dataclasses"]  # loaded: the class is a dataclass

    params = vars(cls).get("__dataclass_params__")
    if params is None or getattr(params, "slots", False):
        return f"the dataclass field {', '.join(changed)} cannot change in place (slots); restart to take this edit"
    annotations = _class_annotations(cls)
    new = _namespace_annotations(namespace)
    for name in changed:
        annotations[name] = new.get(name, annotations.get(name))
    if order:
        rank = {name: i for i, name in enumerate(order)}
        annotations = dict(sorted(annotations.items(), key=lambda item: rank.get(item[0], len(rank))))
    generated = [
        name
        for name, value in vars(cls).items()
        if isinstance(value, FunctionType) and value.__code__.co_filename not in _own_files(cls)
    ]
    for name in generated + ["__dataclass_fields__", "__dataclass_params__", "__match_args__"]:
        if name in vars(cls):
            delattr(cls, name)
    cls.__annotations__ = annotations
    names = ("init", "repr", "eq", "order", "unsafe_hash", "frozen")
    keywords = {k: getattr(params, k) for k in names if hasattr(params, k)}
    try:
        dataclasses.dataclass(cls, **keywords)
    except Exception as err:
        return f"regenerating the dataclass raised {type(err).__name__}: {err}"
    return None


def _class_annotations(cls: type) -> Dict[str, Any]:
    """A class's own annotations. From 3.14 on they are made by `__annotate__` when asked for
    (PEP 649), not kept in the class's `__dict__`."""
    if sys.version_info >= (3, 14):
        import annotationlib

        return dict(annotationlib.get_annotations(cls, format=annotationlib.Format.FORWARDREF))
    return dict(vars(cls).get("__annotations__", {}))


def _namespace_annotations(namespace: Dict[str, Any]) -> Dict[str, Any]:
    """The annotations of statements run in `namespace`: from 3.14 on, through the
    `__annotate__` function they compiled to."""
    if "__annotations__" in namespace:
        return dict(namespace["__annotations__"])
    annotate = namespace.get("__annotate__")
    if annotate is not None and sys.version_info >= (3, 14):
        import annotationlib

        return dict(annotationlib.call_annotate_function(annotate, annotationlib.Format.FORWARDREF))
    return {}


def _own_files(cls: type) -> Set[str]:
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    return {file} if file else set()


# -- removed statements ------------------------------------------------------------------------


def remove_statement(ctx, part: dict, assigned_now: Set[tuple]) -> dict:
    """A statement no longer in the file. A class attribute it set is deleted unless another
    statement of this save sets it; what a module statement did stays."""
    qualname = part["qualname"]
    scope = qualname.split(".") if qualname else []
    try:
        node = parse(ctx, part["previous"], scope)
    except SyntaxError:
        node = None
    names = assigned_names(node) if node is not None else []
    kept = [n for n in names if (qualname, n) not in assigned_now]
    if not kept:
        return outcome(qualname, R.UNCHANGED, R.SAME_CODE)
    if not scope:
        return outcome(
            qualname,
            R.REFUSED,
            R.STATEMENT_NOT_UNDONE,
            f"a removed statement is not undone: {', '.join(kept)} stays defined in the program until it restarts",
        )
    cls = resolve_container(ctx.modules[0], scope)
    if cls is None:
        return outcome(qualname, R.UNCHANGED, R.SAME_CODE)
    refusal = class_rule(cls)
    if refusal is not None:
        return outcome(qualname, R.REFUSED, refusal[0], refusal[1])
    deleted = [n for n in kept if n in vars(cls)]
    for name in deleted:
        delattr(cls, name)
    if "__dataclass_fields__" in vars(cls) and isinstance(node, ast.AnnAssign):
        annotations = _class_annotations(cls)
        for name in kept:
            annotations.pop(name, None)
        cls.__annotations__ = annotations
        error = _regenerate_dataclass(cls, [], {})
        if error is not None:
            return outcome(qualname, R.REFUSED, R.DATACLASS_FIELD, error)
    return outcome(qualname, R.PATCHED, R.DELETED, f"{qualname}.{', '.join(kept)} deleted")
