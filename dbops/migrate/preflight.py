"""What ``upgrade`` checks before it migrates: sessions holding locks on the tables the pending
revisions touch (PostgreSQL), and applied revisions whose file was edited since; ``--strict`` turns
the warnings into a refusal."""
from __future__ import annotations

from typing import Any

from dbops.config import Config
from dbops.errors import PreflightFailed


def refuse_if_strict(warnings: list[str], strict: bool) -> None:
    if warnings and strict:
        raise PreflightFailed(
            f"Pre-flight found {len(warnings)} problem(s) and --strict refuses to migrate: " + " ".join(warnings),
            hint="Resolve them (or run without --strict to only warn), then re-run dbops upgrade.",
        )


def preflight(guard: Any, config: Config, script: Any, revision: str, current: tuple[str, ...]) -> list[str]:
    import json

    from dbops.file_facts import file_fact
    from dbops.lint.operations import tables_touched
    from dbops.safety.preflight import lock_holders

    warnings: list[str] = []
    if guard.conn.dialect.name != "postgresql":  # lock holders are read from pg_locks only
        return edited_warnings(guard.conn, config, script, current)
    try:
        pending = [s for s in script.iterate_revisions(revision, current or "base") if s.revision not in current]
    except Exception:
        pending = []  # the run itself reports unknown revisions properly
    tables: set[str] = set()
    for s in pending:  # cached by file identity, like the checksums
        found = file_fact(s.path, "tables:", lambda source: json.dumps(sorted(tables_touched(source))))
        tables |= set(json.loads(found)) if found else set()
    warnings += lock_holders(guard.conn, tables, schema=config.tenant_schema)
    return warnings + edited_warnings(guard.conn, config, script, current)


def edited_warnings(conn: Any, config: Config, script: Any, current: tuple[str, ...]) -> list[str]:
    """Applied revisions whose file changed since they ran (from dbops_history's checksums)."""
    from dbops.safety.checksum import checksum_like
    from dbops.safety.history import latest_checksums

    warnings: list[str] = []
    recorded = latest_checksums(conn, schema=config.tenant_schema)
    if recorded and current:
        from dbops.bridge.squashed import replaced_checksums

        applied = {s.revision: s for s in script.iterate_revisions(current, "base")}
        squashed = replaced_checksums(config.script_location)
        for rev, checksum in recorded.items():
            if rev in applied and checksum and squashed.get(rev) != checksum \
                    and checksum_like(checksum, applied[rev].path) not in (None, checksum):
                warnings.append(f"revision {rev} was edited after it was applied (its checksum changed); "
                                "databases migrated before and after the edit differ. See: dbops verify")
    return warnings
