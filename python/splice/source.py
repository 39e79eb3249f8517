"""Patch requests from a whole Python file, for scripts and tools that are not an editor.

`splice-lsp` builds the same definitions from editor buffers with an error-tolerant parser;
this module needs a file that parses.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterator, List, Optional, Tuple

from .scopes import DEFINITIONS, FUNCTIONS, blocks


def definitions(text: str, qualnames: Optional[List[str]] = None) -> List[Dict[str, str]]:
    """Every function, method and class of `text` as `{"qualname", "source"}`, where `source`
    holds the definition in its context at its real lines: the headers of its enclosing
    classes, or the whole enclosing function, every other line blank."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    # CPython compiles calls on imported modules differently: the context keeps the imports so
    # that unchanged code compares equal to what runs.
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    found = []
    for qualname, chain in _walk(tree.body, "", []):
        if qualnames is None or qualname in qualnames:
            found.append({"qualname": qualname, "source": _context(lines, imports + chain)})
    return found


def _walk(body: List[ast.stmt], prefix: str, chain: List[ast.AST]) -> Iterator[Tuple[str, List[ast.AST]]]:
    for stmt in body:
        if isinstance(stmt, DEFINITIONS):
            qualname = prefix + stmt.name
            yield qualname, chain + [stmt]
            inner_prefix = qualname + (".<locals>." if isinstance(stmt, FUNCTIONS) else ".")
            yield from _walk(stmt.body, inner_prefix, chain + [stmt])
            continue
        for block in blocks(stmt):
            yield from _walk(block, prefix, chain + [stmt])


def _context(lines: List[str], chain: List[ast.AST]) -> str:
    out = ["\n"] * len(lines)

    def copy(first: int, last: int) -> None:
        for number in range(first, last + 1):
            out[number - 1] = lines[number - 1] if lines[number - 1].endswith("\n") else lines[number - 1] + "\n"

    for node in chain:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            copy(node.lineno, node.end_lineno or node.lineno)
            continue
        if isinstance(node, FUNCTIONS) or node is chain[-1]:
            # A function's free variables depend on its whole enclosing function.
            first = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
            copy(first, node.end_lineno or node.lineno)
            break
        if isinstance(node, ast.ClassDef):
            first = node.body[0]
            body_start = min([d.lineno for d in getattr(first, "decorator_list", [])] + [first.lineno])
            copy(node.lineno, max(node.lineno, body_start - 1))
        else:
            # A block (if, try, with, ...) around the definition: any opener keeps it indented.
            indent = lines[node.lineno - 1][: node.col_offset]
            out[node.lineno - 1] = indent + "if True:\n"
    return "".join(out)
