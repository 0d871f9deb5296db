"""Checksums of a revision's upgrade()/downgrade() from the normalised Python AST: comments,
docstrings and formatting do not change it; code does."""
from __future__ import annotations

import ast
import copy
import hashlib
from pathlib import Path


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return body[1:]
    return body


def revision_checksum(source: str) -> str | None:
    """sha256 over the AST of upgrade() and downgrade() (None when the file defines neither)."""
    tree = ast.parse(source)
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("upgrade", "downgrade"):
            clone = copy.deepcopy(node)
            clone.returns = None  # annotations are not behaviour
            for child in ast.walk(clone):  # its own docstring and nested functions' docstrings
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    child.body = _strip_docstring(child.body) or [ast.Pass()]
            parts.append(ast.dump(clone, annotate_fields=False, include_attributes=False))
    if not parts:
        return None
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def file_checksum(path: str | Path) -> str | None:
    try:
        return revision_checksum(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
