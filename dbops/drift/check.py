"""check-drift: read each side once, classify, build the report."""
from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import URL, Connection

from dbops.bridge.env_settings import not_app_tables
from dbops.bridge.project import database_heads, find_revision, import_metadata, load_scripts
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.scratch import scratch_database
from dbops.db.url import mask, parse_url
from dbops.drift.classify import FAILING, IgnoreRule, Verdict, apply_ignores, three_way, two_way_database
from dbops.drift.from_models import models_spec
from dbops.drift.reflect import default_schema_of, reflect_schema
from dbops.drift.schema import SchemaSpec
from dbops.errors import ConfigError, DriftDetected, RevisionError
from dbops.reports import DriftItem, DriftReport

AGAINST = ("migrations", "database", "both")


@dataclass
class _Live:
    spec: SchemaSpec
    heads: tuple[str, ...]
    dialect: Any
    default_schema: str | None
    # the models' tables whose expressions this server spelled (canonical.py), where dbops's spelling differed
    canonical: dict[tuple[str | None, str], Any] = field(default_factory=dict)
    models: SchemaSpec | None = None  # the models' spec built on this connection (canonical tables included)
    declared: dict[Any, str] | None = None  # the app's entities as this server prints them (entities.py)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Reflection and comparison allocate hundreds of thousands of small, acyclic objects;
    pausing the cyclic GC meanwhile saves ~40% of the compare step at 1,000 tables."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compare_step(conn: Connection, metadata: Any, *, exclude_tables: set[str] = frozenset()) -> list[Any]:  # type: ignore[assignment]
    """Models vs one live connection (the two-way compare step, as the benchmark measures it)."""
    from dbops.drift.compare import compare

    with gc_paused():
        live = reflect_schema(conn, schemas=_schemas(metadata), exclude_tables=exclude_tables)
        models = models_spec(metadata, conn.dialect, default_schema_of(conn), exclude_tables=exclude_tables)
        return compare(models, live)


def _exclude(config: Config) -> set[str]:
    """dbops's and Alembic's own bookkeeping tables are not part of the app's schema."""
    return not_app_tables(config.version_table)


def _schemas(metadata: Any) -> tuple[str | None, ...]:
    metas = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    named = sorted({t.schema for m in metas for t in m.tables.values() if t.schema})
    return (None, *named)


def _read(url: URL, config: Config, schemas: tuple[str | None, ...], *, with_heads: bool,
          tenant: bool = False, metadata: Any = None, entities: list[Any] | None = None) -> _Live:
    """``tenant``: the live database of a tenant config (its schema read as the default one);
    scratch replays are always in the default schema. ``metadata``: also build the models' spec on
    this connection, with the server's spelling of what it rewrites."""
    tenant_schema = config.tenant_schema if tenant else None

    def read(conn: Connection) -> _Live:
        from dbops.drift.canonical import canonicalize, suspects

        heads = database_heads(conn, config) if with_heads else ()
        spec = reflect_schema(conn, schemas=schemas, exclude_tables=_exclude(config), tenant_schema=tenant_schema)
        default_schema = tenant_schema or default_schema_of(conn)
        canonical = {}
        declared = None
        models = None
        if metadata is not None:
            models = models_spec(metadata, conn.dialect, default_schema, exclude_tables=_exclude(config))
            done = canonicalize(conn, metadata, models, default_schema, only=suspects(models, spec))
            canonical = {key: models.tables[key] for key in done}
        if entities and conn.dialect.name == "postgresql":
            from dbops.drift.entities import ENTITY_KINDS, canonical_declared, read_entities

            kinds = {ENTITY_KINDS[type(e).__name__] for e in entities}
            wanted = sorted({s for s in (default_schema if x is None else x for x in schemas) if s}
                            | {e.schema for e in entities if e.schema})
            spec.entities = read_entities(conn, wanted, default_schema, kinds)
            spec.entity_kinds = frozenset(kinds)  # compared as the reference side too (three-way)
            if metadata is not None:
                declared = canonical_declared(conn, entities, default_schema)
        return _Live(spec, heads, conn.dialect, default_schema, canonical=canonical, declared=declared, models=models)

    return run_with_connection(url, read, connect_timeout=config.connect_timeout, application_name="dbops-drift")


def _env_filters(config: Config, url: Any) -> tuple[Any, Any]:
    """The app's include_object / include_name, read from its env.py run against ``url``."""
    from dbops.migrate.replay import env_filters

    return env_filters(config.with_url(url.render_as_string(hide_password=False), "scratch"))


def _what_failed(message: str) -> str:
    """A migration failure's first sentence (what failed and why), without what it says about the
    scratch database's version table and the next step for a live database."""
    return message.split(" The version table ")[0].split(" Fix ")[0]


