"""`dbops plan` end to end: a project's pending revisions against a live database with rows, an
idle-in-transaction session in the way, --fail-on thresholds, JSON, and the guarantee that it writes
nothing."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import dbops_app, execute, sync_url

REVISIONS = [
    ("0001", None, "orders", "    op.create_table('orders', sa.Column('id', sa.Integer, primary_key=True),\n"
     "                    sa.Column('code', sa.String(10)), sa.Column('total', sa.Integer))",
     "    op.drop_table('orders')"),
    ("0002", "0001", "add columns",
     "    op.add_column('orders', sa.Column('note', sa.Text()))\n"
     "    op.add_column('orders', sa.Column('token', sa.Uuid(), server_default=sa.text('gen_random_uuid()')))\n"
     "    op.alter_column('orders', 'code', type_=sa.String(40))\n"
     "    op.alter_column('orders', 'total', type_=sa.BigInteger())",
     "    pass"),
    ("0003", "0002", "index and table",
     "    op.create_index('ix_orders_code', 'orders', ['code'])\n"
     "    op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True),\n"
     "                    sa.Column('order_id', sa.Integer, sa.ForeignKey('orders.id')))\n"
     "    op.create_index('ix_audit_order', 'audit', ['order_id'])",
     "    pass"),
]


@pytest.fixture
def seeded(tmp_path: Path, invoke: Callable[..., Result], pg_psycopg_url: str) -> tuple[Path, str]:
    app = dbops_app(tmp_path, "app", REVISIONS)
    assert invoke("upgrade", "0001", "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    execute(pg_psycopg_url, "INSERT INTO orders (code, total) SELECT 'c' || g, g FROM generate_series(1, 20000) g",
            "ANALYZE orders")
    return app, pg_psycopg_url


def _statements(data: dict) -> list[dict]:
    return [s for rev in data["revisions"] for s in rev["statements"]]


@pytest.mark.postgres
def test_plan_names_locks_rewrites_sizes_and_writes_nothing(invoke: Callable[..., Result],
                                                            seeded: tuple[Path, str]) -> None:
    app, url = seeded
    before = execute(url, "SELECT version_num FROM alembic_version",
                     "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'")
    result = invoke("plan", "--format", "json", "--database-url", url, cwd=app)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["revision"] for r in data["revisions"]] == ["0002", "0003"]
    assert data["from_revisions"] == ["0001"] and data["throughput"]["measured"] == 1.0
    by_sql = {" ".join(s["sql"].split()): s for s in _statements(data)}
    note = by_sql["ALTER TABLE orders ADD COLUMN note TEXT"]["effects"][0]
    assert (note["relation"], note["lock"], note["rewrite"]) == ("orders", "ACCESS EXCLUSIVE", False)
    assert note["rows"] == 20000 and note["bytes"] > 500_000
    token = next(s for k, s in by_sql.items() if "ADD COLUMN token" in k)["effects"][0]
    assert token["rewrite"] is True and token["estimated_seconds"] > 0  # a volatile default: every row
    widen = next(s for k, s in by_sql.items() if "ALTER COLUMN code TYPE VARCHAR(40)" in k)["effects"][0]
    assert widen["rewrite"] is False and "from varchar(10)" in widen["what"]
    bigint = next(s for k, s in by_sql.items() if "ALTER COLUMN total TYPE BIGINT" in k)["effects"][0]
    assert bigint["rewrite"] is True
    index = by_sql["CREATE INDEX ix_orders_code ON orders (code)"]["effects"][0]
    assert (index["lock"], index["index_build"]) == ("SHARE", True)
    audit_fk = next(s for k, s in by_sql.items() if k.startswith("CREATE TABLE audit"))["effects"]
    assert [(e["relation"], e["lock"], e["new"]) for e in audit_fk] == [
        ("audit", "ACCESS EXCLUSIVE", True), ("orders", "SHARE ROW EXCLUSIVE", False)]
    later = by_sql["CREATE INDEX ix_audit_order ON audit (order_id)"]["effects"][0]
    assert later["new"] is True and later["rows"] is None  # created earlier in the same plan
    assert not any("alembic_version" in k for k in by_sql)  # Alembic's bookkeeping is left out
    # nothing written: the version table and the columns are as they were; no sample table left
    assert execute(url, "SELECT version_num FROM alembic_version",
                   "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'") == before
    assert execute(url, "SELECT count(*) FROM pg_class WHERE relname LIKE 'dbops_plan%'")[0][0][0] == 0

    alias = invoke("upgrade", "--plan", "--format", "json", "--database-url", url, cwd=app)
    assert alias.exit_code == 0 and json.loads(alias.stdout)["command"] == "plan"
    assert execute(url, "SELECT version_num FROM alembic_version")[0] == before[0]  # --plan ran nothing
    assert invoke("upgrade", "--plan", "--sql", "--database-url", url, cwd=app).exit_code == 2

    table = invoke("plan", "--no-calibrate", "--database-url", url, cwd=app)
    assert table.exit_code == 0
    assert "orders: ACCESS EXCLUSIVE (blocks everything, reads included), REWRITE; 20,000 rows" in table.stdout
    assert "fixed throughput figures, --no-calibrate" in table.stdout


@pytest.mark.postgres
def test_an_idle_transaction_in_the_way_is_shown_and_fails_the_gate(invoke: Callable[..., Result],
                                                                      seeded: tuple[Path, str]) -> None:
    app, url = seeded
    engine = sa.create_engine(sync_url(url))
    blocker = engine.connect()
    try:
        blocker.exec_driver_sql("SET application_name = 'report-job'")
        blocker.exec_driver_sql("SELECT count(*) FROM orders")  # ACCESS SHARE, held: idle in transaction
        result = invoke("plan", "--no-calibrate", "--format", "json", "--database-url", url, cwd=app)
        assert result.exit_code == 0
        effects = [e for s in _statements(json.loads(result.stdout)) for e in s["effects"]]
        blocked = [e for e in effects if e["sessions"]]
        assert blocked and all(e["lock"] in ("ACCESS EXCLUSIVE",) for e in blocked)
        session = blocked[0]["sessions"][0]
        assert (session["application"], session["mode"], session["granted"]) == ("report-job", "ACCESS SHARE", True)
        assert session["state"] == "idle in transaction"
        # SHARE (CREATE INDEX) does not conflict with ACCESS SHARE: not listed there
        index = next(e for s in _statements(json.loads(result.stdout)) for e in s["effects"]
                     if e["what"].startswith("CREATE INDEX ix_orders_code"))
        assert index["sessions"] == []

        gate = invoke("plan", "--no-calibrate", "--fail-on", "blockers", "--format", "json", "--database-url", url,
                      cwd=app)
        assert gate.exit_code == 3
        data = json.loads(gate.stdout)
        assert data["error"]["kind"] == "plan_over_threshold"
        assert any("report-job" in v for v in data["violations"])
    finally:
        blocker.rollback()
        blocker.close()
        engine.dispose()
    rows = invoke("plan", "--no-calibrate", "--fail-on", "access-exclusive-rows=1000", "--database-url", url, cwd=app)
    assert rows.exit_code == 3
    assert "takes ACCESS EXCLUSIVE on orders (20,000 rows > 1,000)" in rows.stderr
    assert invoke("plan", "--no-calibrate", "--fail-on", "access-exclusive-rows=50000,rewrite-mb=500",
                  "--database-url", url, cwd=app).exit_code == 0


def test_bad_thresholds_and_other_databases_are_refused(invoke: Callable[..., Result], tmp_path: Path,
                                                        sqlite_url: str) -> None:
    app = dbops_app(tmp_path, "app", REVISIONS)
    bad = invoke("plan", "--fail-on", "bogus=1", "--database-url", sqlite_url, cwd=app)
    assert bad.exit_code == 2 and "access-exclusive-rows=N" in bad.stderr
    nan = invoke("plan", "--fail-on", "seconds=soon", "--database-url", sqlite_url, cwd=app)
    assert nan.exit_code == 2 and "needs a number" in nan.stderr
    other = invoke("plan", "--format", "json", "--database-url", sqlite_url, cwd=app)
    assert other.exit_code == 1
    assert "this database is sqlite, which has neither" in json.loads(other.stdout)["error"]["message"]


def test_plan_on_mariadb_asks_the_server_which_algorithm_each_alter_can_use(
        invoke: Callable[..., Result], tmp_path: Path, mariadb_url: str) -> None:
    """MariaDB answers for itself: each pending statement is replayed on an empty copy of the schema with
    ALGORITHM=INSTANT, NOCOPY, INPLACE, COPY in turn; the first it accepts is what the plan reports. The
    live database is only read, the scratch database is gone afterwards, and an open transaction on the
    table (its metadata lock) is listed."""
    app = dbops_app(tmp_path, "app", REVISIONS)
    assert invoke("upgrade", "0001", "--database-url", mariadb_url, cwd=app).exit_code == 0
    execute(mariadb_url, "INSERT INTO orders (code, total) VALUES ('a', 1), ('b', 2)")
    before = execute(mariadb_url, "SELECT version_num FROM alembic_version", "SHOW CREATE TABLE orders")
    scratch_before = execute(mariadb_url, "SHOW DATABASES LIKE 'dbops_scratch_%'")[0]
    engine = sa.create_engine(sync_url(mariadb_url))
    reader = engine.connect()
    try:
        reader.exec_driver_sql("BEGIN")
        reader.exec_driver_sql("SELECT count(*) FROM orders")  # an open transaction: its metadata lock stays
        result = invoke("plan", "--format", "json", "--database-url", mariadb_url, cwd=app)
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        gate = invoke("plan", "--fail-on", "blockers", "--database-url", mariadb_url, cwd=app)
        assert gate.exit_code == 3
    finally:
        reader.rollback()
        reader.close()
        engine.dispose()
    effects = {" ".join(s["sql"].split())[:40]: s["effects"][0] for s in _statements(data)}
    note = next(e for k, e in effects.items() if "ADD COLUMN note" in k)
    assert (note["lock"], note["rewrite"]) == ("LOCK=NONE", False) and note["what"].startswith("ALGORITHM=INSTANT")
    # a PostgreSQL-only default the server refuses: said, not guessed
    token = next(e for k, e in effects.items() if "ADD COLUMN token" in k)
    assert token["certain"] is False and "refused it on the empty copy" in token["what"]
    bigint = next(e for k, e in effects.items() if "MODIFY total BIGINT" in k)
    assert bigint["what"].startswith("ALGORITHM=COPY") and "Cannot change column type" in bigint["what"]
    assert (bigint["lock"], bigint["rewrite"], bigint["rows"]) == ("LOCK=SHARED", True, 2)
    assert bigint["sessions"] and bigint["sessions"][0]["mode"] == "metadata lock"
    index = next(e for k, e in effects.items() if k.startswith("CREATE INDEX ix_orders_code"))
    assert index["what"].startswith("ALGORITHM=NOCOPY") and index["index_build"] is True
    audit = next(e for k, e in effects.items() if k.startswith("CREATE TABLE audit"))
    assert audit["new"] is True
    assert execute(mariadb_url, "SELECT version_num FROM alembic_version", "SHOW CREATE TABLE orders") == before
    assert execute(mariadb_url, "SHOW DATABASES LIKE 'dbops_scratch_%'")[0] == scratch_before


# a data step that reads rows: in Alembic's offline mode there are none (connection.execute returns None)
READS_ROWS = '''    rows = op.get_bind().execute(sa.text("SELECT id, code FROM orders")).fetchall()
    for id_, code in rows:
        op.execute(sa.text("UPDATE orders SET code = :c WHERE id = :i").bindparams(c=code.upper(), i=id_))'''


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["middle", "first"])
def test_a_revision_that_cannot_be_rendered_offline_is_said_and_the_rest_planned(
        invoke: Callable[..., Result], tmp_path: Path, pg_psycopg_url: str, where: str) -> None:
    """Found on Prefect (a json_variables revision reads rows): the whole plan failed. Now that revision is
    NOT PLANNED with the reason, the others are planned around it, and a --fail-on gate fails on it (it
    cannot pass on what it did not look at)."""
    reads = ("0002", "0001", "uppercase codes", READS_ROWS, "    pass")
    revisions = [REVISIONS[0], reads, ("0003", "0002", "note", "    op.add_column('orders', sa.Column('note', "
                                       "sa.Text()))", "    pass")] if where == "middle" else \
        [reads[:1] + (None,) + reads[2:], ("0003", "0002", "orders", REVISIONS[0][3], "    pass")]
    app = dbops_app(tmp_path, "app", revisions)
    start = "0001" if where == "middle" else None
    if start:
        assert invoke("upgrade", start, "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    result = invoke("plan", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["from_revisions"] == ([start] if start else [])
    assert [(r["revision"], bool(r["unplanned"]), len(r["statements"]) > 0) for r in data["revisions"]] == [
        ("0002", True, False), ("0003", False, True)]
    unplanned = data["revisions"][0]
    assert unplanned["message"] == "uppercase codes" and "fetchall" in unplanned["unplanned"]
    table = invoke("plan", "--database-url", pg_psycopg_url, cwd=app)
    assert "1 NOT planned (below)" in table.stdout and "  NOT PLANNED: Generating SQL for revision 0002" in table.stdout
    gate = invoke("plan", "--fail-on", "seconds=1000", "--database-url", pg_psycopg_url, cwd=app)
    assert gate.exit_code == 3 and "0002 could not be planned" in gate.stderr
    if start:  # nothing was run
        assert execute(pg_psycopg_url, "SELECT version_num FROM alembic_version")[0] == [("0001",)]
