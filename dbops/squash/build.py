"""dbops squash: replay the chain, render a baseline from the catalog, prove it, then rewrite the files.

1. Replay base..REV into scratch database A (the project's own env.py, as check-drift does).
2. Render the baseline from A's catalog (postgresql.py / other.py) into a file in a temporary version
   directory; replay it into scratch database B; compare the fingerprints of A and B
   (fingerprint.py), run the baseline's downgrade() on B and check the schema is empty again.
3. Only then write: the baseline replaces REV's file (same revision id, no parent, so every database at
   REV or later continues), the squashed files move to the archive (or are deleted), and squash.json
   records them. Nothing is written when the proof fails (exit 3) or with --dry-run.

``check`` re-proves an existing baseline against the archived chain (or any directory of the old
revision files), e.g. in CI or after editing the baseline by hand.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from dbops.bridge.env_settings import not_app_tables
from dbops.bridge.project import database_heads, find_revision, load_scripts
from dbops.bridge.squashed import Archive, SquashedRevision, archives, default_root
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.scratch import scratch_database
from dbops.db.url import parse_url
from dbops.errors import ConfigError, DbopsError, RevisionError, ScratchFailed, SquashUnproven
from dbops.reports import SquashDatabase, SquashDataRevision, SquashProof, SquashReport
from dbops.squash import fingerprint
from dbops.squash.catalog import Statement
from dbops.squash.data import data_steps, kept_function
from dbops.squash.render import baseline_module, summary

PURPOSE = "dbops squash replays the chain and the baseline into temporary databases it creates"


@dataclass
class _Built:
    fingerprint: fingerprint.Fingerprint
    rows: dict[str, int]
    dialect: str
    up: list[Statement] | None = None
    down: list[Statement] | None = None


def _server(config: Config, scratch_url: str | None) -> URL | None:
    if scratch_url:
        return parse_url(scratch_url)
    return None if config.uses_default_database else parse_url(config.url)


def _servers(config: Config, scratch_url: str | None, also_on: tuple[str, ...]) -> list[URL | None]:
    """Where to replay and prove: the configured database's server (or --scratch-url), then each
    --also-on (a URL, or a bare "sqlite" for temporary files); one per kind of database."""
    servers: list[URL | None] = [_server(config, scratch_url)]
    for value in also_on:
        servers.append(None if value.strip().lower() == "sqlite" else parse_url(value))
    seen: set[str] = set()
    for server in servers:
        name = _dialect_name(server)
        if name in seen:
            raise ConfigError(f"--also-on names a second {name} database; the baseline holds one DDL per kind of "
                              "database.", hint="Name each other kind once: --also-on sqlite, --also-on "
                              "mysql+pymysql://root@db/app, ...")
        seen.add(name)
    return servers


def _dialect_name(server: URL | None) -> str:
    """The kind of database (MySQL and MariaDB are one kind: the same DDL)."""
    name = "sqlite" if server is None else str(server.get_dialect().name)
    return "mysql" if name == "mariadb" else name


def _where(server: URL | None) -> str:
    from dbops.db.url import mask

    return "temporary SQLite files" if server is None or server.get_backend_name() == "sqlite" else mask(server)


def _replay(config: Config, url: URL, revision: str, version_dir: Path | None, what: str,
            downgrade: bool = False) -> None:
    from dbops.errors import MigrationFailed, WrongDatabase
    from dbops.migrate.replay import replay

    try:
        own = replay(config, url, revision, version_dir=version_dir, downgrade=downgrade)
        if own:  # a tenant loop: the baseline would name those schemas literally
            raise ConfigError(
                f"The project's env.py migrated schemas of its own choosing ({', '.join(own)}) when dbops "
                "squash replayed the chain, so a baseline rendered from them would name those schemas "
                "literally and build them for every tenant; nothing was written.",
                hint="Squash a chain whose objects live in the schema env.py is given (the core chain), or "
                "declare the tenants as a dbops group and use dbops's env.")
    except WrongDatabase as exc:
        raise WrongDatabase(
            f"dbops squash replays {what} into a scratch database it creates, and the project's env.py connected "
            "elsewhere, so the replay was refused and nothing was written. " + exc.message,
            hint="Let env.py prefer the URL dbops passes: url = config.get_main_option('sqlalchemy.url') or "
            "<the app's URL> (plain alembic keeps working: alembic.ini's URL is then used as before).",
        ) from exc
    except MigrationFailed as exc:
        hint = ("The chain must build from an empty database (dbops check-drift --against migrations tries the "
                "same); fix the revision, then squash again." if "baseline" not in what else
                "A baseline that does not build is never written. With --keep-data, the data steps dbops copied "
                "may need more of that revision's upgrade() than it could separate from its DDL (a helper that "
                "does both): squash without --keep-data and add those rows in a new revision by hand.")
        raise ScratchFailed(
            f"dbops squash replays {what} into a scratch database it creates, and that failed, so nothing was "
            f"written: {exc.message.split(' The version table ')[0]}", hint=hint,
        ) from exc


def _skip(config: Config) -> set[str]:
    return not_app_tables(config.version_table)


def _default_schema(conn: Connection) -> str | None:
    return str(conn.execute(text("SELECT current_schema()")).scalar_one()) if conn.dialect.name == "postgresql" \
        else None


def _row_counts(conn: Connection, fp: fingerprint.Fingerprint) -> dict[str, int]:
    prep = conn.dialect.identifier_preparer
    out = {}
    for key, value in fp.items():
        kind, name = key.split(" ", 1)
        attrs = dict(value)
        if conn.dialect.name == "postgresql":
            if kind != "relation" or attrs.get("kind") not in ("r", "p"):
                continue
            schema, table = name.split(".", 1)
            quoted = f"{prep.quote(schema)}.{prep.quote(table)}"
        elif kind == "table" and (conn.dialect.name == "sqlite" or attrs.get("type") == "BASE TABLE"):
            quoted = prep.quote(name)
        else:
            continue
        out[name] = int(conn.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one())
    conn.rollback()
    return out


def _read(url: URL, config: Config, *, render: bool) -> _Built:
    skip = _skip(config)
    # the version table's own schema is the environment's (env.py or the bootstrap makes it before any
    # revision can run): the baseline neither creates nor drops it
    schemas = frozenset({config.version_table_schema} if config.version_table_schema else ())

    def read(conn: Connection) -> _Built:
        schema = _default_schema(conn)
        fp = fingerprint.read(conn, schema, skip, schemas)
        built = _Built(fp, _row_counts(conn, fp), conn.dialect.name)
        if render:
            from dbops.squash import other, postgresql

            if conn.dialect.name == "postgresql":
                built.up, built.down = postgresql.render(conn, schema or "public", skip, schemas)
            elif conn.dialect.name == "sqlite":
                built.up, built.down = other.sqlite(conn, skip)
            else:
                built.up, built.down = other.mysql(conn, skip)
        return built

    return run_with_connection(url, read, connect_timeout=config.connect_timeout, application_name="dbops-squash")


def _bootstrap_makes_tables(config: Config, server: URL | None) -> bool:
    """Whether the configured bootstrap creates tables (mlflow's initial tables, made with create_all before
    its first revision): those are part of the schema the baseline renders, so the baseline replaces the
    bootstrap. One that makes only schemas, extensions or roles is the environment's and keeps running."""
    if not config.bootstrap:
        return False
    from dbops.bridge.project import import_attr

    fn = import_attr(config.bootstrap, config.root, "bootstrap", "app.db:bootstrap")

    def run(conn: Connection) -> None:
        fn(conn)
        if conn.in_transaction():
            conn.commit()

    with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as url:
        run_with_connection(url, run, connect_timeout=config.connect_timeout, application_name="dbops-squash")
        made = _read(url, config, render=False).fingerprint
    return any(key.startswith(("relation ", "table ")) for key in made)


