"""The reporting handler compiled around patched bodies.

Patched functions run their body inside `try: ... except BaseException: __splice_report__();
raise`. On CPython 3.11+ a `try` costs nothing until something raises; code that was never
patched is never touched. The bare `raise` re-raises the same exception object with its
traceback, so the program sees exactly what it would have seen.
"""

from __future__ import annotations

import ast
import builtins
from typing import List

from ._agent import report
from .scopes import FUNCTIONS, blocks

REPORT_NAME = "__splice_report__"


def _wrap_function(node) -> None:
    body = node.body
    head: List[ast.stmt] = []
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        head, body = body[:1], body[1:]
    if not body:
        return
    call = ast.Expr(ast.Call(ast.Name(REPORT_NAME, ast.Load()), [], []))
    handler = ast.ExceptHandler(ast.Name("BaseException", ast.Load()), None, [call, ast.Raise(None, None)])
    wrapper = ast.Try(body, [handler], [], [])
    for new in (call, call.value, call.value.func, handler, handler.type, handler.body[1]):
        ast.copy_location(new, node)
    ast.copy_location(wrapper, body[0])
    node.body = head + [wrapper]


def _wrap_statements(statements: List[ast.stmt]) -> None:
    """Wraps the functions among these statements and every function inside them. Expressions
    are never entered: no function is defined there."""
    for stmt in statements:
        for block in blocks(stmt):
            _wrap_statements(block)
        if isinstance(stmt, FUNCTIONS):
            _wrap_function(stmt)


def wrap(tree: ast.Module) -> ast.Module:
    """Wraps every function of a parsed context (in place) in the reporting handler."""
    if getattr(builtins, REPORT_NAME, None) is not report:
        setattr(builtins, REPORT_NAME, report)
    _wrap_statements(tree.body)
    return tree
