"""Walking the scopes of parsed source: which definitions and statements a module or class body
holds, as CPython names them. Shared by the engine, `source.py` and `wrapping.py`."""

from __future__ import annotations

import ast
from types import ModuleType
from typing import Any, Iterator, List, Optional

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
# Module attributes the import system and the interpreter own: no patch rebinds them.
RESERVED_NAMES = frozenset(
    {"__file__", "__name__", "__spec__", "__builtins__", "__loader__", "__path__", "__package__", "__cached__"}
)
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def blocks(stmt: ast.stmt) -> Iterator[List[ast.stmt]]:
    """The statement lists directly inside a statement: bodies, else and finally blocks, except
    handlers and match cases."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(stmt, field, None)
        if isinstance(block, list):
            yield block
    for holder in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
        yield holder.body


def scope_defs(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Definitions whose qualified name is directly under this scope: those in nested blocks
    (if, try, with, for, match) too, but not those inside nested definitions."""
    for stmt in body:
        if isinstance(stmt, DEFINITIONS):
            yield stmt
            continue
        for block in blocks(stmt):
            yield from scope_defs(block)


def in_block(body: List[ast.stmt], node: ast.stmt) -> bool:
    """Whether `node`, a definition of this scope, sits inside a block rather than directly in
    the body (it exists only if the program took that branch)."""
    return not any(stmt is node for stmt in body)


def find_scope(tree: ast.Module, parts: List[str]) -> Optional[List[ast.stmt]]:
    """The body of the class `parts` names (the module's body for none)."""
    body: List[ast.stmt] = tree.body
    for part in parts:
        node = next((d for d in scope_defs(body) if d.name == part and isinstance(d, ast.ClassDef)), None)
        if node is None:
            return None
        body = node.body
    return body


def find_node(tree: ast.Module, parts: List[str]):
    """The definition a qualified name (split) names, and the body holding it."""
    body: List[ast.stmt] = tree.body
    node = None
    holder = body
    for part in parts:
        if part == "<locals>":
            if not isinstance(node, FUNCTIONS):
                return None, None
            continue
        node = next((d for d in scope_defs(body) if d.name == part), None)
        if node is None:
            return None, None
        holder, body = body, node.body
    return node, holder


def only_statement(tree: ast.Module, scope: List[str]) -> Optional[ast.stmt]:
    """The one statement a statement's context holds, inside the headers of its classes."""
    body = find_scope(tree, scope)
    if not body:
        return None
    return body[0] if len(body) == 1 else None


def first_line(node: ast.stmt) -> int:
    """Where CPython says a definition starts: its first decorator, else its keyword."""
    return min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])


def assigned_names(stmt: ast.stmt) -> List[str]:
    """Names a statement binds in its scope (assignments, imports, for targets, with ... as),
    not those bound inside functions or classes it defines."""
    names: List[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.append(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, DEFINITIONS):
            names.append(node.name)
            return
        elif isinstance(node, ast.Lambda):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(stmt)
    return list(dict.fromkeys(names))


def defines(stmt: ast.stmt) -> List[str]:
    """Names of the functions and classes a statement's blocks define."""
    return [d.name for block in blocks(stmt) for d in scope_defs(block)]


def is_entry_point(stmt: ast.stmt) -> bool:
    """`if __name__ == "__main__":`, either way round."""
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    sides = [test.left, *test.comparators]
    if len(sides) != 2 or not isinstance(test.ops[0], ast.Eq):
        return False
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def resolve_container(module: ModuleType, parts: List[str]) -> Any:
    """The live class `parts` names in the module (the module itself for none)."""
    container: Any = module
    for part in parts:
        container = vars(container).get(part)
        if not isinstance(container, type):
            return None
    return container
