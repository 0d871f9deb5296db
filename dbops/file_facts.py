"""Facts computed from a file's content (a revision's checksum, the tables it touches, its revision
links), cached on disk: looked up by the file's identity (path, inode, size, mtime in ns, as git's
index does), then by the SHA-256 of its bytes; computed only for content never seen. Kept in
``$XDG_CACHE_HOME/dbops/checksums-v2.json`` (the name of its first user), written at exit."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

VERSION = "v2"
_memo: dict[str, str | None] = {}
_disk: dict[str, str] | None = None
_dirty = False


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
    """``compute(source)`` for a file, cached (see the module); ``kind`` keeps different facts of one
    file apart."""
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


def _mark_dirty() -> None:
    global _dirty
    if not _dirty:
        import atexit

        atexit.register(save_cache)
    _dirty = True