def _prove(config: Config, server: URL | None, revision: str, chain: _Built, baseline_dir: Path | None,
           what: str, absorbed: bool = False) -> SquashProof:
    if absorbed:  # the baseline holds the tables the bootstrap made before the chain's first revision
        config = replace(config, bootstrap=None)
    with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as b_url:
        empty = _read(b_url, config, render=False).fingerprint
        _replay(config, b_url, revision, baseline_dir, what)
        built = _read(b_url, config, render=False)
        differences = fingerprint.differences(chain.fingerprint, built.fingerprint)
        equivalent: set[str] = set()
        if differences and chain.dialect == "postgresql":
            equivalent = run_with_connection(
                b_url, lambda conn: fingerprint.round_trip_equal(conn, chain.fingerprint, built.fingerprint,
                                                                 _default_schema(conn)),
                connect_timeout=config.connect_timeout, application_name="dbops-squash")
            differences = fingerprint.differences(chain.fingerprint, built.fingerprint, same=equivalent)
        downgraded = False
        if not differences:
            _replay(config, b_url, "base", baseline_dir, f"{what}'s downgrade", downgrade=True)
            after = _read(b_url, config, render=False).fingerprint
            left = fingerprint.differences(empty, after)
            differences = [f"downgrade() of the baseline left: {d}" for d in left]
            downgraded = not left
    rows = [f"{t}: {chain.rows[t]} row(s) in the chain's database, {built.rows.get(t, 0)} in the baseline's"
            for t in sorted(chain.rows) if chain.rows[t] != built.rows.get(t, chain.rows[t])]
    return SquashProof(dialect=chain.dialect, server=_where(server), objects=summary(chain.up or []),
                       fingerprint_entries=len(chain.fingerprint), proven=not differences,
                       differences=tuple(differences), downgrade_proven=downgraded, row_differences=tuple(rows),
                       equivalent=tuple(sorted(equivalent)))


