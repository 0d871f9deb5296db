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
