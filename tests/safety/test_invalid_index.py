"""verify reports indexes a failed CREATE INDEX CONCURRENTLY left INVALID (PostgreSQL), with the fix."""
from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest
from click.testing import Result

from tests.helpers import sync_url


def _autocommit(url: str, sql: str) -> None:
    dsn = sync_url(url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(sql)
        except psycopg.errors.UniqueViolation:
            pass  # the point: the concurrent build fails and leaves the index behind


@pytest.mark.postgres
def test_verify_reports_an_invalid_index_until_it_is_dropped(invoke: Callable[..., Result],
                                                              pg_psycopg_url: str) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url).exit_code == 0
    assert invoke("verify", "--database-url", pg_psycopg_url).exit_code == 0
    _autocommit(pg_psycopg_url, "INSERT INTO products (name, category, price, version_id) "
                                "VALUES ('a', 'x', 1, 1), ('a', 'y', 2, 1)")
    _autocommit(pg_psycopg_url, "CREATE UNIQUE INDEX CONCURRENTLY ux_products_name ON products (name)")

    result = invoke("verify", "--database-url", pg_psycopg_url, "--format", "json")
    assert result.exit_code == 3, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["error"]["kind"] == "invalid_index"
    (index,) = data["invalid_indexes"]
    assert (index["schema"], index["table"], index["name"]) == ("public", "products", "ux_products_name")
    assert index["definition"] == "CREATE UNIQUE INDEX ux_products_name ON public.products USING btree (name)"
    assert index["fix"] == "DROP INDEX CONCURRENTLY public.ux_products_name;"
    table = invoke("verify", "--database-url", pg_psycopg_url)
    assert "INVALID index public.ux_products_name on products: CREATE UNIQUE INDEX" in table.stdout
    assert table.stderr.startswith("Error: 1 index(es) are INVALID: public.ux_products_name.")

    # the on-call view says so too (a WARN finding of the database it reads)
    probe = invoke("probe", "--database-url", pg_psycopg_url, "--format", "json")
    findings = {f["code"]: f for f in json.loads(probe.stdout)["findings"]}
    assert probe.exit_code >= 1 and findings["invalid_index"]["level"] == "WARN"
    assert findings["invalid_index"]["message"].startswith(
        "1 INVALID index(es) left by a failed CREATE INDEX CONCURRENTLY (public.ux_products_name on products)")

    _autocommit(pg_psycopg_url, index["fix"])  # the fix, as printed
    assert invoke("verify", "--database-url", pg_psycopg_url).exit_code == 0
    after = invoke("probe", "--database-url", pg_psycopg_url, "--format", "json")
    assert "invalid_index" not in {f["code"] for f in json.loads(after.stdout)["findings"]}
