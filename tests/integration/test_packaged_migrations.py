"""A project shaped like Prefect 3.1's migrations (tried by hand in session 8, docs/adoption.md): the
migrations live in a package (``script_location = acme:db:_migrations``), the revisions sit in one
subdirectory per database (``versions/sqlite``, ``versions/postgresql``) and env.py picks one at run time
with ``context.script.version_locations = [...]``, after dbops has read the chain. Its URL comes from an
environment variable env.py reads itself.

Before: `dbops init` refused ("would overwrite alembic.ini"), `dbops history` said "No revisions yet" and
`dbops upgrade` reported "Nothing to do" on an embedded SQLite file it created. Now each says what it
found, and with the directory named in dbops.toml the chain runs as env.py would run it.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from dbops.errors import EXIT_FAILURE

ENV_PY = '''import os
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine

config = context.config
URL = os.environ["ACME_DB_URL"]
VERSIONS = Path(__file__).parent / "versions"


def run():
    url = URL
    engine = create_engine(url)
    context.script.version_locations = [str(VERSIONS / {chosen})]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
'''

REVISION = '''"""{message}

Revision ID: {rev}
Revises: {down}
"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("{table}")
'''


def _project(tmp_path: Path, chosen: str = "engine.dialect.name") -> Path:
    """proj/alembic.ini naming the package resource; proj/acme/db/_migrations with two version directories."""
    proj = tmp_path / "proj"
    migrations = proj / "acme" / "db" / "_migrations"
    for kind in ("sqlite", "postgresql"):
        (migrations / "versions" / kind).mkdir(parents=True)
        down = None
        for n in (1, 2):
            rev = f"{kind[:2]}000{n}"
            (migrations / "versions" / kind / f"{rev}_t{n}.py").write_text(REVISION.format(
                message=f"{kind} table {n}\nA second line of the docstring's first paragraph", rev=rev,
                down=down or "", down_repr=repr(down), table=f"{kind[:2]}_t{n}"))
            down = rev
    for package in (proj / "acme", proj / "acme" / "db"):
        (package / "__init__.py").write_text("")
    (migrations / "env.py").write_text(ENV_PY.format(chosen=chosen))
    (migrations / "script.py.mako").write_text("")
    (proj / "alembic.ini").write_text("[alembic]\nscript_location = acme:db:_migrations\nprepend_sys_path = .\n")
    return proj


def test_revisions_only_in_subdirectories_are_refused_not_reported_empty(invoke: Callable[..., Result],
                                                                         tmp_path: Path) -> None:
    proj = _project(tmp_path)
    db = tmp_path / "app.db"
    env = {"ACME_DB_URL": f"sqlite:///{db}"}
    history = invoke("history", cwd=proj, env=env)
    assert history.exit_code == EXIT_FAILURE, history.output
    assert "holds no revision file, but its subdirectories do" in history.stderr
    assert "postgresql (2 file(s))" in history.stderr and "sqlite (2 file(s))" in history.stderr
    upgrade = invoke("upgrade", "--database-url", f"sqlite:///{db}", cwd=proj, env=env)
    assert upgrade.exit_code == EXIT_FAILURE and "Nothing to do" not in upgrade.output
    json_out = invoke("upgrade", "--database-url", f"sqlite:///{db}", "--format", "json", cwd=proj, env=env)
    assert '"kind": "config"' in json_out.stdout or '"error"' in json_out.stdout
    assert not db.exists() and not (proj / "dbops.sqlite").exists()  # nothing was created or migrated


def test_init_finds_the_packaged_migrations_and_suggests_the_directories(invoke: Callable[..., Result],
                                                                        tmp_path: Path) -> None:
    proj = _project(tmp_path)
    result = invoke("init", cwd=proj)
    assert result.exit_code == 0, result.output
    assert "env.py sets version_locations itself at run time ([str(VERSIONS / engine.dialect.name)])" in \
        result.stdout
    config = (proj / "dbops.toml").read_text()
    assert '# version_locations = ["acme/db/_migrations/versions/postgresql"]' in config
    assert '# version_locations = ["acme/db/_migrations/versions/sqlite"]' in config
    assert 'url = "env:ACME_DB_URL"' in config  # through `url = URL` and `URL = os.environ[...]`


def test_with_the_directory_named_the_chain_runs_as_env_py_runs_it(invoke: Callable[..., Result],
                                                                   tmp_path: Path) -> None:
    proj = _project(tmp_path)
    assert invoke("init", cwd=proj).exit_code == 0
    config = proj / "dbops.toml"
    config.write_text(config.read_text().replace('# version_locations = ["acme/db/_migrations/versions/sqlite"]',
                                                 'version_locations = ["acme/db/_migrations/versions/sqlite"]'))
    db = tmp_path / "app.db"
    env = {"ACME_DB_URL": f"sqlite:///{db}"}
    history = invoke("history", cwd=proj, env=env)
    assert history.exit_code == 0, history.output
    assert "sqlite table 2" in history.stdout and "A second line" not in history.stdout  # one line per message
    upgrade = invoke("upgrade", cwd=proj, env=env)
    assert upgrade.exit_code == 0, upgrade.output
    assert "base -> sq0002 (2 revisions" in upgrade.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("sq0002",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sq_t1", "sq_t2"} <= tables and not tables & {"po_t1", "po_t2"}


@pytest.mark.parametrize("args", [(), ("--sql",)], ids=["online", "offline"])
def test_env_py_choosing_another_directory_than_dbops_read_is_refused(invoke: Callable[..., Result],
                                                                      tmp_path: Path, args: tuple[str, ...]) -> None:
    """dbops told versions/postgresql, env.py picks versions/sqlite on SQLite: refused before any revision
    runs (what dbops would apply and record is not what Alembic runs)."""
    proj = _project(tmp_path, chosen='"sqlite"')
    (proj / "dbops.toml").write_text('version_locations = ["acme/db/_migrations/versions/postgresql"]\n')
    db = tmp_path / "app.db"
    env = {"ACME_DB_URL": f"sqlite:///{db}"}
    result = invoke("upgrade", *args, "--database-url", f"sqlite:///{db}", cwd=proj, env=env)
    assert result.exit_code == EXIT_FAILURE, result.output
    assert "set the revision directories to" in result.stderr and "nothing was run" in result.stderr
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_t_'").fetchall() == []


def test_squash_refuses_an_env_py_that_forces_its_own_directory(invoke: Callable[..., Result],
                                                                 tmp_path: Path) -> None:
    """squash proves the baseline by replaying it from a directory of its own; env.py would point Alembic
    back at versions/sqlite (the old chain, a proof of nothing). The replays run in a child process whose
    ACME_DB_URL names the scratch database (dbops read the URL from that variable)."""
    proj = _project(tmp_path, chosen='"sqlite"')
    (proj / "dbops.toml").write_text('version_locations = ["acme/db/_migrations/versions/sqlite"]\n'
                                     'url = "env:ACME_DB_URL"\n')
    db = tmp_path / "app.db"
    env = {"ACME_DB_URL": f"sqlite:///{db}"}
    assert invoke("upgrade", cwd=proj, env=env).exit_code == 0
    versions = sorted(p.name for p in (proj / "acme" / "db" / "_migrations" / "versions" / "sqlite").iterdir())
    result = invoke("squash", cwd=proj, env=env)
    assert result.exit_code == EXIT_FAILURE, result.output
    assert "would run the old chain instead and prove nothing" in result.stderr
    assert "context.script.version_locations = context.script.version_locations or [" in result.stderr
    assert sorted(p.name for p in (proj / "acme" / "db" / "_migrations" / "versions" / "sqlite").iterdir()) \
        == versions  # nothing written


def test_helper_modules_in_a_subdirectory_are_not_revisions(invoke: Callable[..., Result], tmp_path: Path) -> None:
    """Only files that are revisions (they name a down_revision) make an empty chain suspicious."""
    proj = _project(tmp_path)
    versions = proj / "acme" / "db" / "_migrations" / "versions"
    for kind in ("sqlite", "postgresql"):
        for f in (versions / kind).glob("*.py"):
            f.unlink()
    (versions / "helpers").mkdir()
    (versions / "helpers" / "batching.py").write_text("def batches(n):\n    return range(0, n, 1000)\n")
    history = invoke("history", cwd=proj, env={"ACME_DB_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert history.exit_code == 0, history.output
    assert "No revisions yet" in history.stdout