def _range(script: Any, revision: str) -> list[Any]:
    """The revisions squashed into ``revision``: it and all its ancestors, base first."""
    return list(reversed(list(script.iterate_revisions(revision, "base"))))


def _outside_dependents(script: Any, squashed: set[str], revision: str) -> list[str]:
    out = []
    for rev in script.walk_revisions():
        if rev.revision in squashed:
            continue
        parents = set(rev._all_down_revisions) | set(getattr(rev, "_resolved_dependencies", ()) or ())
        bad = sorted((parents & squashed) - {revision})
        if bad:
            out.append(f"{rev.revision} (on {', '.join(bad)})")
    return out


def _databases(config: Config, script: Any, squashed: set[str], revision: str) -> tuple[SquashDatabase, ...]:
    if config.uses_default_database:
        return ()
    try:
        heads = run_with_connection(parse_url(config.url), lambda c: database_heads(c, config),
                                    connect_timeout=config.connect_timeout, application_name="dbops-squash")
    except DbopsError as exc:
        return (SquashDatabase(config.masked_url, (), "unreachable", f"not checked: {exc.message.split('. ')[0]}"),)
    if not heads:
        return (SquashDatabase(config.masked_url, (), "base", "empty: the baseline builds it"),)
    behind = [h for h in heads if h in squashed and h != revision]
    if behind:
        return (SquashDatabase(config.masked_url, heads, "behind",
                               f"upgrade it to {revision} with the old chain first (dbops upgrade {revision} on the "
                               "code before the squash); after the squash its revision has no file here"),)
    known = all(find_revision(script, h) is not None for h in heads)
    return (SquashDatabase(config.masked_url, heads, "continues" if known else "unknown",
                           "nothing to do: it continues from the baseline" if known else
                           "its revision is not in this chain (another branch or a newer release)"),)