def _replay(config: Config, url: URL, revision: str) -> None:
    from dbops.errors import MigrationFailed, ScratchFailed, WrongDatabase
    from dbops.migrate.replay import replay

    try:
        own = replay(config, url, revision)
    except MigrationFailed as exc:
        raise ScratchFailed(
            "check-drift replays the migrations into a scratch database it creates, and the replay failed there, "
            f"so nothing was compared (the live database was not touched): {_what_failed(exc.message)}",
            hint="The chain does not build from an empty database as it is (dbops heads shows its heads; two "
            "histories creating the same table cannot both replay). Fix the revision, or point a bootstrap hook "
            "at what the chain expects to exist ([tool.dbops] bootstrap).",
        ) from exc
    except WrongDatabase as exc:
        raise WrongDatabase(
            "check-drift replays the chain into a scratch database it creates, and the project's env.py "
            "connected elsewhere, so the replay was refused and nothing was compared. " + exc.message,
            hint="Let env.py prefer the URL dbops passes: url = config.get_main_option('sqlalchemy.url') or "
            "<the app's URL>; meanwhile compare the models with the live database only: "
            "dbops check-drift --against database (works while it is at head).",
        ) from exc
    if own:  # env.py migrates schemas of its own choosing (a tenant loop): which one would be compared?
        from dbops.errors import ConfigError

        raise ConfigError(
            f"The project's env.py migrated schemas of its own choosing ({', '.join(own)}) when the chain was "
            "replayed, and check-drift compares one schema per database, so it compared nothing rather than "
            "report every table as missing.",
            hint="Declare the tenants as a dbops group (groups.<name>.schemas_sql) and use dbops's env, then "
            "run: dbops check-drift --group <name>; or set version_table_schema if there is one schema.",
        )


def _models(config: Config) -> Any:
    """The models' metadata; refused when it holds no table (nothing would be compared)."""
    metadata = import_metadata(config.metadata or "", config.root, config.metadata_imports)
    if not any(m.tables for m in (metadata if isinstance(metadata, (list, tuple)) else [metadata])):
        raise ConfigError(
            f"The models' metadata ({config.metadata}) holds no tables, so there is nothing to compare and "
            "check-drift does not pass on it. Usually the module that defines the models is not imported by the "
            "one named (env.py often imports it only for its side effect: a bare `import app.models` line).",
            hint="Name the modules that register the models: metadata_imports = ['app.models'] in [tool.dbops] / "
            "dbops.toml (what env.py imports for that), or point metadata at a module that imports every model.",
        )
    return metadata


def check_drift(
    config: Config,
    *,
    against: str | None = None,
    ignore: tuple[str, ...] = (),
    scratch_url: str | None = None,
    locate: bool = True,
    cache: bool = True,
    suggest: bool = True,
) -> DriftReport:
    with gc_paused():
        return _check_drift(config, against=against, ignore=ignore, scratch_url=scratch_url, locate=locate,
                            cache=cache, suggest=suggest)


