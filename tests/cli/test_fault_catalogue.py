"""The fault catalogue, a row per fault (dbops/faults.py and the errors raised where each fault is
met): exit code, the first line of the message, no traceback, nothing written, one JSON object with
the error's kind, and never "probably a dbops bug" (reserved for real bugs)."""
from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import dbops_app, schema_of

GOOD = [("0001", None, "items", "    op.create_table('items', sa.Column('id', sa.Integer, primary_key=True))",
         "    op.drop_table('items')")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Row:
    """``make(tmp_path, pg_url) -> (app directory, URL, extra args)``; ``first`` is the start of the
    message's first line (the driver's own words, when quoted, follow it)."""

    name: str
    make: Callable[[Path, str], tuple[Path, str, list[str]]]
    kind: str
    first: str
    exit_code: int = 1
    postgres: bool = False
    mariadb: bool = False


def _project(revisions: list[tuple[str, str | None, str, str, str]], url: str | None = None,
             edit: Callable[[Path], None] | None = None) -> Callable[[Path, str], tuple[Path, str, list[str]]]:
    def make(tmp: Path, pg_url: str) -> tuple[Path, str, list[str]]:
        app = dbops_app(tmp, "app", revisions)
        if edit:
            edit(app)
        return app, (url or "sqlite:///{tmp}/app.db").format(tmp=tmp, pg=pg_url), []
    return make


def _url(url: str) -> Callable[[Path, str], tuple[Path, str, list[str]]]:
    return _project(GOOD, url)


def _stamped_unknown(tmp: Path, pg_url: str) -> tuple[Path, str, list[str]]:
    app = dbops_app(tmp, "app", GOOD)
    engine = sa.create_engine(f"sqlite:///{tmp}/app.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('f00dcafe')")
    engine.dispose()
    return app, f"sqlite:///{tmp}/app.db", []


def _write(name: str, text: str) -> Callable[[Path], None]:
    def edit(app: Path) -> None:
        (app / "migrations" / "versions" / name).write_text(text)
    return edit


DUPLICATE = '"""again"""\nrevision = "0001"\ndown_revision = None\n\ndef upgrade():\n    pass\n\n' \
    'def downgrade():\n    pass\n'
ORPHAN = '"""orphan"""\nrevision = "0002"\ndown_revision = "0bad"\n\ndef upgrade():\n    pass\n\n' \
    'def downgrade():\n    pass\n'
BROKEN = '"""broken"""\nimport no_such_module_anywhere\nrevision = "0002"\ndown_revision = "0001"\n'
SLOW = [("0001", None, "slow", "    op.execute('CREATE TABLE t (id int)')\n    op.execute('SELECT pg_sleep(3)')",
         "    op.execute('DROP TABLE t')")]
FULL = [("0001", None, "fill", "    op.execute('PRAGMA max_page_count = 40')\n"
         "    op.execute('CREATE TABLE filler (body text)')\n"
         "    op.execute('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
         "INSERT INTO filler SELECT hex(randomblob(100)) FROM n')", "    pass")]
BIG = [("0001", None, "big", "    op.execute(\"INSERT INTO blobs VALUES (1, '\" + 'x' * 17_000_000 + \"')\")",
        "    pass")]

ROWS = [
    Row("malformed_url", _url("postgres//user:pw@host/db"), "config_error",
        "The database URL is malformed (scheme '(none)'); it must look like postgresql+psycopg://user@localhost:5432/app."),
    Row("unknown_driver", _url("oracle+nope://u:pw@h/d"), "config_error",
        "Unknown database driver 'oracle+nope' in oracle+nope://u:***@h/d."),
    Row("bad_port", _url("postgresql+psycopg://u:pw@127.0.0.1:54x2/db"), "config_error",
        "The database URL is malformed (its port is not a number; scheme 'postgresql+psycopg'); it must look like "
        "postgresql+psycopg://user@localhost:5432/app. This usually means a typo in the host:port part"),
    Row("connection_refused", lambda tmp, pg: _url(f"postgresql+psycopg://u:pw@127.0.0.1:{_free_port()}/db")(tmp, pg),
        "connection_failed", "Could not connect to postgresql+psycopg://u:***@127.0.0.1:"),
    Row("dns", _url("postgresql+psycopg://u:pw@db.example.invalid/db"), "connection_failed",
        "Could not connect to postgresql+psycopg://u:***@db.example.invalid/db: the host name could not be resolved. "
        "This usually means the host in the URL is misspelt or only resolvable inside another network. Driver said: "),
    Row("tls_required", _url("postgresql+psycopg://postgres@127.0.0.1:5432/postgres?sslmode=require"),
        "connection_failed",
        "Could not connect to postgresql+psycopg://postgres@127.0.0.1:5432/postgres?sslmode=require: "
        "the TLS (SSL) handshake failed.", postgres=True),
    Row("no_such_database", _url("postgresql+psycopg://postgres@127.0.0.1:5432/dbops_no_such_database"),
        "connection_failed",
        "Could not connect to postgresql+psycopg://postgres@127.0.0.1:5432/dbops_no_such_database: "
        "the database does not exist.", postgres=True),
    Row("unknown_recorded_revision", _stamped_unknown, "revision_error",
        "The database is at revision f00dcafe, which is not among the revision files in "),
    Row("duplicate_revision_id", _project(GOOD, edit=_write("0001_again.py", DUPLICATE)), "revision_error",
        "Revision id 0001 is in 2 files (0001.py, 0001_again.py); each revision needs an id of its own."),
    Row("missing_down_revision", _project(GOOD, edit=_write("0002.py", ORPHAN)), "revision_error",
        "Revision 0002 (0002.py) names down_revision 0bad, which is in no revision file."),
    Row("revision_import_error", _project(GOOD, edit=_write("0002.py", BROKEN)), "revision_error",
        "Revision file "),
    Row("disk_full", _project(FULL), "migration_failed",
        "Revision 0001 (fill) ran out of disk space (the database could not grow its files) "
        "((sqlite3.OperationalError) database or disk is full)."),
    Row("statement_timeout", lambda tmp, pg: (_project(SLOW, "{pg}")(tmp, pg)[0], pg, ["--statement-timeout", "1"]),
        "migration_failed", "Revision 0001 (slow) ran a statement longer than the statement timeout, and the server "
        "canceled it ((psycopg.errors.QueryCanceled) canceling statement due to statement timeout).", postgres=True),
    Row("packet_too_large", _project(BIG, "mysql+pymysql://root@127.0.0.1:3306/{{tmp_db}}"), "migration_failed",
        "Revision 0001 (big) sent a statement larger than the server's max_allowed_packet", mariadb=True),
    Row("option_typo", lambda tmp, pg: (dbops_app(tmp, "app", GOOD), f"sqlite:///{tmp}/app.db", ["--sqll"]),
        "usage", "Error: No such option '--sqll'.", exit_code=2),
]


@pytest.fixture
def mariadb_db() -> str:
    import uuid

    import pymysql

    name = f"dbops_fault_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"CREATE TABLE `{name}`.blobs (id int primary key, body longtext)")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def _state(url: str) -> object:
    """Tables and recorded version (an empty version table reads as none recorded)."""
    try:
        schema = schema_of(url)
    except sa.exc.SQLAlchemyError:
        return None  # nothing to read there (no server, no such database)
    return schema["tables"], schema["indexes"], schema["version"] or None


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_fault(row: Row, invoke: Callable[..., Result], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pg_url = ""
    if row.postgres:
        request.applymarker(pytest.mark.postgres)
        pg_url = request.getfixturevalue("pg_psycopg_url")
    app, url, extra = row.make(tmp_path, pg_url)
    if row.mariadb:
        request.applymarker(pytest.mark.mariadb)
        url = url.format(tmp_db=request.getfixturevalue("mariadb_db"))
    sqlite_file = tmp_path / "app.db"
    existed = sqlite_file.exists()
    before = _state(url) if row.exit_code == 1 and "://" in url and row.kind != "config_error" else None

    text = invoke("upgrade", *extra, "--database-url", url, cwd=app)
    assert text.exit_code == row.exit_code, text.stderr
    first = text.stderr.splitlines()[0] if text.stderr else ""
    if row.name == "revision_import_error":
        assert "0002.py raised ModuleNotFoundError: No module named 'no_such_module_anywhere' at line 2" in first
    if row.exit_code == 2:
        assert row.first in text.stderr
    else:
        assert first.startswith("Error: " + row.first), first
    output = text.stdout + text.stderr
    assert "Traceback" not in output
    assert "probably a dbops bug" not in output.lower()
    assert "pw@" not in output  # the URL's password never shows

    if row.exit_code == 1:
        as_json = invoke("upgrade", *extra, "--database-url", url, "--format", "json", cwd=app)
        assert as_json.exit_code == 1
        error = json.loads(as_json.stdout)["error"]
        assert error["kind"] == row.kind
        assert error["message"].startswith(row.first)
        assert error["hint"]
    if not existed and row.kind in ("config_error", "connection_failed"):
        assert not sqlite_file.exists()  # nothing created
    if before is not None:
        assert _state(url) == before, "the failed run changed the database"
