"""The built-in migration checks. Each raises MigrationTestFailure with titled context blocks:
what failed, what it usually means, the would-be fix."""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from dbops import command
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.url import parse_url
from dbops.errors import DbopsError, DriftDetected, MultipleHeads, WrongDatabase


class MigrationTestFailure(AssertionError):
    def __init__(self, title: str, *, failed: str, meaning: str, fix: str) -> None:
        self.title = title
        super().__init__(f"{title}\n\nWhat failed\n{_indent(failed)}\n\nWhat it usually means\n{_indent(meaning)}"
                         f"\n\nWould-be fix\n{_indent(fix)}")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.strip().splitlines())


Seed = Callable[[sa.Connection], None]
F = TypeVar("F", bound=Callable[..., Any])


def _wrong_database(exc: WrongDatabase) -> MigrationTestFailure:
    return MigrationTestFailure(
        "The project's env.py migrates another database than the test database the plugin made, so "
        "nothing was run (and nothing was written there).", failed=exc.message,
        meaning="env.py builds its URL from the app's settings and ignores the URL dbops passes in "
                "config.get_main_option('sqlalchemy.url'); against a real deploy that is right, in a test it "
                "would migrate the app's own database.",
        fix="In env.py, prefer the URL dbops passes (plain `alembic` still uses the app's):\n"
            "    url = config.get_main_option('sqlalchemy.url') or str(settings.DATABASE_URL)",
    )


def explained(check: F) -> F:
    """A check whose env.py connects elsewhere fails with its own titled block, not as the first
    revision's error. When dbops read the project's URL from an environment variable (DATABASE_URL, or
    ``url = "env:VAR"``), the app most likely reads it too: the check is first run again in a child
    process whose variable names the test database (mealie's and Prefect's settings are read once, at
    import, so this process cannot point them anywhere else); the child's own check still refuses an
    env.py that connects elsewhere. Data hooks (functions of the test session) are not handed to a child."""
    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except WrongDatabase as exc:
            config = args[0] if args and isinstance(args[0], Config) else None
            hooks = any(v for v in (*args[1:], *kwargs.values()) if isinstance(v, Mapping))
            if config is None or not config.url_env or hooks or os.environ.get(_CHILD_MARK):
                raise _wrong_database(exc) from None
        return _check_in_child(check, args, kwargs)

    return wrapper  # type: ignore[return-value]


_CHILD_MARK = "DBOPS_PLUGIN_CHECK_CHILD"
_CHILD = """
import importlib, pickle, sys
module, name, args, kwargs = pickle.load(sys.stdin.buffer)
check = getattr(importlib.import_module(module), name)
try:
    check(*args, **kwargs)
    result = ("ok", None)
except AssertionError as exc:
    result = ("failed", str(exc))
except Exception as exc:
    result = ("error", f"{type(exc).__name__}: {exc}")
with open(sys.argv[1], "wb") as out:
    pickle.dump(result, out)
"""


class _ChildFailure(AssertionError):
    """A check that failed in the child process: its own titled block, as it was written there."""


