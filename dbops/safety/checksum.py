"""Checksums of revision files from the normalised Python AST: comments, docstrings and
formatting do not change them; code does, wherever it is in the module (a helper that
``upgrade()`` calls counts as much as ``upgrade()`` itself).

Values carry their algorithm: ``v2:<61 hex digits of sha256>`` over the whole module (64
characters, the width of dbops_history.checksum). A bare 64-digit value is the first
algorithm (v1: upgrade()/downgrade() bodies only), still verified as such, so databases
migrated by an older dbops keep their history. Each file's value is cached by the sha256 of
its bytes (and by the file's path, inode, size and mtime, so an unchanged file is not even read),
in this process and in ``$XDG_CACHE_HOME/dbops/checksums-v2.json``.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

VERSION = "v2"
_PREFIX = f"{VERSION}:"


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return body[1:]
    return body


def _normalise(node: ast.AST, *, every_return: bool = True) -> str:
    """The AST (a private tree: modified in place) without docstrings and return annotations
    (v1 dropped only the top function's return annotation: ``every_return=False``)."""
    if not every_return and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.returns = None
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            child.body = _strip_docstring(child.body) or [ast.Pass()]
            if every_return and not isinstance(child, ast.ClassDef):
                child.returns = None  # annotations are not behaviour
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def module_checksum(source: str) -> str:
    """v2: the whole module, normalised."""
    tree = ast.parse(source)
    tree.body = _strip_docstring(tree.body)
    return _PREFIX + hashlib.sha256(_normalise(tree).encode()).hexdigest()[:61]


def revision_checksum(source: str) -> str | None:
    """v1 (kept to verify values recorded by older dbops): upgrade() and downgrade() only."""
    tree = ast.parse(source)
    parts = [_normalise(node, every_return=False) for node in tree.body
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("upgrade", "downgrade")]
    if not parts:
        return None
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


from dbops.file_facts import file_fact, save_cache  # noqa: E402, F401  (the cache the checksums live in)


def file_checksum(path: str | Path) -> str | None:
    """The current (v2) checksum of a revision file; None when it cannot be read or parsed."""
    return file_fact(path, "", module_checksum)


def checksum_like(recorded: str | None, path: str | Path) -> str | None:
    """The file's checksum now, by the algorithm ``recorded`` was made with (v2, or v1 for old rows)."""
    if recorded is None or recorded.startswith(_PREFIX):
        return file_checksum(path)
    try:
        return revision_checksum(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
