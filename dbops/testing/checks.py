"""The built-in migration checks. Each raises MigrationTestFailure with titled context blocks:
what failed, what it usually means, the would-be fix."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from dbops import command
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.url import parse_url
from dbops.errors import DbopsError, DriftDetected, MultipleHeads


class MigrationTestFailure(AssertionError):
    def __init__(self, title: str, *, failed: str, meaning: str, fix: str) -> None:
        self.title = title
        super().__init__(f"{title}\n\nWhat failed\n{_indent(failed)}\n\nWhat it usually means\n{_indent(meaning)}"
                         f"\n\nWould-be fix\n{_indent(fix)}")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.strip().splitlines())


Seed = Callable[[sa.Connection], None]


def check_single_head(config: Config) -> None:
    try:
        command.heads(config, check=True)
    except MultipleHeads as exc:
        raise MigrationTestFailure(
            "The migration history has several heads.", failed=exc.message,
            meaning="Two branches each added a revision on the same parent; deploys would need to pick one.",
            fix="dbops merge -m 'merge heads'  (then review the merge revision)",
        ) from None


def check_upgrade(config: Config, *, seed: Mapping[str, Seed] | None = None) -> None:
    """base -> head on an empty database, one revision at a time; ``seed[rev](conn)`` runs after
    ``rev`` is applied (to feed data migrations in later revisions)."""
    for rev in _linear(config):
        try:
            command.upgrade(config, rev)
        except DbopsError as exc:
            raise MigrationTestFailure(
                f"Upgrading to revision {rev} failed on an empty database.", failed=str(exc),
                meaning="The revision depends on state it does not create (data, extensions, objects made by "
                        "hand), or its SQL is wrong for this database.",
                fix=f"Fix the revision {rev}; reproduce with: dbops upgrade {rev} --database-url <empty db> -v",
            ) from None
        if seed and rev in seed:
            _run_seed(config, seed[rev])


def _run_seed(config: Config, fn: Seed) -> None:
    def in_transaction(conn: sa.Connection) -> None:
        with conn.begin():
            fn(conn)

    run_with_connection(parse_url(config.url), in_transaction)


def check_models_match(config: Config) -> None:
    """After base -> head, the models match the schema (check-drift's comparator, not autogenerate)."""
    command.upgrade(config)
    try:
        command.check_drift(config, against="database")
    except DriftDetected as exc:
        items = [f"- {i.detail}" for i in exc.report.items if i.verdict != "pending_migration"]
        raise MigrationTestFailure(
            "The models do not match the schema the migrations build.", failed="\n".join(items),
            meaning="A model changed without a revision, or a revision was edited by hand differently from "
                    "the model.",
            fix=(exc.report.upgrade_code or "dbops revision --autogenerate -m '...'") + "\n(in a new revision)",
        ) from None


def _linear(config: Config) -> list[str]:
    history = command.history(config)
    return [r.revision for r in reversed(history.revisions)]


def _snapshot(config: Config) -> Any:
    from dbops.drift.reflect import reflect_schema
    from dbops.env_settings import not_app_tables

    excluded = not_app_tables(config.version_table)
    return run_with_connection(parse_url(config.url), lambda conn: reflect_schema(conn, exclude_tables=excluded))


def _differences(before: Any, after: Any) -> list[Any]:
    """Two catalog snapshots compared, and also each column's autoincrement (a serial's nextval()
    default, an identity): compare() leaves it out for models vs database, where spellings differ;
    between two snapshots of one database a lost sequence default is a real trace of a downgrade."""
    from dbops.drift.compare import Difference, compare

    out = list(compare(before, after))
    for key in sorted(before.tables.keys() & after.tables.keys(), key=lambda k: (k[0] or "", k[1])):
        old, new = before.tables[key], after.tables[key]
        for name in sorted(old.columns.keys() & new.columns.keys()):
            if old.columns[name].autoincrement != new.columns[name].autoincrement:
                lost = old.columns[name].autoincrement
                out.append(Difference(
                    "default", "changed", old.schema, old.name, name, "autoincrement" if lost else None,
                    None if lost else "autoincrement",
                    f"column {old.name}.{name} {'lost' if lost else 'gained'} its autoincrement (serial default "
                    "nextval(...) or identity)"))
    return out


def check_up_down_up(
    config: Config, *, minimum_downgrade_revision: str | None = None, skip_revisions: Sequence[str] = ()
) -> list[str]:
    """For every revision: upgrade, downgrade, upgrade; the schema after the downgrade must equal
    the schema before the upgrade (normalised catalog snapshots: columns, types, defaults,
    constraints, index definitions, enums, sequences). Returns the revisions checked."""
    revisions = _linear(config)
    start = revisions.index(minimum_downgrade_revision) if minimum_downgrade_revision in revisions else 0
    checked = []
    previous = "base"
    for i, rev in enumerate(revisions):
        if i < start or rev in skip_revisions:
            command.upgrade(config, rev)
            previous = rev
            continue
        before = _snapshot(config)
        command.upgrade(config, rev)
        after = _snapshot(config)
        try:
            command.downgrade(config, previous)
        except DbopsError as exc:
            raise MigrationTestFailure(
                f"Downgrading revision {rev} failed.", failed=str(exc),
                meaning="downgrade() does not undo upgrade() in an order the database accepts.",
                fix=f"Fix downgrade() of {rev}; reproduce with: dbops upgrade {rev} && dbops downgrade -1 -v",
            ) from None
        back = _snapshot(config)
        left = _differences(before, back)
        if left:
            raise MigrationTestFailure(
                f"Revision {rev}: upgrade then downgrade does not return to the previous schema.",
                failed="\n".join(f"- {d.detail}" for d in left),
                meaning="downgrade() forgets to undo part of upgrade() (a leftover index, column, constraint or "
                        "type), so a rollback leaves a trace that breaks the next upgrade or the previous release.",
                fix="\n".join(_undo(d) for d in left),
            )
        command.upgrade(config, rev)
        again = _snapshot(config)
        if _differences(after, again):
            raise MigrationTestFailure(
                f"Revision {rev}: upgrading again after a downgrade builds a different schema.",
                failed="\n".join(f"- {d.detail}" for d in _differences(after, again)),
                meaning="upgrade() depends on state its own downgrade() removed or left behind.",
                fix=f"Make upgrade() and downgrade() of {rev} exact inverses.",
            )
        checked.append(rev)
        previous = rev
    return checked


def _undo(d: Any) -> str:
    """The downgrade() line that would remove a leftover ("extra") or restore a missing object."""
    if d.change == "extra" and d.kind == "index":
        return f"op.drop_index({d.name!r}, table_name={d.table!r})"
    if d.change == "extra" and d.kind == "column":
        return f"op.drop_column({d.table!r}, {d.name!r})"
    if d.change == "extra" and d.kind == "table":
        return f"op.drop_table({d.name!r})"
    if d.change == "extra" and d.kind in ("unique", "foreign_key", "check"):
        return f"op.drop_constraint({d.name!r}, {d.table!r})"
    if d.change == "extra" and d.kind == "enum":
        return f"op.execute('DROP TYPE {d.name}')"
    return f"# undo in downgrade(): {d.detail}"
