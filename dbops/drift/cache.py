"""check-drift's replay cache (PostgreSQL): a replayed chain kept as a template database.

Replaying hundreds of revisions into a scratch database is most of a ``--against migrations`` run,
and the chain rarely changes between two runs. After a replay, the scratch database is copied to
``dbops_cache_<hash>`` (``CREATE DATABASE ... TEMPLATE``), its comment recording what it holds: the
dbops version, a digest of everything besides the revisions that shapes the replay (env.py, the
models' naming convention, bootstrap, version table, -x arguments) and each applied revision with
its file checksum. The next run clones the newest cache whose revisions are all still in the chain
with the same checksums, and applies only the revisions after it. An edited revision, another
env.py or another dbops version never matches. At most ``KEEP`` caches per project and none older
than ``MAX_AGE`` are kept; ``--no-cache`` skips it. Everything here is best effort: a cache that
cannot be read, cloned or written means a full replay, never a failure.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL

log = logging.getLogger("dbops.drift")
PREFIX = "dbops_cache_"
KEEP = 3  # caches per project context
MAX_AGE = 14 * 24 * 3600.0  # seconds


@dataclass(frozen=True)
class Cached:
    name: str
    context: str
    revisions: dict[str, str]  # revision -> file checksum
    created: float


def chain(script: Any) -> dict[str, str]:
    """Every revision of the chain with its file's checksum."""
    from dbops.safety.checksum import file_checksum

    return {rev.revision: file_checksum(rev.path) or "" for rev in script.walk_revisions()}


def context_of(config: Any, metadata: Any) -> str:
    """A digest of what shapes a replay besides the revisions themselves."""
    from dbops import __version__

    env = Path(config.script_location) / "env.py"
    try:
        env_bytes = env.read_bytes()
    except OSError:
        env_bytes = b""
    metas = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    parts = [__version__, hashlib.sha256(env_bytes).hexdigest(), repr([dict(m.naming_convention) for m in metas]),
             str(config.bootstrap), config.version_table, str(config.version_table_schema),
             repr(config.search_path), repr(config.x_arguments), str(config.version_locations)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def _admin(conn_url: URL) -> URL:
    return conn_url.set(database="postgres")


def _read_caches(admin: URL, connect_timeout: float) -> list[Cached]:
    from dbops.db.engine import run_with_connection

    def read(conn: Any) -> list[Cached]:
        rows = conn.execute(text(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d "
            "WHERE d.datname LIKE 'dbops\\_cache\\_%' AND NOT d.datistemplate")).all()
        out = []
        for name, comment in rows:
            try:
                data = json.loads(comment or "")
                out.append(Cached(name, data["context"], dict(data["revisions"]), float(data["created"])))
            except (ValueError, KeyError, TypeError):
                continue  # not one of ours, or written by another dbops: ignored
        return out

    return run_with_connection(admin, read, connect_timeout=connect_timeout, application_name="dbops-cache")


def best(server: URL, context: str, revisions: dict[str, str], connect_timeout: float) -> Cached | None:
    """The cache holding the most revisions of this chain, all with the same checksums."""
    try:
        caches = _read_caches(_admin(server), connect_timeout)
    except Exception as exc:  # noqa: BLE001  best effort
        log.debug("replay cache not readable: %s", exc)
        return None
    fits = [c for c in caches if c.context == context and c.revisions
            and all(revisions.get(rev) == checksum for rev, checksum in c.revisions.items())]
    return max(fits, key=lambda c: (len(c.revisions), c.created), default=None)


def save(scratch: URL, context: str, applied: dict[str, str], connect_timeout: float) -> str | None:
    """Copy the replayed scratch database into a cache (no other session may be connected to it),
    then prune old ones. Returns the cache's name, or None when it could not be written."""
    from dbops.db.engine import run_with_connection

    if not applied:
        return None
    digest = hashlib.sha256((context + json.dumps(sorted(applied.items()))).encode()).hexdigest()[:20]
    name = PREFIX + digest
    comment = json.dumps({"context": context, "revisions": applied, "created": time.time()})
    admin = _admin(scratch)
    quote = scratch.get_dialect()().identifier_preparer.quote

    def write(conn: Any) -> None:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            return
        conn.execute(text(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(str(scratch.database))}"))
        conn.execute(text(f"COMMENT ON DATABASE {quote(name)} IS " + _literal(comment)))

    try:
        run_with_connection(admin, write, connect_timeout=connect_timeout, application_name="dbops-cache")
    except Exception as exc:  # noqa: BLE001  best effort: the next run replays in full
        log.debug("replay cache not written: %s", exc)
        return None
    prune(admin, context, connect_timeout, keep=name)
    return name


def _drop(conn: Any, *, sql: str) -> None:
    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(sql))


def prune(admin: URL, context: str, connect_timeout: float, *, keep: str | None = None) -> None:
    """Drop this project's caches beyond the newest KEEP, and any cache older than MAX_AGE."""
    from dbops.db.engine import run_with_connection

    try:
        caches = _read_caches(admin, connect_timeout)
    except Exception:  # noqa: BLE001
        return
    now = time.time()
    mine = sorted((c for c in caches if c.context == context), key=lambda c: c.created, reverse=True)
    doomed = {c.name for c in mine[KEEP:]} | {c.name for c in caches if now - c.created > MAX_AGE}
    doomed.discard(keep or "")
    quote = admin.get_dialect()().identifier_preparer.quote
    for name in sorted(doomed):
        try:
            run_with_connection(admin, functools.partial(_drop, sql=f"DROP DATABASE IF EXISTS {quote(name)}"),
                                connect_timeout=connect_timeout, application_name="dbops-cache")
        except Exception as exc:  # noqa: BLE001  in use by a clone right now: the next run prunes it
            log.debug("replay cache %s not dropped: %s", name, exc)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
