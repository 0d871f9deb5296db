"""dbops squash's proof: replay into scratch databases, read their catalogs (fingerprint, row counts and,
for the chain, the rendered statements), and compare the chain's database with the baseline's,
including the baseline's downgrade() back to an empty schema."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from dbops.bridge.env_settings import not_app_tables
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.scratch import scratch_database
from dbops.db.url import parse_url
from dbops.errors import ConfigError, ScratchFailed
from dbops.reports import SquashProof
from dbops.squash import fingerprint
from dbops.squash.catalog import Statement
from dbops.squash.render import summary

PURPOSE = "dbops squash replays the chain and the baseline into temporary databases it creates"


@dataclass
class Built:
    fingerprint: fingerprint.Fingerprint
    rows: dict[str, int]
    dialect: str
    up: list[Statement] | None = None
    down: list[Statement] | None = None


def server_of(config: Config, scratch_url: str | None) -> URL | None:
    if scratch_url:
        return parse_url(scratch_url)
    return None if config.uses_default_database else parse_url(config.url)


def servers(config: Config, scratch_url: str | None, also_on: tuple[str, ...]) -> list[URL | None]:
    """Where to replay and prove: the configured database's server (or --scratch-url), then each
    --also-on (a URL, or a bare "sqlite" for temporary files); one per kind of database."""
    servers: list[URL | None] = [server_of(config, scratch_url)]
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


def replay(config: Config, url: URL, revision: str, version_dir: Path | None, what: str,
            downgrade: bool = False) -> None:
    from dbops.errors import MigrationFailed, VersionsOverridden, WrongDatabase
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
    except VersionsOverridden as exc:
        if version_dir is None:
            raise
        raise VersionsOverridden(
            f"dbops squash replays {what} from a directory of its own, and the project's env.py points Alembic at "
            "its own revision directory at run time (context.script.version_locations = ...), so that replay would "
            "run the old chain instead and prove nothing; it was refused and nothing was written. " + exc.message,
            hint="Let env.py keep the directory it is given: context.script.version_locations = "
            "context.script.version_locations or [<the directory it picks now>] (dbops passes the one in "
            "dbops.toml; plain alembic, given none, keeps picking as before).",
        ) from exc
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


def _schema_of(conn: Connection) -> str | None:
    """PostgreSQL's current schema (what the migrations ran in); None elsewhere (the fingerprint and the
    renderers of SQLite and MariaDB read the connection's own database)."""
    from dbops.drift.reflect import default_schema_of

    return default_schema_of(conn) if conn.dialect.name == "postgresql" else None


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


def read(url: URL, config: Config, *, render: bool) -> Built:
    skip = _skip(config)
    # the version table's own schema is the environment's (env.py or the bootstrap makes it before any
    # revision can run): the baseline neither creates nor drops it
    schemas = frozenset({config.version_table_schema} if config.version_table_schema else ())

    def take(conn: Connection) -> Built:
        schema = _schema_of(conn)
        fp = fingerprint.read(conn, schema, skip, schemas)
        built = Built(fp, _row_counts(conn, fp), conn.dialect.name)
        if render:
            from dbops.squash import other, postgresql

            if conn.dialect.name == "postgresql":
                built.up, built.down = postgresql.render(conn, schema or "public", skip, schemas)
            elif conn.dialect.name == "sqlite":
                built.up, built.down = other.sqlite(conn, skip)
            else:
                built.up, built.down = other.mysql(conn, skip)
        return built

    return run_with_connection(url, take, connect_timeout=config.connect_timeout, application_name="dbops-squash")


def bootstrap_makes_tables(config: Config, server: URL | None) -> bool:
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
        made = read(url, config, render=False).fingerprint
    return any(key.startswith(("relation ", "table ")) for key in made)


def prove(config: Config, server: URL | None, revision: str, chain: Built, baseline_dir: Path | None,
           what: str, absorbed: bool = False) -> SquashProof:
    if absorbed:  # the baseline holds the tables the bootstrap made before the chain's first revision
        config = replace(config, bootstrap=None)
    with scratch_database(server, connect_timeout=config.connect_timeout, purpose=PURPOSE) as b_url:
        empty = read(b_url, config, render=False).fingerprint
        replay(config, b_url, revision, baseline_dir, what)
        built = read(b_url, config, render=False)
        differences = fingerprint.differences(chain.fingerprint, built.fingerprint)
        equivalent: set[str] = set()
        if differences and chain.dialect == "postgresql":
            equivalent = run_with_connection(
                b_url, lambda conn: fingerprint.round_trip_equal(conn, chain.fingerprint, built.fingerprint,
                                                                 _schema_of(conn)),
                connect_timeout=config.connect_timeout, application_name="dbops-squash")
            differences = fingerprint.differences(chain.fingerprint, built.fingerprint, same=equivalent)
        downgraded = False
        if not differences:
            replay(config, b_url, "base", baseline_dir, f"{what}'s downgrade", downgrade=True)
            after = read(b_url, config, render=False).fingerprint
            left = fingerprint.differences(empty, after)
            differences = [f"downgrade() of the baseline left: {d}" for d in left]
            downgraded = not left
    rows = [f"{t}: {chain.rows[t]} row(s) in the chain's database, {built.rows.get(t, 0)} in the baseline's"
            for t in sorted(chain.rows) if chain.rows[t] != built.rows.get(t, chain.rows[t])]
    return SquashProof(dialect=chain.dialect, server=_where(server), objects=summary(chain.up or []),
                       fingerprint_entries=len(chain.fingerprint), proven=not differences,
                       differences=tuple(differences), downgrade_proven=downgraded, row_differences=tuple(rows),
                       equivalent=tuple(sorted(equivalent)))


def unproven(proofs: tuple[SquashProof, ...]) -> str:
    several = len(proofs) > 1
    differences = [f"[{p.dialect}] {d}" if several else d for p in proofs for d in p.differences]
    n = len(differences)
    shown = "; ".join(differences[:5]) + (f"; and {n - 5} more" if n > 5 else "")
    return (f"The baseline does not rebuild the chain's schema: {n} catalog difference(s) between a database "
            f"built by the chain and one built by the baseline: {shown}.")