def _check_in_child(check: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    from dbops.child import run_pickled
    from dbops.db.url import written_like

    config: Config = args[0]
    assert config.url_env is not None
    # the test database, written in the form the app reads from its variable
    env = {**os.environ, config.url_env: written_like(config.url, os.environ.get(config.url_env)), _CHILD_MARK: "1"}
    result, code, stderr = run_pickled(_CHILD, (check.__module__, check.__name__, args, kwargs), env=env,
                                       cwd=config.root)
    if result is None:
        from dbops.redact import redact

        raise _ChildFailure(f"The check could not run in a child process (exit {code}): {redact(stderr)}")
    if result[0] != "ok":
        raise _ChildFailure(result[1])


def check_single_head(config: Config) -> None:
    try:
        command.heads(config, check=True)
    except MultipleHeads as exc:
        raise MigrationTestFailure(
            "The migration history has several heads.", failed=exc.message,
            meaning="Two branches each added a revision on the same parent; deploys would need to pick one.",
            fix="dbops merge -m 'merge heads'  (then review the merge revision)",
        ) from None


@explained
def check_upgrade(
    config: Config, *, seed: Mapping[str, Seed] | None = None, before: Mapping[str, Seed] | None = None,
    after: Mapping[str, Seed] | None = None,
) -> None:
    """base -> head on an empty database, one revision at a time. Data hooks, each ``fn(connection)``
    in its own transaction: ``before[rev]`` runs just before ``rev`` is applied (rows for a data
    migration to convert), ``after[rev]`` just after it (assertions on what it did: an
    AssertionError fails the test naming the revision), then ``seed[rev]`` (rows later revisions need)."""
    for rev in _one_by_one(config, before=before, seed=seed, after=after):
        try:
            command.upgrade(config, rev)
        except WrongDatabase:
            raise
        except DbopsError as exc:
            given = " on the rows given before it" if before and rev in before else " on an empty database"
            raise MigrationTestFailure(
                f"Upgrading to revision {rev} failed{given}.", failed=str(exc),
                meaning="The revision depends on state it does not create (data, extensions, objects made by "
                        "hand), or its SQL is wrong for this database.",
                fix=f"Fix the revision {rev}; reproduce with: dbops upgrade {rev} --database-url <empty db> -v",
            ) from None
        if after and rev in after:
            try:
                _run_seed(config, after[rev])
            except AssertionError as exc:
                raise MigrationTestFailure(
                    f"The data after revision {rev} is not what the test expects.", failed=str(exc) or repr(exc),
                    meaning=f"Revision {rev} converts (or loses) rows differently from what its data test states.",
                    fix=f"Fix the data step of {rev} (op.execute / run_data_migration), then re-run pytest --dbops",
                ) from None


def _one_by_one(config: Config, *, before: Mapping[str, Seed] | None, seed: Mapping[str, Seed] | None,
                after: Mapping[str, Seed] | None = None) -> Iterator[str]:
    """Each revision, base -> head, for the caller to apply: ``before[rev]`` runs first, ``seed[rev]``
    once the caller is done with it. Hooks naming a revision that is not in the history fail up front
    (they would never run)."""
    revisions = _linear(config)
    unknown = sorted((set(seed or {}) | set(before or {}) | set(after or {})) - set(revisions))
    if unknown:
        raise MigrationTestFailure(
            f"Data hooks name revisions that are not in the history: {', '.join(unknown)}.",
            failed="dbops_seed / dbops_before_revision / dbops_after_revision keys: " + ", ".join(unknown),
            meaning="A revision id was mistyped, or the revision was renamed or squashed; the hook would never run.",
            fix="Use ids from: dbops history",
        )
    for rev in revisions:
        if before and rev in before:
            _run_seed(config, before[rev])
        yield rev
        if seed and rev in seed:
            _run_seed(config, seed[rev])


def _run_seed(config: Config, fn: Seed) -> None:
    def in_transaction(conn: sa.Connection) -> None:
        with conn.begin():
            fn(conn)

    run_with_connection(parse_url(config.url), in_transaction)


@explained
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


def check_models_registered(config: Config, *, package: str | None = None) -> Any:
    """Every model of the app's package is on the configured metadata (see testing/register.py).
    Returns the Registration read; raises MigrationTestFailure on a model the metadata misses."""
    from dbops.testing.register import default_package, read_registration

    if not config.metadata:
        raise MigrationTestFailure(
            "No metadata is configured, so dbops cannot tell which models the migrations must cover.",
            failed="metadata is not set in [tool.dbops] / dbops.toml.",
            meaning="check-drift and this check compare against the metadata named there; env.py's own "
                    "target_metadata is not read here.",
            fix='metadata = "app.models:Base.metadata"   (in dbops.toml; or set dbops_models_package and '
                "metadata)",
        )
    package = package or default_package(config.metadata)
    try:
        found = read_registration(config.root, config.metadata, package, imports=config.metadata_imports)
    except RuntimeError as exc:
        raise MigrationTestFailure(
            f"Importing the metadata ({config.metadata}) or the package {package!r} failed in a fresh "
            "interpreter.", failed=str(exc),
            meaning="The models cannot be imported on their own (an import cycle, settings read at import time, "
                    "a missing dependency), or the package name is wrong.",
            fix=f"python -c 'import {package}' from {config.root}; set dbops_models_package if the models live "
                "in another package",
        ) from None
    problems = [f"- table {table} is defined in {module or 'a module of ' + package} but is not on "
                f"{config.metadata} until that module is imported" for table, module in found.unregistered]
    problems += [f"- {cls} is mapped to {table} on another MetaData" for cls, table in found.elsewhere]
    unimportable = [f"- module {module} could not be imported: {error}" for module, error in found.failed]
    if unimportable and not problems:  # not looked at: never a pass, but not a missing model either
        raise MigrationTestFailure(
            f"{len(unimportable)} module(s) of {package!r} could not be imported on their own, so any models "
            "in them were not checked.", failed="\n".join(unimportable),
            meaning="Those modules need the app's environment (settings, a database URL) or a dependency this "
                    "test run lacks; every other module's models are on the metadata.",
            fix=f"dbops_models_package = <the package or module that holds the models, e.g. "
                f"{config.metadata.partition(':')[0]}>   (ini option), or make those modules importable",
        )
    problems += unimportable
    if problems:
        modules = sorted({m for _, m in found.unregistered if m})
        raise MigrationTestFailure(
            f"Some models of {package!r} are not on the metadata the migrations are compared against.",
            failed="\n".join(problems),
            meaning="autogenerate would propose dropping their tables and check-drift cannot see them: the module "
                    "that defines them is not imported by the module that builds the metadata (or uses another "
                    "Base).",
            fix="\n".join(f"import {m}  # in the module of {config.metadata.partition(':')[0]}" for m in modules)
                or "Map every model on one Base (or list every MetaData in metadata).",
        )
    return found


@explained
def check_lock_footprint(
    config: Config, *, seed: Mapping[str, Seed] | None = None, before: Mapping[str, Seed] | None = None,
    budget: str | None = None, allow_rewrites: bool = True, exempt: Sequence[str] = (),
    collect: list[Any] | None = None,
) -> list[Any]:
    """PostgreSQL: base -> head one revision at a time (with the same ``before``/``seed`` rows as
    check_upgrade), measuring each revision's locks and rewrites (testing/footprint.py). Returns
    the footprints; raises MigrationTestFailure naming each revision over ``budget`` (the strongest
    lock mode allowed on a table that existed and had rows) or, unless ``allow_rewrites``, that
    rewrote such a table. Revisions in ``exempt`` are measured but not judged. ``collect``: a list
    the footprints are appended to as they are measured (kept when the check fails)."""
    from dbops.lint.lock_modes import mode_name
    from dbops.testing import footprint as fp

    url = parse_url(config.url)

    def skip(relation: str) -> bool:  # bookkeeping: the version table, dbops_history, checkpoints, leases
        name = relation.split(".", 1)[-1]
        return name == config.version_table or name.startswith("dbops_")

    prints: list[Any] = collect if collect is not None else []
    over = []
    for rev in _one_by_one(config, before=before, seed=seed):
        pre = run_with_connection(url, fp.tables)
        with fp.statement_locks(skip) as taken:
            command.upgrade(config, rev)
        post = run_with_connection(url, fp.tables)
        found = fp.footprint(rev, taken, pre, post)
        prints.append(found)
        problems = [] if rev in exempt else fp.over_budget(found, budget, allow_rewrites)
        if problems:
            over.append((rev, problems))
    if over:
        allowed = mode_name(budget) if budget else "any lock"
        raise MigrationTestFailure(
            f"{len(over)} revision(s) take locks over the budget ({allowed} on tables with rows"
            f"{'' if allow_rewrites else ', no rewrites'}): {', '.join(rev for rev, _ in over)}.",
            failed="\n".join(f"{rev}:\n" + "\n".join(problems) for rev, problems in over),
            meaning="While such a statement runs, every query on that table waits behind it (ACCESS EXCLUSIVE "
                    "blocks even SELECT), and a rewrite holds the lock while every row is copied: on a large "
                    "table in production, an outage for the statement's whole duration.",
            fix="Use the non-blocking form: CREATE INDEX CONCURRENTLY inside op.get_context().autocommit_block(); "
                "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later revision; add a column "
                "nullable without a volatile default, backfill, then set NOT NULL. A revision that must take the "
                "lock: list it in dbops_lock_budget_exempt.",
        )
    return prints


def _linear(config: Config) -> list[str]:
    history = command.history(config)
    return [r.revision for r in reversed(history.revisions)]


def _snapshot(config: Config) -> Any:
    from dbops.bridge.env_settings import not_app_tables
    from dbops.drift.reflect import reflect_schema

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


@explained
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