def _shown(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return path


def _data(squashed: list[Any], keep: set[str], root: Path) -> tuple[list[SquashDataRevision], list[str]]:
    found, kept = [], []
    for rev in squashed:
        steps = data_steps(rev.path)
        if not steps:
            continue
        keeping = rev.revision in keep
        found.append(SquashDataRevision(rev.revision, _shown(rev.path, root),
                                        tuple(f"line {s.line}: {s.what}" for s in steps), keeping))
        if keeping:
            kept.append(kept_function(rev.path, rev.revision, steps))
    return found, kept


def _resolve(script: Any, up_to: str | None) -> Any:
    heads = script.get_heads()
    if up_to is None:
        if len(heads) != 1:
            raise RevisionError(f"There are {len(heads)} heads ({', '.join(sorted(heads))}), so which one to squash "
                                "up to is ambiguous.", hint="Name it: dbops squash --up-to REV (or merge first).")
        up_to = heads[0]
    try:
        rev = script.get_revision(up_to)
    except Exception as exc:
        raise RevisionError(f"--up-to {up_to!r} names no revision of this chain: {exc}",
                            hint="See the revisions with: dbops history") from exc
    if rev is None:
        raise RevisionError(f"--up-to {up_to!r} names no revision.", hint="See the revisions with: dbops history")
    return rev


def _version_dirs(script: Any) -> list[Path]:
    return [Path(d).resolve() for d in script._version_locations]


def squash(config: Config, up_to: str | None = None, *, message: str | None = None, archive: str | None = None,
           delete: bool = False, keep_data: tuple[str, ...] = (), dry_run: bool = False,
           scratch_url: str | None = None, also_on: tuple[str, ...] = ()) -> SquashReport:
    started = time.perf_counter()
    script = load_scripts(config)
    target = _resolve(script, up_to)
    revision = target.revision
    squashed = _range(script, revision)
    ids = {r.revision for r in squashed}
    if len(squashed) < 2:
        raise RevisionError(f"{revision} has no ancestors, so there is nothing to squash into it.",
                            hint="Name a later revision: dbops squash --up-to REV")
    outside = _outside_dependents(script, ids, revision)
    if outside:
        raise RevisionError(
            f"Revisions after the squashed range depend on revisions inside it other than {revision}: "
            f"{', '.join(outside)}. They would lose their parent when the range becomes one baseline.",
            hint="Merge those branches first (dbops merge heads) or squash up to a revision every later one "
            "descends from.")
    unknown_keep = sorted(set(keep_data) - ids)
    if unknown_keep:
        raise ConfigError(f"--keep-data names revision(s) outside the squashed range: {', '.join(unknown_keep)}.",
                          hint="Name revisions from dbops history that are at or before --up-to.")
    archive_dir = Path(archive).resolve() if archive else default_root(config.script_location).resolve() / revision
    dirs = _version_dirs(script)
    if any(archive_dir == d or d in archive_dir.parents for d in dirs):
        raise ConfigError(f"The archive directory {archive_dir} is inside a version location, where Alembic would "
                          "load the squashed revisions again.", hint="Choose another: --archive DIR")
    if (archive_dir / "squash.json").exists():
        raise ConfigError(f"{archive_dir} already holds a squash archive.", hint="Choose another: --archive DIR")
    servers = _servers(config, scratch_url, also_on)
    absorbed = _bootstrap_makes_tables(config, servers[0])

    data_revisions, kept = _data(squashed, set(keep_data), config.root)
    chains: list[tuple[URL | None, _Built]] = []
    for server in servers:
        with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as a_url:
            _replay(config, a_url, revision, None, "the chain")
            chains.append((server, _read(a_url, config, render=True)))
    baseline_path = Path(target.path)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        archive_label = os.path.relpath(archive_dir, config.root)
    except ValueError:
        archive_label = str(archive_dir)
    source = baseline_module(
        revision=revision, branch_labels=tuple(target.branch_labels or ()),
        message=(message or f"baseline: {len(squashed)} revisions squashed").replace('"""', "'''"),
        statements={chain.dialect: (chain.up or [], chain.down or []) for _, chain in chains},
        squashed=[r.revision for r in squashed], archive=archive_label, kept_data=kept, created=created)
    with tempfile.TemporaryDirectory(prefix="dbops_squash_") as tmp:
        (Path(tmp) / baseline_path.name).write_text(source, encoding="utf-8")
        proofs = tuple(_prove(config, server, revision, chain, Path(tmp), "the rendered baseline", absorbed)
                       for server, chain in chains)
    report = SquashReport(
        command="squash", mode="dry_run" if dry_run else "squash", revision=revision,
        squashed=tuple(r.revision for r in squashed), baseline_file=str(baseline_path),
        archive=None if dry_run else str(archive_dir), proofs=proofs, proven=all(p.proven for p in proofs),
        data_revisions=tuple(data_revisions), databases=_databases(config, script, ids, revision), written=False,
        duration_ms=round((time.perf_counter() - started) * 1000, 1), notes=_notes(config) if absorbed else ())
    if not report.proven:
        raise SquashUnproven(_unproven(proofs), hint="Nothing was written. Keep the chain, or tell the team what "
                             "dbops cannot render (docs/squash.md lists what it covers).", report=report)
    if dry_run:
        return report
    _write(squashed, target, archive_dir, source, delete, tuple(p.dialect for p in proofs), created,
           config.bootstrap if absorbed else None)
    return replace(report, written=True, duration_ms=round((time.perf_counter() - started) * 1000, 1))


def _notes(config: Config) -> tuple[str, ...]:
    if not config.bootstrap:
        return ()
    return (f"The chain relied on bootstrap = {config.bootstrap!r} before its first revision; the baseline holds "
            "what it made and was proved without it. Remove the bootstrap setting (or keep in it only what is "
            "not schema, made idempotently), or a new database would get it twice; squash.json records it for "
            "dbops squash --check, which replays the old chain with it.",)


def _unproven(proofs: tuple[SquashProof, ...]) -> str:
    several = len(proofs) > 1
    differences = [f"[{p.dialect}] {d}" if several else d for p in proofs for d in p.differences]
    n = len(differences)
    shown = "; ".join(differences[:5]) + (f"; and {n - 5} more" if n > 5 else "")
    return (f"The baseline does not rebuild the chain's schema: {n} catalog difference(s) between a database "
            f"built by the chain and one built by the baseline: {shown}.")


def _write(squashed: list[Any], target: Any, archive_dir: Path, source: str, delete: bool,
           dialects: tuple[str, ...], created: str, bootstrap: str | None) -> None:
    """Archive first (copies and squash.json), then replace REV's file, then remove the originals: an
    interruption leaves either the old chain untouched or the baseline with its archive complete."""
    from dbops.safety.checksum import file_checksum

    entries = tuple(SquashedRevision(r.revision, tuple(r._all_down_revisions), r.doc, Path(r.path).name,
                                     file_checksum(r.path)) for r in squashed)
    archive_dir.mkdir(parents=True, exist_ok=False)
    try:
        if not delete:
            for rev in squashed:
                shutil.copy2(rev.path, archive_dir / Path(rev.path).name)
        Archive(archive_dir, target.revision, file_checksum(target.path), created, dialects, entries,
                files_kept=not delete, bootstrap=bootstrap).write()
    except OSError:
        shutil.rmtree(archive_dir, ignore_errors=True)
        raise
    baseline = Path(target.path)
    tmp = baseline.with_name(f".{baseline.name}.dbops-squash")
    tmp.write_text(source, encoding="utf-8")
    os.replace(tmp, baseline)
    for rev in squashed:
        if Path(rev.path) != baseline:
            Path(rev.path).unlink()


def check(config: Config, *, old_chain: str | None = None, scratch_url: str | None = None,
          also_on: tuple[str, ...] = ()) -> SquashReport:
    """Re-prove the chain's baseline: replay the archived (or ``old_chain``) revisions and the current
    chain up to the baseline's revision, compare; SquashUnproven (exit 3) with each difference."""
    started = time.perf_counter()
    script = load_scripts(config)
    if old_chain:
        chain_dir = Path(old_chain).resolve()
        roots = [r.revision for r in script.walk_revisions() if not r._all_down_revisions]
        if len(roots) != 1:
            raise RevisionError(f"The chain has {len(roots)} roots; --old-chain proves one baseline.",
                                hint="Use the archive of each squash (dbops squash --check without --old-chain).")
        revision = roots[0]
        squashed_ids: tuple[str, ...] = ()
        old_config = config
    else:
        found = archives(config.script_location)
        if not found:
            raise ConfigError(f"No squash archive under {default_root(config.script_location)}, so there is no old "
                              "chain to prove the baseline against.",
                              hint="Point at the old revision files: dbops squash --check --old-chain DIR")
        last = found[-1]
        if not last.files_kept:
            raise ConfigError(f"The squash archive {last.directory} kept no files (--delete), so the old chain "
                              "cannot be replayed.", hint="Check out the old files and pass --old-chain DIR.")
        chain_dir, revision = last.directory, last.baseline
        squashed_ids = tuple(r.revision for r in last.revisions)
        old_config = replace(config, bootstrap=config.bootstrap or last.bootstrap)
    if not chain_dir.is_dir():
        raise ConfigError(f"{chain_dir} is not a directory.", hint="Pass the directory of the old revision files.")
    target = _resolve(script, revision)
    absorbed = old_config.bootstrap is not None and _bootstrap_makes_tables(old_config, _server(config, scratch_url))
    proofs = []
    for server in _servers(config, scratch_url, also_on):
        with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as a_url:
            _replay(old_config, a_url, revision, chain_dir, "the old chain")
            chain = _read(a_url, config, render=False)
        proofs.append(_prove(config, server, revision, chain, None, "the baseline", absorbed))
    report = SquashReport(
        command="squash", mode="check", revision=revision, squashed=squashed_ids, baseline_file=str(target.path),
        archive=str(chain_dir), proofs=tuple(proofs), proven=all(p.proven for p in proofs), data_revisions=(),
        databases=(), written=False, duration_ms=round((time.perf_counter() - started) * 1000, 1))
    if not report.proven:
        raise SquashUnproven(_unproven(report.proofs),
                             hint=f"Fix {target.path} until it builds what the old chain built; the differences "
                             "name each object and attribute.", report=report)
    return report
