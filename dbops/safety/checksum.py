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
import json
import os
from collections.abc import Callable
from pathlib import Path

VERSION = "v2"
_PREFIX = f"{VERSION}:"
_memo: dict[str, str | None] = {}
_disk: dict[str, str] | None = None
_dirty = False


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


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dbops" / f"checksums-{VERSION}.json"


def _load_disk() -> dict[str, str]:
    global _disk
    if _disk is None:
        try:
            loaded = json.loads(_cache_file().read_text())
            _disk = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, str)} \
                if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _disk = {}
    return _disk


def save_cache() -> None:
    """Write new values to the on-disk cache (best effort, atomic; nothing when nothing changed)."""
    global _dirty
    if not _dirty or _disk is None:
        return
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dict(list(_disk.items())[-20000:])))
        tmp.replace(path)
        _dirty = False
    except OSError:
        pass


def _stat_key(path: str | Path) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    where = path if os.path.isabs(path) else os.path.abspath(path)
    return f"stat:{where}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def file_fact(path: str | Path, kind: str, compute: Callable[[str], str | None]) -> str | None:
    """``compute(source)`` for a revision file, cached: looked up by the file's identity (path, inode,
    size, mtime in ns, as git's index does), then by the SHA-256 of its bytes; computed only for
    content never seen. ``kind`` keeps different facts of one file apart."""
    by_stat = _stat_key(path)
    disk = _load_disk()
    if by_stat is not None and kind + by_stat in disk:
        return disk[kind + by_stat]
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    key = kind + hashlib.sha256(data).hexdigest()
    if key in _memo:
        return _memo[key]
    value: str | None = disk.get(key)
    if value is None:
        try:
            value = compute(data.decode("utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            value = None
        if value is not None:
            disk[key] = value
            _mark_dirty()
    if value is not None and by_stat is not None:
        disk[kind + by_stat] = value
        _mark_dirty()
    _memo[key] = value
    return value


def file_checksum(path: str | Path) -> str | None:
    """The current (v2) checksum of a revision file; None when it cannot be read or parsed."""
    return file_fact(path, "", module_checksum)


def _mark_dirty() -> None:
    global _dirty
    if not _dirty:
        import atexit

        atexit.register(save_cache)
    _dirty = True


def checksum_like(recorded: str | None, path: str | Path) -> str | None:
    """The file's checksum now, by the algorithm ``recorded`` was made with (v2, or v1 for old rows)."""
    if recorded is None or recorded.startswith(_PREFIX):
        return file_checksum(path)
    try:
        return revision_checksum(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
