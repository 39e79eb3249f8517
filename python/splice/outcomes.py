"""What the engine answers for each part, and where in the file it points."""

from __future__ import annotations

from typing import Optional


def outcome(qualname: str, status: str, reason: str, message: str = "", span=None, live: int = 0) -> dict:
    return {
        "qualname": qualname,
        "status": status,
        "reason": reason,
        "message": message,
        "span": span,
        "live_functions": live,
    }


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


def statement_span(source: str, node) -> dict:
    """The first line of a statement, from its first character."""
    text = _line(source, node.lineno)
    column = _column(text, node.col_offset)
    end = max(len(text.rstrip()), column + 1)
    return {"line": node.lineno, "column": column, "end_line": node.lineno, "end_column": end}


def line_span(source: str, lineno: int) -> dict:
    text = _line(source, lineno)
    column = len(text) - len(text.lstrip())
    return {"line": lineno, "column": column, "end_line": lineno, "end_column": max(len(text.rstrip()), column + 1)}


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
