"""Small helpers shared by tests (real databases, no mocks)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dbops.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]


def config_for(url: str, cwd: Path = REPO, **kw: Any) -> Config:
    return load_config(database_url=url, cwd=cwd, environ={}, **kw)


def sync_url(url: str) -> str:
    """The same database through a sync driver, for assertions."""
    return url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", "")


def schema_of(url: str) -> dict[str, Any]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            bookkeeping = {"alembic_version", "dbops_history", "dbops_data_migrations"}
            tables = sorted(t for t in insp.get_table_names() if t not in bookkeeping)
            indexes = {t: sorted(i["name"] for i in insp.get_indexes(t)) for t in tables}
            version = None
            if insp.has_table("alembic_version"):
                version = sorted(r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version")))
            return {"tables": tables, "indexes": indexes, "version": version}
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> list[Any]:
    engine = sa.create_engine(sync_url(url))
    out = []
    try:
        with engine.begin() as conn:
            for stmt in statements:
                result = conn.execute(sa.text(stmt))
                out.append(result.fetchall() if result.returns_rows else None)
    finally:
        engine.dispose()
    return out


# A revision file: format with doc, rev, down (repr'd), up and down_body (indented code).
REVISION_TEMPLATE = '''"""{doc}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{up}


def downgrade():
{down_body}
'''


def start_shop(env: dict[str, str], *, workers: int = 1) -> tuple[Any, str]:
    """Start the reference service (`python -m shop`) on a free loopback port; wait for /health."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "shop", "--port", str(port), "--workers", str(workers)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"the service did not start: {proc.communicate()[0][-2000:]}")
        time.sleep(0.1)


def start_pgbouncer(dbname: str, *, mode: str = "session", pool_size: int = 2) -> tuple[Any, int, str]:
    """A private PgBouncer (as the postgres user: it refuses root) in front of the test server's
    ``dbname``, exposed as database ``app``. Returns (process, port, directory); stop with stop_pgbouncer."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile
    import time

    import psycopg

    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(exe):
        raise AssertionError("pgbouncer is not installed; .ci/run installs it (apt-get install pgbouncer)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    directory = tempfile.mkdtemp(prefix="dbops-pgb-", dir="/tmp")
    os.chmod(directory, 0o777)
    with open(f"{directory}/users.txt", "w") as fh:
        fh.write('"postgres" ""\n')
    with open(f"{directory}/pgbouncer.ini", "w") as fh:
        fh.write(f"[databases]\napp = host=127.0.0.1 port=5432 dbname={dbname} pool_size={pool_size}\n\n"
                 f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
                 f"auth_file = {directory}/users.txt\nadmin_users = postgres\npool_mode = {mode}\n"
                 "max_client_conn = 200\nignore_startup_parameters = extra_float_digits,options\n"
                 f"logfile = {directory}/pgbouncer.log\npidfile = {directory}/pgbouncer.pid\nunix_socket_dir =\n")
    for name in os.listdir(directory):
        os.chmod(f"{directory}/{name}", 0o666)
    proc = subprocess.Popen([exe, "-u", "postgres", f"{directory}/pgbouncer.ini"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="pgbouncer",
                            autocommit=True, cursor_factory=psycopg.ClientCursor).close()
            return proc, port, directory
        except psycopg.Error:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not start: {proc.communicate()[0]}") from None
            time.sleep(0.1)


def stop_pgbouncer(proc: Any, directory: str) -> None:
    import shutil

    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


DBOPS_ENV_PY = "from dbops.alembic_env import run_migrations\nrun_migrations()\n"

# A stock env.py's online half (what `alembic init -t generic` writes, trimmed): `config` and
# `target_metadata` are defined by the text put before it.
STOCK_ENV_ONLINE = '''
def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''


