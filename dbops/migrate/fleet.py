"""What a fan-out over many targets does once instead of once per target: load Alembic's runtime, the
revision files and the models in the parent before its worker processes fork (they start warm), and
read every schema tenant's version table of one database in one query, so tenants already at the
target revision are answered without a worker, a lock or a second connection."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbops.config import Config


def warm(config: Config) -> None:
    """Import in this process what running revisions needs (processes forked from it inherit it)."""
    import alembic.operations  # noqa: F401
    import alembic.runtime.environment  # noqa: F401
    import alembic.runtime.migration  # noqa: F401

    import dbops.migrate.environment  # noqa: F401
    import dbops.migrate.history_rows  # noqa: F401
    import dbops.safety.guard  # noqa: F401
    from dbops.migrate.apply import _prepare, _with_models

    acfg, _ = _prepare(config, runs_env=False)  # the revision files, loaded once per process
    _with_models(config, acfg)  # the models' modules


def already_at(configs: Sequence[tuple[str, Config]], revision: str) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """({target name: its revisions} for the schema tenants (PostgreSQL) already at ``revision``, the names
    of the ones read and found behind it): per database, one query finds which tenant schemas have a
    version table and one reads them all. Targets in neither need their own check (another database
    kind, an unknown revision, anything unexpected)."""
    from dbops.bridge.project import load_scripts
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    by_database: dict[str, list[tuple[str, Config]]] = {}
    for name, config in configs:
        if config.tenant_schema and parse_url(config.url).get_backend_name() == "postgresql":
            by_database.setdefault(config.url, []).append((name, config))
    if not by_database:
        return {}, set()
    pending_cache: dict[tuple[str, ...], bool] = {}
    graph = _graph(configs[0][1]) if revision == "head" else None

    def at_target(current: tuple[str, ...]) -> bool:
        if current in pending_cache:
            return pending_cache[current]
        if graph is not None and all(r in graph[0] for r in current):  # read from the files' text
            pending_cache[current] = current == graph[1]
            return pending_cache[current]
        script = load_scripts(configs[0][1])  # Alembic's own resolution (imports the revision files)
        try:
            pending_cache[current] = not list(script._upgrade_revs(revision, current))
        except Exception:  # noqa: BLE001  an unknown revision: the target's own run reports it
            pending_cache.pop(current, None)
            return False
        return pending_cache[current]

    out: dict[str, tuple[str, ...]] = {}
    behind: set[str] = set()
    for url, members in by_database.items():
        first = members[0][1]

        def read(conn: Any, members: list[tuple[str, Config]] = members) -> dict[str, tuple[str, ...]]:
            return _versions(conn, members)

        versions = run_with_connection(parse_url(url), read, connect_timeout=first.connect_timeout)
        for name, config in members:
            current = versions.get(config.tenant_schema or "", ())  # no version table yet: at base
            if at_target(current):
                out[name] = current
            elif current in pending_cache:  # resolved, and revisions are pending
                behind.add(name)
    return out, behind


def _graph(config: Config) -> tuple[set[str], tuple[str, ...]] | None:
    """(every revision, the single head) from the revision files' text; None when the files cannot be read
    that way or the chain has several heads (Alembic then resolves "head", and refuses)."""
    from dbops.lint.check import revision_heads

    found = revision_heads(config)
    if found is None or len(found[1]) != 1:
        return None
    return set(found[0]), found[1]


def _versions(conn: Any, members: list[tuple[str, Config]]) -> dict[str, tuple[str, ...]]:
    """{schema: its version table's revisions} for the tenants whose version table exists."""
    import sqlalchemy as sa

    table = members[0][1].version_table
    schemas = sorted({c.version_table_schema or c.tenant_schema or "" for _, c in members})
    present = [r[0] for r in conn.execute(sa.text(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = :t AND table_schema = ANY(:s)"),
        {"t": table, "s": schemas})]
    out: dict[str, list[str]] = {s: [] for s in present}
    quote = conn.dialect.identifier_preparer.quote
    for start in range(0, len(present), 500):  # one statement per 500 tenants
        chunk = present[start:start + 500]
        parts = [f"SELECT CAST(:s{i} AS text), version_num FROM {quote(s)}.{quote(table)}" for i, s in enumerate(chunk)]
        for schema, version in conn.execute(sa.text(" UNION ALL ".join(parts)),
                                            {f"s{i}": s for i, s in enumerate(chunk)}):
            out[schema].append(version)
    conn.rollback()
    return {s: tuple(sorted(v)) for s, v in out.items()}