def _check_drift(
    config: Config, *, against: str | None, ignore: tuple[str, ...], scratch_url: str | None, locate: bool = True,
    cache: bool = True, suggest: bool = True,
) -> DriftReport:
    started = time.perf_counter()
    from dbops.drift.kinds import KINDS, unknown_kind

    bad = [p for p in ignore if unknown_kind(p)]
    if bad:
        raise ConfigError(f"--ignore names unknown kind(s): {', '.join(repr(p) for p in bad)}; the kinds are "
                          f"{', '.join(KINDS)} (or a bare glob for any kind).", hint="Fix the patterns.")
    if not config.metadata:
        raise ConfigError(
            "check-drift compares the models with the schema, but no metadata is configured.",
            hint="Set metadata = 'app.models:SQLModel.metadata' in [tool.dbops] or pass --metadata.",
        )
    against = against or ("migrations" if config.uses_default_database else "both")
    if against not in AGAINST:
        raise ConfigError(f"--against must be one of {', '.join(AGAINST)}, not {against!r}.")
    metadata = _models(config)
    schemas = _schemas(metadata)
    live_url = parse_url(config.url) if against != "migrations" else None
    scratch_server = parse_url(scratch_url) if scratch_url else (
        parse_url(config.url) if not config.uses_default_database else None)

    graph = _static_graph(config)  # the revision files read as text: no revision module imported
    script: Any = load_scripts(config) if graph is None else None
    head_ids = graph.heads if graph is not None else tuple(sorted(script.get_heads()))

    from dbops.drift.entities import ENTITY_KINDS, declared

    entities = declared(config.entities, config.root)
    live = _read(live_url, config, schemas, with_heads=True, tenant=True,
                 metadata=metadata, entities=entities) if live_url is not None else None
    behind = live is not None and set(live.heads) != set(head_ids)
    if live is not None and live.heads:
        unknown = [h for h in live.heads
                   if not (h in graph.revisions if graph is not None else find_revision(script, h) is not None)]
        if unknown:
            raise RevisionError(
                f"The live database is at revision {', '.join(unknown)}, which is not among the revision "
                "files, so there is no reference for what it should look like.",
                hint="Check out the code matching the database, or see: dbops history",
            )

    head_spec = at_live_spec = None
    need_replay = against in ("migrations", "both") or behind
    scratch_label = None
    replay_cache = None
    if need_replay:
        from dbops.drift import cache as replay

        use_cache = cache and not behind and scratch_server is not None \
            and scratch_server.get_backend_name() == "postgresql"
        hit = None
        in_place = None
        if use_cache:
            assert scratch_server is not None
            revisions = graph.checksums() if graph is not None else replay.chain(script)
            context = replay.context_of(config, metadata)
            hit = replay.best(scratch_server, context, revisions, config.connect_timeout)
            if hit is not None and set(hit.revisions) == set(revisions):  # the whole chain: read the cache itself
                in_place = _read_cache_in_place(config, scratch_server.set(database=hit.name), schemas, metadata,
                                                entities)
        if in_place is not None:
            assert hit is not None
            scratch, hooks = in_place
            scratch_label = f"{hit.name} (the cache, read in place)"
            head_spec = scratch.spec
            dialect, default_schema = scratch.dialect, scratch.default_schema
            replay_cache = (f"{len(hit.revisions)} of {len(revisions)} revision(s) from the cache {hit.name}, "
                            "read in place (nothing to replay)")
        else:
            outcome: dict[str, Any] = {}
            with scratch_database(scratch_server, connect_timeout=config.connect_timeout,
                                  template=hit.name if hit is not None else None, outcome=outcome) as s_url:
                scratch_label = mask(s_url)
                if live is not None and behind:
                    if live.heads:
                        _replay(config, s_url, ",".join(live.heads) if len(live.heads) == 1 else "heads")
                    at_live_spec = _read(s_url, config, schemas, with_heads=False, entities=entities).spec
                _replay(config, s_url, "heads")
                scratch = _read(s_url, config, schemas, with_heads=False, metadata=metadata, entities=entities)
                hooks = _env_filters(config, s_url)
                head_spec = scratch.spec
                dialect, default_schema = scratch.dialect, scratch.default_schema
                if use_cache:
                    cloned = hit if hit is not None and outcome.get("cloned") else None
                    if cloned is None or len(cloned.revisions) < len(revisions):  # a state not cached yet
                        replay.save(s_url, context, revisions, config.connect_timeout)
                    replay_cache = (f"{len(cloned.revisions)} of {len(revisions)} revision(s) from the cache "
                                    f"{cloned.name}" if cloned is not None else
                                    "miss: replayed in full, cached for the next run")
    else:
        assert live is not None
        dialect, default_schema = live.dialect, live.default_schema
    if live is not None:
        dialect, default_schema = live.dialect, live.default_schema
    if not need_replay:
        hooks = _env_filters(config, live_url)
    built = next((side.models for side in (live, scratch if need_replay else None)
                  if side is not None and side.models is not None and side.default_schema == default_schema), None)
    models = built if built is not None else models_spec(metadata, dialect, default_schema,
                                                         exclude_tables=_exclude(config))
    for side in (live, scratch if need_replay else None):  # the server's spelling where dbops's differed
        if side is not None:
            models.tables.update(side.canonical)
            if side.declared is not None and not models.entities:
                models.entities = side.declared
    if entities:
        models.entity_kinds = frozenset(ENTITY_KINDS[type(e).__name__] for e in entities)
    from dbops.drift.filters import Filters, apply_filters, paired_exclusions

    filters = Filters(*hooks, metadata)  # what the app's env.py keeps out of autogenerate stays out here
    if filters:
        # as Alembic calls the hooks: the models' objects with reflected=False, the databases' (live, replays)
        # with reflected=True, and an object both sides have with the database's as compare_to
        pairs = paired_exclusions(models, [head_spec, at_live_spec, live.spec if live is not None else None],
                                  filters, default_schema)
        models = apply_filters(models, filters, default_schema, paired_out=pairs)
        head_spec, at_live_spec = (apply_filters(head_spec, filters, default_schema, reflected=True, paired_out=pairs),
                                   apply_filters(at_live_spec, filters, default_schema, reflected=True,
                                                 paired_out=pairs))
        if live is not None:
            live = replace(live, spec=apply_filters(live.spec, filters, default_schema, reflected=True,
                                                    paired_out=pairs))

    if against == "migrations":
        verdicts = three_way(models, head_spec, None, None)
    elif against == "database":
        assert live is not None
        verdicts = two_way_database(models, live.spec, head_spec, at_live_spec)
    else:
        assert live is not None
        verdicts = three_way(models, head_spec, live.spec, at_live_spec if behind else None)

    rules = [IgnoreRule.parse(p) for p in (*config.drift_ignore, *ignore)]
    kept, ignored = apply_ignores(verdicts, rules)
    from dbops.drift.locate import locate as find_sources
    from dbops.drift.ops import upgrade_code

    located = find_sources(metadata) if locate and (kept or ignored) else {}
    items = tuple(_item(v, located) for v in kept)
    report = DriftReport(
        command="check-drift",
        database=mask(live_url) if live_url is not None else None,
        target=config.target,
        against=against,
        dialect=dialect.name,
        clean=not any(i.verdict in FAILING and i.severity == "error" for i in items),
        live_revisions=live.heads if live is not None else None,
        head_revisions=head_ids,
        scratch_database=scratch_label,
        replay_cache=replay_cache,
        items=items,
        ignored=tuple(_item(v, located) for v in ignored),
        upgrade_code=upgrade_code([v for v in kept if v.verdict in ("missing_migration", "drift")], metadata)
        if suggest else None,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    if not report.clean:
        raise DriftDetected(_summary(report), hint=_hint(report), report=report)
    return report


@dataclass(frozen=True)
class _Graph:
    """The chain read from the revision files' text (no revision module imported)."""

    paths: dict[str, str]  # revision -> file
    heads: tuple[str, ...]

    @property
    def revisions(self) -> set[str]:
        return set(self.paths)

    def checksums(self) -> dict[str, str]:
        from dbops.safety.checksum import file_checksum

        return {rev: file_checksum(path) or "" for rev, path in self.paths.items()}


def _static_graph(config: Config) -> _Graph | None:
    """None when a file cannot be read as text or the chain is incomplete: Alembic then loads the files
    (and says what is wrong with them)."""
    from dbops.lint.check import revision_heads

    found = revision_heads(config)
    return _Graph(*found) if found is not None else None


def _read_cache_in_place(config: Config, cache_url: URL, schemas: tuple[str | None, ...], metadata: Any,
                         entities: list[Any]) -> tuple[_Live, tuple[Any, Any]] | None:
    """A cache that holds the whole chain is what a replay would build: read it where it is (no clone, no
    replay). None when it cannot be read (dropped meanwhile, in use): the caller clones or replays."""
    try:
        scratch = _read(cache_url, config, schemas, with_heads=False, metadata=metadata, entities=entities)
        hooks = _env_filters(config, cache_url)
    except Exception as exc:  # noqa: BLE001  best effort, like the cache itself
        import logging

        logging.getLogger("dbops.drift").debug("replay cache not readable in place: %s", exc)
        return None
    return scratch, hooks


def _item(v: Verdict, located: dict[tuple[str | None, str, str | None], tuple[str, int]]) -> DriftItem:
    d = v.diff
    where = None
    if d.table is not None:
        where = located.get((d.schema, d.table, d.name)) or located.get((d.schema, d.table, None))
    return DriftItem(
        verdict=v.verdict, kind=d.kind, change=d.change, schema=d.schema, table=d.table, name=d.name,
        detail=d.detail, expected=d.expected, actual=d.actual,
        file=where[0] if where else None, line=where[1] if where else None, severity=d.severity,
    )


_MEANING = {
    "missing_migration": "the models differ from what the migrations build: usually a model changed without "
                         "a revision",
    "out_of_band": "the live database differs from what its recorded revision builds: usually a manual change "
                   "or a migration edited after it ran",
    "drift": "the models differ from the live database",
}


def _summary(report: DriftReport) -> str:
    counts: dict[str, int] = {}
    for item in report.items:
        if item.verdict in FAILING and item.severity == "error":
            counts[item.verdict] = counts.get(item.verdict, 0) + 1
    parts = [f"{n} {verdict} ({_MEANING[verdict]})" for verdict, n in counts.items()]
    return f"Drift found: {'; '.join(parts)}."


def _hint(report: DriftReport) -> str:
    verdicts = {i.verdict for i in report.items}
    steps = []
    if "missing_migration" in verdicts or "drift" in verdicts:
        steps.append("dbops revision --autogenerate -m '...' (then review it)")
    if "out_of_band" in verdicts:
        if report.live_revisions == ():
            steps.append("this database records no revision; if it was built without migrations and matches "
                         "the models, adopt it with: dbops stamp head")
        else:
            steps.append("find who changed the database by hand, then revert the change or capture it in a "
                         "revision")
    return "Run: " + "; or ".join(steps) if steps else ""