def dbops_app(root: Path, name: str, revisions: list[tuple[str, str | None, str, str, str]],
              toml: str = "") -> Path:
    """A project with dbops's env.py and the given revisions (rev, down, doc, upgrade body, downgrade
    body; bodies are indented code)."""
    app = root / name
    versions = app / "migrations" / "versions"
    versions.mkdir(parents=True)
    (app / "migrations" / "env.py").write_text(DBOPS_ENV_PY)
    (app / "dbops.toml").write_text('script_location = "migrations"\n' + toml)
    for rev, down, doc, up, down_body in revisions:
        (versions / f"{rev}.py").write_text(REVISION_TEMPLATE.format(doc=doc, rev=rev, down=down, up=up,
                                                                     down_body=down_body))
    return app


def models_app(root: Path, prefix: str, models: str, revisions: list[tuple[str, str | None, str, str, str]],
               toml: str = "") -> tuple[Path, str]:
    """``dbops_app`` with a models package of its own (``<prefix>_<random>.models``, a unique name: the
    tests import it in-process) named as the project's metadata. Returns (app, module)."""
    import uuid

    module = f"{prefix}_{uuid.uuid4().hex[:6]}"
    app = dbops_app(root, "app", revisions, toml=f'metadata = "{module}.models:metadata"\n' + toml)
    (app / module).mkdir()
    (app / module / "__init__.py").write_text("")
    (app / module / "models.py").write_text(models)
    return app, module


# A revision whose autocommit statement sleeps SECONDS and records when it started and finished.
SLOW_AUTOCOMMIT_UP = """    op.execute("CREATE TABLE IF NOT EXISTS marks (started timestamptz, finished timestamptz)")
    with op.get_context().autocommit_block():
        op.execute("INSERT INTO marks SELECT statement_timestamp(), clock_timestamp() FROM pg_sleep({seconds})")"""


def kill_mid_statement_then_rerun(app: Path, env: dict[str, str], direct_url: str, *,
                                  pause_after_kill: float = 0.0) -> tuple[Any, list[Any], Any]:
    """Start `dbops upgrade`, kill -9 it while the marks INSERT runs, re-run it; returns the re-run's
    CompletedProcess, the marks rows (started, finished), oldest first, and the server's clock when the
    re-run was launched (whether it had to wait depends on that, not on the machine's speed)."""
    import signal
    import subprocess
    import sys
    import time

    exe = str(Path(sys.executable).with_name("dbops"))
    first = subprocess.Popen([exe, "upgrade", "-q"], cwd=app, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not execute(direct_url, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                                  "query LIKE 'INSERT INTO marks%'")[0][0][0]:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)  # the client dies; its backend goes on sleeping
    first.communicate()
    time.sleep(pause_after_kill)
    launched = execute(direct_url, "SELECT clock_timestamp()")[0][0][0]
    second = subprocess.run([exe, "upgrade"], cwd=app, env=env, capture_output=True, text=True, timeout=60)
    marks = execute(direct_url, "SELECT started, finished FROM marks ORDER BY started")[0]
    return second, marks, launched


def chain(n: int, sleep: float) -> list[tuple[str, str | None, str, str, str]]:
    """n revisions for dbops_app, each creating table t<i> and sleeping inside its transaction."""
    return [(f"{i:04d}", f"{i - 1:04d}" if i > 1 else None, f"t{i}",
             f"    op.create_table('t{i}', sa.Column('id', sa.Integer, primary_key=True))\n"
             f"    op.execute('SELECT pg_sleep({sleep})')", f"    op.drop_table('t{i}')") for i in range(1, n + 1)]


@contextmanager
def empty_databases(prefix: str, roles: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Empty PostgreSQL databases on the test server, one per role ({role: name}), dropped after."""
    import uuid

    import psycopg

    server = "host=127.0.0.1 user=postgres dbname=postgres"
    tag = uuid.uuid4().hex[:8]
    names = {role: f"{prefix}_{role}_{tag}" for role in roles}
    with psycopg.connect(server, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield names
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
