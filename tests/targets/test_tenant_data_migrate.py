"""data-migrate over a group of tenant schemas: each tenant's rows, each tenant's checkpoint, in its
own schema (it used to run every tenant against the default schema and fail)."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import dbops_app, execute

pytestmark = pytest.mark.postgres
TENANTS = ["tenant_a", "tenant_b", "tenant_c", 'tenant_x"; DROP TABLE note; --']

UP = """    op.create_table('note', sa.Column('id', sa.Integer, primary_key=True), sa.Column('body', sa.Text),
                    sa.Column('done', sa.Boolean, nullable=False, server_default=sa.false()))"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def test_data_migrate_runs_in_each_tenants_schema(invoke: Callable[..., Result], tmp_path: Path,
                                                  pg_psycopg_url: str) -> None:
    app = dbops_app(tmp_path, "tenants", [("0001", None, "note", UP, "    op.drop_table('note')")],
                    toml=textwrap.dedent(f'''
                        [groups.tenants]
                        url = "{pg_psycopg_url}"
                        schemas_sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1"
                    '''))
    (app / "data_migrations").mkdir()
    (app / "data_migrations" / "finish.py").write_text(
        "from dbops.data import DataMigration\n"
        "migration = DataMigration(name='finish', table='note', set={'done': 'true'}, where='NOT done')\n")
    execute(pg_psycopg_url, *(f"CREATE SCHEMA {_q(t)}" for t in TENANTS))
    up = invoke("upgrade", "--group", "tenants", "--database-url", pg_psycopg_url, cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    for n, tenant in enumerate(TENANTS, start=1):
        execute(pg_psycopg_url, f"INSERT INTO {_q(tenant)}.note (body) SELECT 'x' FROM generate_series(1, {n * 10})")

    listed = invoke("data-migrate", "--list", "--group", "tenants", "--database-url", pg_psycopg_url,
                    "--format", "json", cwd=app)
    assert listed.exit_code == 0, listed.stdout + listed.stderr
    assert [t["target"] for t in json.loads(listed.stdout)["targets"]] == sorted(TENANTS)

    dry = invoke("data-migrate", "finish", "--group", "tenants", "--dry-run", "--database-url", pg_psycopg_url,
                 "--format", "json", cwd=app)
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert {t["target"]: t["outcome"] for t in json.loads(dry.stdout)["targets"]} == {t: "ok" for t in TENANTS}
    for tenant in TENANTS:  # a preview in every tenant, and nothing written there
        assert execute(pg_psycopg_url, f"SELECT count(*) FILTER (WHERE done) FROM {_q(tenant)}.note")[0] == [(0,)]

    run = invoke("data-migrate", "--group", "tenants", "--database-url", pg_psycopg_url, "--format", "json",
                 cwd=app)
    assert run.exit_code == 0, run.stdout + run.stderr
    outcomes = {t["target"]: t["outcome"] for t in json.loads(run.stdout)["targets"]}
    assert outcomes == {t: "ok" for t in TENANTS}
    for n, tenant in enumerate(TENANTS, start=1):
        assert execute(pg_psycopg_url, f"SELECT count(*) FILTER (WHERE done), count(*) FROM {_q(tenant)}.note")[0] \
            == [(n * 10, n * 10)]
        checkpoint = execute(pg_psycopg_url, f"SELECT status, rows_done FROM {_q(tenant)}.dbops_data_migrations")[0]
        assert checkpoint == [("done", n * 10)]  # each tenant's own checkpoint, in its schema
    assert execute(pg_psycopg_url, "SELECT to_regclass('public.dbops_data_migrations') IS NULL, "
                                   "to_regclass('public.note') IS NULL")[0] == [(True, True)]
    again = invoke("data-migrate", "--group", "tenants", "--database-url", pg_psycopg_url, "--format", "json",
                   cwd=app)
    assert again.exit_code == 0  # done everywhere: nothing runs twice
    assert all(t["summary"] == "nothing" for t in json.loads(again.stdout)["targets"]), again.stdout
    execute(pg_psycopg_url, f"UPDATE {_q(TENANTS[0])}.note SET done = false WHERE id <= 3")
    reset = invoke("data-migrate", "finish", "--group", "tenants", "--reset", "--database-url", pg_psycopg_url,
                   cwd=app)
    assert reset.exit_code == 0, reset.stdout + reset.stderr
    # --reset reached each tenant: its checkpoint restarted from the first row (3 rows to redo in the first)
    assert execute(pg_psycopg_url, f"SELECT count(*) FILTER (WHERE NOT done) FROM {_q(TENANTS[0])}.note")[0] == [(0,)]


# 20 tenants, some with names that need quoting everywhere (quotes, spaces, capitals, unicode, SQL)
ROLLOUT = [f"tenant_{i:02d}" for i in range(14)] + [
    'tenant_Mixed"Case', "tenant_with space", "tenant_ünïcödé", "tenant_x'; DROP TABLE note; --",
    "tenant_$dollar", "tenant_" + "l" * 50]
BUMP = ("from dbops.data import DataMigration\n"
        "migration = DataMigration(name='bump', table='note', key='id', set={'hits': 'hits + 1'})\n")


def _tenant_state(url: str) -> dict[str, tuple[int, int, int, int | None]]:
    """Per tenant: (rows, rows bumped once, rows bumped more than once, the checkpoint's rows_done)."""
    out = {}
    for tenant in ROLLOUT:
        rows = execute(url, f"SELECT count(*), count(*) FILTER (WHERE hits = 1), count(*) FILTER (WHERE hits > 1) "
                            f"FROM {_q(tenant)}.note")[0][0]
        checkpoint = execute(url, f"SELECT rows_done FROM {_q(tenant)}.dbops_data_migrations WHERE name = 'bump'"
                             if execute(url, f"SELECT to_regclass('{_q(tenant).replace(chr(39), chr(39) * 2)}"
                                             ".dbops_data_migrations') IS NOT NULL")[0][0][0] else "SELECT NULL")[0]
        out[tenant] = (*(int(v) for v in rows), int(checkpoint[0][0]) if checkpoint and checkpoint[0][0] is not None
                       else None)
    return out


def test_kill_9_mid_tenant_rollout_then_rerun_applies_every_row_once(tmp_path: Path, pg_psycopg_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    app = dbops_app(tmp_path, "rollout", [("0001", None, "note", UP.replace(
        "sa.Column('done'", "sa.Column('hits', sa.Integer, nullable=False, server_default='0'),\n"
        "                    sa.Column('done'"), "    op.drop_table('note')")],
        toml=textwrap.dedent(f'''
            [groups.tenants]
            url = "{pg_psycopg_url}"
            schemas_sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1"
        '''))
    (app / "data_migrations").mkdir()
    (app / "data_migrations" / "bump.py").write_text(BUMP)
    execute(pg_psycopg_url, *(f"CREATE SCHEMA {_q(t)}" for t in ROLLOUT))
    dbops = str(Path(sys.executable).with_name("dbops"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL")}
    up = subprocess.run([dbops, "upgrade", "--group", "tenants", "-q"], cwd=app, env=env, capture_output=True,
                        text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    for tenant in ROLLOUT:
        execute(pg_psycopg_url, f"INSERT INTO {_q(tenant)}.note (body) SELECT 'x' FROM generate_series(1, 300)")

    run = [dbops, "data-migrate", "--group", "tenants", "--parallel", "2", "--batch-size", "40", "--pause", "0.01",
           "-q"]
    # its own process group: kill -9 of the group is a container or node dying, workers included
    first = subprocess.Popen(run, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill -9 once some tenants are done and others are mid-way
        state = _tenant_state(pg_psycopg_url)
        if sum(1 for s in state.values() if s[1] == 300) >= 3:
            break
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(0.5)  # the killed workers' sessions end with them
    mid = _tenant_state(pg_psycopg_url)
    assert all(s[2] == 0 for s in mid.values()), mid  # no row bumped twice
    assert all(s[3] is None or s[3] == s[1] for s in mid.values()), mid  # each checkpoint moved with its rows
    assert any(s[1] < 300 for s in mid.values()), "the rollout had finished before the kill: nothing tested"

    again = subprocess.run([*run[:4], "--format", "json"], cwd=app, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert sorted(t["target"] for t in json.loads(again.stdout)["targets"]) == sorted(ROLLOUT)
    final = _tenant_state(pg_psycopg_url)
    assert final == {t: (300, 300, 0, 300) for t in ROLLOUT}, final
