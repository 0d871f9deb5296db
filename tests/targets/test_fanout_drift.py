"""check-drift over a group of tenant schemas: each tenant's own items, and what every tenant reports
alike in a schema they share said once."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import dbops_app, execute

pytestmark = pytest.mark.postgres

MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("widgets", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
sa.Table("plans", metadata, sa.Column("id", sa.Integer, primary_key=True), schema="shared")
'''

UP = """    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True), sa.Column('name', sa.Text))"""


def test_group_check_drift_lists_each_tenants_items_and_shared_ones_once(
        invoke: Callable[..., Result], tmp_path: Path, pg_psycopg_url: str) -> None:
    app = dbops_app(tmp_path, "tenants", [("0001", None, "widgets", UP, "    op.drop_table('widgets')")],
                    toml=textwrap.dedent(f'''
                        metadata = "tenant_models:metadata"

                        [groups.tenants]
                        url = "{pg_psycopg_url}"
                        schemas_sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1"
                    '''))
    (app / "tenant_models.py").write_text(MODELS)
    execute(pg_psycopg_url, "CREATE SCHEMA tenant_a", "CREATE SCHEMA tenant_b", "CREATE SCHEMA tenant_c",
            "CREATE SCHEMA shared", "CREATE TABLE shared.plans (id serial PRIMARY KEY)")  # the app's shared part
    up = invoke("upgrade", "--group", "tenants", "--database-url", pg_psycopg_url, cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    execute(pg_psycopg_url, "ALTER TABLE tenant_a.widgets ADD COLUMN hack int",
            "ALTER TABLE shared.plans ADD COLUMN hack int")
    result = invoke("check-drift", "--group", "tenants", "--against", "database", "--continue-on-error",
                    "--database-url", pg_psycopg_url, "--format", "json", cwd=app)
    assert result.exit_code == 3, result.stdout + result.stderr
    report = json.loads(result.stdout)
    items = {t["target"]: [(i["verdict"], i["table"], i["name"]) for i in t["items"]] for t in report["targets"]}
    assert items == {"tenant_a": [("drift", "widgets", "hack")], "tenant_b": [], "tenant_c": []}
    assert [(i["schema"], i["table"], i["name"]) for i in report["shared_items"]] == [("shared", "plans", "hack")]
    table = invoke("check-drift", "--group", "tenants", "--against", "database", "--continue-on-error",
                   "--database-url", pg_psycopg_url, cwd=app)
    rows = [line.split() for line in table.stdout.splitlines()]
    assert ["tenant_a", "drift", "column", "widgets.hack"] in [r[:4] for r in rows]
    assert ["(every", "target)", "drift", "column", "shared.plans.hack"] in [r[:5] for r in rows]
