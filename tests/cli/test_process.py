"""The real console script in a subprocess: start-up imports, passwords, init, plain alembic."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.helpers import REPO, schema_of

PASSWORD = "Tr0ub4dor-and-3"


def test_help_imports_only_click() -> None:
    code = (
        "import sys\nfrom dbops.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "for sub in ('upgrade','current','revision','init'):\n"
        "    try:\n        cli([sub, '--help'])\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('sqlalchemy','alembic','asyncpg','psycopg','sqlmodel','rich','aiosqlite','pymysql')"
        " if m in sys.modules]\nprint('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.postgres
def test_password_never_appears(pg_psycopg_url: str, tmp_path: Path) -> None:
    """Success and failure paths, table and JSON, -v: the password is in no output."""
    # trust auth ignores the password, so a URL with one connects fine
    good = pg_psycopg_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    bad_port = good.replace(":5432/", ":1/")
    runs = [
        run_cli("upgrade", "--database-url", good, "-v"),
        run_cli("current", "--database-url", good, "--format", "json"),
        run_cli("history", "--indicate-current", "--database-url", good, "-vv"),
        run_cli("upgrade", "--sql", "--database-url", good),
        run_cli("current", "--database-url", bad_port, "-v"),
        run_cli("current", "--database-url", bad_port, "--format", "json"),
        run_cli("upgrade", "nope", "--database-url", good, "-vv"),
        run_cli("current", env={"DATABASE_URL": good}),
        run_cli("current", "--database-url", good.replace("postgresql+psycopg", "postgresql+asyncpg"), "-vv"),
        run_cli("current", "--database-url", f"postgresql+psycopg://u:{PASSWORD}@[bad/x"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 1, 1, 1, 0, 0, 1]
    for r in runs:
        assert PASSWORD not in r.stdout, r.args
        assert PASSWORD not in r.stderr, r.args
    assert "postgres:***@" in runs[0].stdout
    assert "Traceback" in runs[4].stderr  # -v shows the traceback, still masked


def test_init_autogenerate_upgrade_on_a_fresh_app(tmp_path: Path) -> None:
    app = tmp_path / "myapp"
    (app / "notes").mkdir(parents=True)
    (app / "notes" / "__init__.py").write_text("")
    (app / "notes" / "models.py").write_text(
        "from sqlmodel import Field, SQLModel\n\n"
        "class Note(SQLModel, table=True):\n"
        "    id: int | None = Field(default=None, primary_key=True)\n"
        "    title: str\n"
        "    body: str | None = None\n"
    )
    init = run_cli("init", "--metadata", "notes.models:SQLModel.metadata", cwd=app)
    assert init.returncode == 0, init.stderr
    assert init.stdout.splitlines()[1:7] == [
        "  alembic.ini", "  dbops.toml", "  migrations/README", "  migrations/env.py",
        "  migrations/script.py.mako", "  migrations/versions/.gitkeep",
    ]
    again = run_cli("init", cwd=app)
    assert again.returncode == 1
    assert again.stderr.startswith(f"Error: {app.resolve() / 'dbops.toml'} already holds dbops's configuration; "
                                   "nothing was written.")

    rev = run_cli("revision", "--autogenerate", "-m", "initial schema", cwd=app)
    assert rev.returncode == 0, rev.stderr
    assert "add_table note" in rev.stdout
    generated = list((app / "migrations" / "versions").glob("*_initial_schema.py"))
    assert len(generated) == 1
    assert "sqlmodel.sql.sqltypes.AutoString()" in generated[0].read_text()  # runs as generated

    up = run_cli("upgrade", cwd=app)
    assert up.returncode == 0, up.stderr
    assert "base -> " in up.stdout
    assert schema_of(f"sqlite:///{app / 'dbops.sqlite'}")["tables"] == ["note"]


@pytest.mark.postgres
def test_init_app_on_postgresql_asyncpg(pg_asyncpg_url: str, tmp_path: Path) -> None:
    app = tmp_path / "pgapp"
    app.mkdir()
    (app / "models.py").write_text(
        "from sqlmodel import Field, SQLModel\n\n"
        "class Thing(SQLModel, table=True):\n"
        "    id: int | None = Field(default=None, primary_key=True)\n"
        "    name: str = Field(max_length=50, index=True)\n"
    )
    assert run_cli("init", "--metadata", "models:SQLModel.metadata", cwd=app).returncode == 0
    env = {"DATABASE_URL": pg_asyncpg_url}
    rev = run_cli("revision", "--autogenerate", "-m", "things", cwd=app, env=env)
    assert rev.returncode == 0, rev.stderr
    up = run_cli("upgrade", "--format", "json", cwd=app, env=env)
    assert up.returncode == 0, up.stderr
    assert schema_of(pg_asyncpg_url)["tables"] == ["thing"]


def test_plain_alembic_uses_the_same_env(tmp_path: Path) -> None:
    """`alembic upgrade head` with this repo's env.py reads the dbops configuration."""
    db = tmp_path / "plain.sqlite"
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run([str(alembic), "upgrade", "head"], cwd=REPO, capture_output=True, text=True,
                            env={**_clean_env(), **env})
    assert result.returncode == 0, result.stderr
    assert schema_of(f"sqlite:///{db}")["version"] == ["0002"]


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL")}


