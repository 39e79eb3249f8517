"""Test modules that pytest imported with its assertion rewriting get their patched definitions
rewritten the same way: a test fixed while a session waits (`pytest --splice-loop`) still
explains a failed `assert` as pytest does."""

from __future__ import annotations

import ast
import sys
from types import ModuleType
from typing import Optional

_REWRITER = "_pytest.assertion.rewrite"


def rewritten(module: Optional[ModuleType], tree: ast.Module, source: str) -> ast.Module:
    """`tree` as pytest's import of `module` would have compiled it: asserts rewritten when
    pytest's rewriting hook loaded the module, untouched otherwise. The names the rewritten
    code uses (`@py_builtins`, `@pytest_ar`) are in the module already, bound by its import."""
    loader = getattr(module, "__loader__", None)
    rewrite = sys.modules.get(_REWRITER)
    if rewrite is None or type(loader).__module__ != _REWRITER:
        return tree
    rewrite.rewrite_asserts(tree, source.encode(), getattr(module, "__file__", None), getattr(loader, "config", None))
    return tree