def test_plain_alembic_without_a_url_fails_with_one_line_instead_of_an_embedded_file(tmp_path: Path) -> None:
    import shutil

    app = tmp_path / "app"
    shutil.copytree(REPO / "migrations", app / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    (app / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")  # no logging sections either
    (app / "dbops.toml").write_text('metadata = "shop.models:metadata"\nscript_location = "migrations"\n')
    alembic = str(Path(sys.executable).with_name("alembic"))
    env = {**_clean_env(), "PYTHONPATH": str(REPO)}
    result = subprocess.run([alembic, "upgrade", "head"], cwd=app, capture_output=True, text=True, env=env)
    assert result.returncode != 0  # alembic's own convention for a CommandError: 255, "FAILED: ..." on stdout
    assert "FAILED: dbops's env.py found no database URL: set DATABASE_URL" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (app / "dbops.sqlite").exists()  # nothing written to a file nobody asked for
    db = tmp_path / "given.sqlite"
    ok = subprocess.run([alembic, "upgrade", "head"], cwd=app, capture_output=True, text=True,
                        env={**env, "DATABASE_URL": f"sqlite:///{db}"})
    assert ok.returncode == 0, ok.stderr  # an alembic.ini without [loggers]/[handlers]/[formatters] is fine
    assert schema_of(f"sqlite:///{db}")["version"] == ["0002"]


@pytest.mark.slow  # a dozen real processes (5 s): in the full suite, not the server-free tier
def test_faults_get_one_paragraph_and_the_documented_exit_code(tmp_path: Path) -> None:
    """A few faults that used to end as "Unexpected ... probably a dbops bug" or in a wrong exit code."""
    import json

    from tests.helpers import dbops_app

    bad_port = run_cli("current", "--database-url", "postgresql+psycopg://u:secret@localhost:99999x/db",
                       "--format", "json", cwd=tmp_path)
    assert bad_port.returncode == 1
    error = json.loads(bad_port.stdout)["error"]  # JSON on this path too
    assert error["kind"] == "config_error"
    assert error["message"].startswith("The database URL is malformed (its port is not a number")
    assert "secret" not in bad_port.stdout + bad_port.stderr and "Traceback" not in bad_port.stderr

    typo = run_cli("upgrade", "--sqll", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert typo.returncode == 2 and "No such option '--sqll'" in typo.stderr  # not read as a revision id

    # a database whose recorded revision has no file here: the same paragraph for every verb
    app = dbops_app(tmp_path, "gone", [("r1", None, "one", "    pass", "    pass")])
    db = f"sqlite:///{tmp_path / 'gone.db'}"
    assert run_cli("upgrade", "--database-url", db, cwd=app).returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "gone.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'gone123'")
    for verb in (("upgrade",), ("downgrade", "-1"), ("stamp", "head"), ("current",)):
        result = run_cli(*verb, "--database-url", db, "--format", "json", cwd=app)
        assert result.returncode == 1, (verb, result.stderr)
        message = json.loads(result.stdout)["error"]["message"]
        assert message.startswith("The database is at revision gone123, which is not among the revision files"), verb
    assert run_cli("stamp", "r1", "--purge", "--database-url", db, cwd=app).returncode == 0  # the way out

    # the revision graph diagnosed exactly: a duplicated id, a down_revision that names no file
    from tests.helpers import REVISION_TEMPLATE

    graph = dbops_app(tmp_path, "graph", [("r4", None, "four", "    pass", "    pass"),
                                          ("r5", "r4", "five", "    pass", "    pass")])
    copy = graph / "migrations" / "versions" / "r5_copy.py"
    copy.write_text(REVISION_TEMPLATE.format(doc="five again", rev="r5", down="r4", up="    pass",
                                             down_body="    pass"))
    dup = run_cli("heads", "--format", "json", cwd=graph)
    assert dup.returncode == 1 and "UserWarning" not in dup.stderr
    assert json.loads(dup.stdout)["error"]["message"].startswith(
        "Revision id r5 is in 2 files (r5.py, r5_copy.py); each revision needs an id of its own.")
    copy.write_text(REVISION_TEMPLATE.format(doc="six", rev="r6", down="r3x", up="    pass", down_body="    pass"))
    orphan = run_cli("upgrade", "--database-url", f"sqlite:///{tmp_path / 'g.db'}", cwd=graph)
    assert orphan.returncode == 1 and "KeyError" not in orphan.stderr
    assert orphan.stderr.startswith("Error: Revision r6 (r5_copy.py) names down_revision r3x, which is in no "
                                    "revision file.")

    copy.write_text('revision = "r6"\ndown_revision = "r5"\nimport os\nos.environ["NO_SUCH_SETTING"]\n')
    raising = run_cli("heads", cwd=graph)
    assert raising.returncode == 1
    assert raising.stderr.startswith(f"Error: Revision file {copy} raised KeyError: 'NO_SUCH_SETTING' at line 4")

    # history --applied says when it shows only the newest rows
    cut = run_cli("history", "--applied", "--limit", "1", "--database-url", db, cwd=app)
    assert cut.returncode == 0 and "The newest 1 of 2 rows; see them all with: dbops history --applied --all" \
        in cut.stdout
    every = json.loads(run_cli("history", "--applied", "--all", "--format", "json", "--database-url", db,
                               cwd=app).stdout)
    assert len(every["rows"]) == every["total"] == 2

    # a closed stdout (`dbops history | head -1`) with more output than a pipe holds: exit 0, no traceback
    revisions = [(f"r{i:04d}", f"r{i - 1:04d}" if i else None, f"revision number {i} " + "x" * 60, "    pass",
                  "    pass") for i in range(1200)]
    app = dbops_app(tmp_path, "long", revisions)
    exe = Path(sys.executable).with_name("dbops")
    proc = subprocess.Popen([str(exe), "history"], cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    err = proc.stderr.read().decode()
    assert "BrokenPipe" not in err and "Unexpected" not in err, err


@pytest.mark.postgres
def test_no_permission_to_create_the_audit_table_is_one_paragraph(pg_psycopg_url: str, tmp_path: Path) -> None:
    import json
    import uuid

    from tests.helpers import dbops_app, execute

    role = f"dbops_lowly_{uuid.uuid4().hex[:6]}"
    execute(pg_psycopg_url, f"CREATE ROLE {role} LOGIN", "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        app = dbops_app(tmp_path, "perm", [("r1", None, "one", "    op.execute('SELECT 1')", "    pass")])
        url = pg_psycopg_url.replace("postgres@", f"{role}@", 1)
        result = run_cli("upgrade", "--database-url", url, "--format", "json", cwd=app)
        assert result.returncode == 1, result.stdout + result.stderr
        message = json.loads(result.stdout)["error"]["message"]
        assert message.startswith("dbops could not create its audit table dbops_history (permission denied for "
                                  "schema public), so nothing was migrated.")
        assert "Traceback" not in result.stderr and "Unexpected" not in result.stderr
        assert execute(pg_psycopg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0] == [(0,)]
    finally:
        execute(pg_psycopg_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


@pytest.mark.slow  # a dozen real processes (5 s): in the full suite, not the server-free tier
def test_merge_and_branch_options(tmp_path: Path) -> None:
    import json

    from tests.helpers import dbops_app

    app = dbops_app(tmp_path, "branches", [("r1", None, "one", "    pass", "    pass"),
                                           ("r2a", "r1", "a", "    pass", "    pass"),
                                           ("r2b", "r1", "b", "    pass", "    pass")])
    (app / "migrations" / "script.py.mako").write_text((REPO / "migrations" / "script.py.mako").read_text())
    assert run_cli("heads", "--check", cwd=app).returncode == 3
    merged = run_cli("merge", "-m", "join", "--format", "json", cwd=app)
    assert merged.returncode == 0, merged.stderr
    report = json.loads(merged.stdout)
    assert report["command"] == "merge" and sorted(report["down_revisions"]) == ["r2a", "r2b"]
    assert run_cli("heads", "--check", cwd=app).returncode == 0
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert run_cli("upgrade", "--database-url", db, cwd=app).returncode == 0
    nothing = run_cli("merge", cwd=app)
    assert nothing.returncode == 1 and "There is nothing to merge" in nothing.stderr
    # a labelled branch from base, in a version directory of its own
    (app / "migrations" / "reports").mkdir()
    (app / "dbops.toml").write_text('script_location = "migrations"\n'
                                    'version_locations = ["migrations/versions", "migrations/reports"]\n')
    branch = run_cli("revision", "-m", "reports", "--head", "base", "--branch-label", "reports", "--version-path",
                     str(app / "migrations" / "reports"), "--rev-id", "rep1", "--format", "json", cwd=app)
    assert branch.returncode == 0, branch.stderr
    assert Path(json.loads(branch.stdout)["path"]).parent == app / "migrations" / "reports"
    assert run_cli("upgrade", "reports@head", "--database-url", db, cwd=app).returncode == 0
    # only the reports branch on a fresh database: every revision of the main branch is pending
    fresh = f"sqlite:///{tmp_path / 'c.db'}"
    assert run_cli("upgrade", "reports@head", "--database-url", fresh, cwd=app).returncode == 0
    status = json.loads(run_cli("current", "--database-url", fresh, "--format", "json", cwd=app).stdout)
    every = {r["revision"] for r in json.loads(run_cli("history", "--format", "json", cwd=app).stdout)["revisions"]}
    assert status["current"] == ["rep1"] and status["at_head"] is False
    assert {r["revision"] for r in status["pending"]} == every - {"rep1"}  # it said "0 pending"


@pytest.mark.postgres
def test_a_read_only_database_is_said_so(pg_psycopg_url: str, tmp_path: Path) -> None:
    """The write the database refused is the error (not the failed audit write that followed it)."""
    import json

    from tests.helpers import dbops_app, execute

    app = dbops_app(tmp_path, "ro", [("r1", None, "one", "    op.execute('CREATE TABLE a (id int)')", "    pass"),
                                     ("r2", "r1", "two", "    op.execute('CREATE TABLE b (id int)')", "    pass")])
    lite = tmp_path / "ro.db"
    assert run_cli("upgrade", "r1", "--database-url", f"sqlite:///{lite}", cwd=app).returncode == 0
    read_only = f"sqlite:///file:{lite}?mode=ro&uri=true"
    result = run_cli("upgrade", "--database-url", read_only, "--format", "json", cwd=app)
    assert result.returncode == 1
    message = json.loads(result.stdout)["error"]["message"]
    assert message.startswith("Revision r2 (two) could not be applied: the database refused to write")
    assert "(Its audit row could not be written either" in message and "INSERT INTO" not in message

    execute(pg_psycopg_url, "ALTER DATABASE " + pg_psycopg_url.rsplit("/", 1)[1] +
            " SET default_transaction_read_only = on")
    standby = run_cli("upgrade", "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert standby.returncode == 1
    assert "the database is read-only for this connection" in json.loads(standby.stdout)["error"]["message"]


def test_a_lock_file_that_cannot_be_created_is_one_paragraph(tmp_path: Path) -> None:
    import json

    from tests.helpers import dbops_app

    app = dbops_app(tmp_path, "locked", [("r1", None, "one", "    pass", "    pass"),
                                         ("r2", "r1", "two", "    pass", "    pass")])
    data = tmp_path / "data"
    data.mkdir()
    db = f"sqlite:///{data / 'app.db'}"
    assert run_cli("upgrade", "r1", "--database-url", db, cwd=app).returncode == 0
    for lock in data.glob("*.lock"):
        lock.unlink()
    subprocess.run(["chattr", "+i", str(data)], check=True)  # not even root may create files there
    try:
        result = run_cli("upgrade", "--database-url", db, "--format", "json", cwd=app)
    finally:
        subprocess.run(["chattr", "-i", str(data)], check=True)
    assert result.returncode == 1
    message = json.loads(result.stdout)["error"]["message"]
    assert message.startswith(f"dbops could not create its lock file {data}/app.db.") and "nothing was run" in message
