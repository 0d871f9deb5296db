"""`dbops squash` end to end on real servers: a 45-revision PostgreSQL chain covering every object kind
(proved by dbops's fingerprint and, independently here, by `pg_dump --schema-only`), a database at the
old head continuing past the squash, a later revision on both, a broken baseline caught by --check,
what cannot be rendered refused with nothing written, data steps, a database behind the squash, and
the reference app's own chain on PostgreSQL (psycopg and asyncpg), SQLite and MariaDB."""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import REPO, REVISION_TEMPLATE, dbops_app, empty_databases, execute
from tests.integration.test_env_zoo import STYLES, Style, dbs, make_project, user_tables  # noqa: F401  (dbs)
from tests.integration.test_env_zoo import url as zoo_url
from tests.squash.chain import SEED_REVISION, chain_app

KINDS = {"schema", "extension", "type", "function", "sequence", "table", "constraint", "index", "foreign_key",
         "view", "trigger", "policy"}

LATER = REVISION_TEMPLATE.format(doc="after the squash", rev="r46", down="r45",
                                 up='    op.add_column("customers", sa.Column("nickname", sa.Text))',
                                 down_body='    op.drop_column("customers", "nickname")')


def _pg_dump(url: str) -> set[str]:
    """The database's schema as pg_dump writes it, one normalised statement per entry (order, comments,
    session settings and the dump's random restrict key left out; bookkeeping tables too)."""
    name = url.rsplit("/", 1)[1]
    out = subprocess.run(["pg_dump", "--schema-only", "-h", "127.0.0.1", "-U", "postgres", name], check=True,
                         capture_output=True, text=True).stdout
    lines = [ln for ln in out.splitlines() if not ln.startswith(("--", "SET ", "SELECT pg_catalog.set_config",
                                                                "\\restrict", "\\unrestrict"))]
    statements = {" ".join(s.split()) for s in "\n".join(lines).split(";\n") if s.strip()}
    return {s for s in statements if "alembic_version" not in s and "dbops_" not in s}


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.py"))}


@pytest.mark.postgres
def test_chain_squashes_proves_and_databases_continue(tmp_path: Path, invoke: Callable[..., Result],
                                                      pg_psycopg_url: str) -> None:
    app = chain_app(tmp_path)
    versions = app / "migrations" / "versions"
    old = pg_psycopg_url
    assert invoke("upgrade", "--database-url", old, cwd=app).exit_code == 0  # the old chain, to its head

    dry = invoke("squash", "--dry-run", "--format", "json", "--database-url", old, cwd=app)
    assert dry.exit_code == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["mode"] == "dry_run" and report["proven"] and not report["written"]
    assert [d["revision"] for d in report["data_revisions"]] == [SEED_REVISION]
    assert report["data_revisions"][0]["kept"] is False
    (proof,) = report["proofs"]
    assert proof["row_differences"] == ["public.countries: 3 row(s) in the chain's database, 0 in the baseline's"]
    assert len(_files(versions)) == 45 and not (app / "migrations" / "squashed").exists()

    result = invoke("squash", "--keep-data", SEED_REVISION, "-m", "baseline 2026", "--format", "json",
                    "--database-url", old, cwd=app)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    (proof,) = report["proofs"]
    assert report["proven"] and proof["downgrade_proven"] and report["written"] and proof["dialect"] == "postgresql"
    assert report["squashed"] == [f"r{i:02d}" for i in range(1, 46)] and report["revision"] == "r45"
    assert KINDS <= set(proof["objects"]), proof["objects"]
    assert proof["row_differences"] == [] and report["data_revisions"][0]["kept"] is True
    assert report["databases"][0]["status"] == "continues"
    assert list(_files(versions)) == ["r45.py"]
    archive = app / "migrations" / "squashed" / "r45"
    assert len(_files(archive)) == 45 and (archive / "squash.json").exists()
    baseline = (versions / "r45.py").read_text()
    assert 'down_revision = None' in baseline and 'revision = "r45"' in baseline
    lint = invoke("lint", cwd=app)  # the baseline passes the project's own lint gate
    assert lint.exit_code == 0, lint.stdout + lint.stderr

    with empty_databases("dbops_squash", ("fresh",)) as names:
        fresh = old.rsplit("/", 1)[0] + "/" + names["fresh"]
        assert invoke("upgrade", "--database-url", fresh, cwd=app).exit_code == 0  # the baseline alone
        assert _pg_dump(fresh) == _pg_dump(old)  # independent of dbops's own fingerprint
        assert execute(fresh, "SELECT count(*) FROM countries")[0] == [(3,)]  # --keep-data carried the seed

        (versions / "r46.py").write_text(LATER)
        for url in (old, fresh):  # the old-head database continues without a stamp; the fresh one too
            up = invoke("upgrade", "--database-url", url, cwd=app)
            assert up.exit_code == 0, up.stderr
            assert "edited" not in up.stderr
            assert execute(url, "SELECT version_num FROM alembic_version")[0] == [("r46",)]
            assert execute(url, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' "
                                "AND column_name = 'nickname'")[0] == [(1,)]

    verify = invoke("verify", "--format", "json", "--database-url", old, cwd=app)
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    assert {i["revision"]: i["status"] for i in json.loads(verify.stdout)["items"]} == {"r46": "ok",
                                                                                        "r45": "squashed"}
    history = json.loads(invoke("history", "--format", "json", cwd=app).stdout)
    assert [r["revision"] for r in history["revisions"]] == ["r46", "r45"]
    assert len(history["squashed"][0]["revisions"]) == 45 and history["squashed"][0]["baseline"] == "r45"

    check = invoke("squash", "--check", "--database-url", old, cwd=app)
    assert check.exit_code == 0, check.stderr
    assert "catalog-equal" in check.stdout

    # a broken baseline: one default edited by hand
    assert "DEFAULT 'pending'::order_status" in baseline
    (versions / "r45.py").write_text(baseline.replace("DEFAULT 'pending'::order_status",
                                                      "DEFAULT 'paid'::order_status"))
    broken = invoke("squash", "--check", "--format", "json", "--database-url", old, cwd=app)
    assert broken.exit_code == 3, broken.stderr
    data = json.loads(broken.stdout)
    assert data["error"]["kind"] == "squash_unproven"
    assert data["proofs"][0]["differences"] == [
        "column public.orders.status: default \"'pending'::order_status\" (chain) != \"'paid'::order_status\" "
        "(baseline)"]


RULE_CHAIN = [
    ("a1", None, "table", "    op.create_table('t', sa.Column('id', sa.Integer, primary_key=True))", "    pass"),
    ("a2", "a1", "a rule dbops does not render",
     "    op.execute('CREATE TABLE t_log (id integer)')\n"
     "    op.execute('CREATE RULE r_log AS ON INSERT TO t DO ALSO INSERT INTO t_log VALUES (NEW.id)')",
     "    pass"),
]


@pytest.mark.postgres
def test_what_cannot_be_rendered_fails_the_proof_and_nothing_is_written(
        tmp_path: Path, invoke: Callable[..., Result], pg_psycopg_url: str) -> None:
    app = dbops_app(tmp_path, "app", RULE_CHAIN)
    before = _files(app / "migrations" / "versions")
    result = invoke("squash", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert result.exit_code == 3, result.stderr
    data = json.loads(result.stdout)
    assert not data["proven"] and not data["written"]
    assert data["proofs"][0]["differences"] == [
        "rule public.t.r_log: built by the chain, missing from the baseline's database"]
    assert _files(app / "migrations" / "versions") == before
    assert not (app / "migrations" / "squashed").exists()


SMALL = [
    ("b1", None, "one", "    op.create_table('one', sa.Column('id', sa.Integer, primary_key=True))", "    pass"),
    ("b2", "b1", "two", "    op.create_table('two', sa.Column('id', sa.Integer, primary_key=True))", "    pass"),
    ("b3", "b2", "three", "    op.add_column('two', sa.Column('x', sa.Text))", "    pass"),
]


@pytest.mark.postgres
def test_a_database_behind_the_squash_is_named_and_then_refused_with_the_way_forward(
        tmp_path: Path, invoke: Callable[..., Result], pg_psycopg_url: str) -> None:
    app = dbops_app(tmp_path, "app", SMALL)
    assert invoke("upgrade", "b1", "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    result = invoke("squash", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert result.exit_code == 0, result.stderr
    (db,) = json.loads(result.stdout)["databases"]
    assert db["status"] == "behind" and db["revisions"] == ["b1"] and "dbops upgrade b3" in db["action"]
    up = invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app)
    assert up.exit_code == 1
    assert "which `dbops squash` replaced with the baseline b3" in up.stderr and "Traceback" not in up.stderr
    assert execute(pg_psycopg_url, "SELECT version_num FROM alembic_version")[0] == [("b1",)]


BRANCHED = [
    ("c1", None, "root", "    op.create_table('one', sa.Column('id', sa.Integer, primary_key=True))", "    pass"),
    ("c2", "c1", "main", "    op.add_column('one', sa.Column('x', sa.Text))", "    pass"),
    ("c3", "c1", "side branch", "    op.add_column('one', sa.Column('y', sa.Text))", "    pass"),
]


def test_usage_and_refusals(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    app = dbops_app(tmp_path, "app", BRANCHED)
    before = _files(app / "migrations" / "versions")
    heads = invoke("squash", "--format", "json", cwd=app)
    assert heads.exit_code == 1 and json.loads(heads.stdout)["error"]["kind"] == "revision_error"
    assert "heads" in heads.stderr
    branch = invoke("squash", "--up-to", "c2", cwd=app)
    assert branch.exit_code == 1 and "c3 (on c1)" in branch.stderr
    unknown = invoke("squash", "--up-to", "nosuch", cwd=app)
    assert unknown.exit_code == 1 and "nosuch" in unknown.stderr and "Traceback" not in unknown.stderr
    inside = invoke("squash", "--up-to", "c2", "--archive", str(app / "migrations" / "versions" / "old"), cwd=app)
    assert inside.exit_code == 1
    usage = invoke("squash", "--old-chain", "x", cwd=app)
    assert usage.exit_code == 2 and "--old-chain is used with --check" in usage.stderr
    nothing = invoke("squash", "--check", cwd=app)
    assert nothing.exit_code == 1 and "--old-chain" in nothing.stderr
    assert _files(app / "migrations" / "versions") == before


def _reference_app(root: Path) -> Path:
    app = root / "ref"
    app.mkdir()
    for name in ("alembic.ini", "pyproject.toml"):
        shutil.copy(REPO / name, app / name)
    for name in ("migrations", "shop", "data_migrations"):
        shutil.copytree(REPO / name, app / name, ignore=shutil.ignore_patterns("__pycache__", "squashed"))
    return app


def _squash_reference_app(app: Path, invoke: Callable[..., Result], *args: str) -> dict:
    result = invoke("squash", "--format", "json", *args, cwd=app)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["proven"] and all(p["downgrade_proven"] for p in report["proofs"])
    assert report["squashed"] == ["0001", "0002"]
    assert [p.name for p in (app / "migrations" / "versions").glob("*.py")] == ["0002_orders_total.py"]
    return report


def _builds_and_matches_the_models(app: Path, invoke: Callable[..., Result], url: str) -> None:
    """The squashed chain on that database: upgrade from empty, then the models are what it built."""
    up = invoke("upgrade", "--database-url", url, cwd=app)
    assert up.exit_code == 0, up.stderr
    assert execute(url, "SELECT version_num FROM alembic_version")[0] == [("0002",)]
    drift = invoke("check-drift", "--against", "database", "--database-url", url, cwd=app)
    assert drift.exit_code == 0, drift.stdout + drift.stderr


def test_reference_app_squashes_on_sqlite(tmp_path: Path, invoke: Callable[..., Result], sqlite_url: str) -> None:
    app = _reference_app(tmp_path)
    report = _squash_reference_app(app, invoke)
    assert [(p["dialect"], p["objects"]) for p in report["proofs"]] == [("sqlite", {"index": 5, "table": 4})]
    _builds_and_matches_the_models(app, invoke, sqlite_url)
    wrong = invoke("upgrade", "--database-url", "sqlite:///" + str(tmp_path / "other.sqlite"), cwd=app)
    assert wrong.exit_code == 0  # the same kind of database: fine; another kind is refused (next test)


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_reference_app_one_baseline_for_postgresql_sqlite_and_mariadb(
        tmp_path: Path, invoke: Callable[..., Result], pg_psycopg_url: str, mariadb_url: str, sqlite_url: str,
        driver: str) -> None:
    """The app runs on PostgreSQL in production, SQLite in development and MariaDB for one customer: one
    baseline holds each one's DDL, each proved on its own kind of server, picked at run time."""
    url = pg_psycopg_url.replace("+psycopg", f"+{driver}")
    app = _reference_app(tmp_path)
    report = _squash_reference_app(app, invoke, "--database-url", url, "--also-on", "sqlite", "--also-on",
                                   mariadb_url)
    assert [p["dialect"] for p in report["proofs"]] == ["postgresql", "sqlite", "mysql"]
    assert report["proofs"][0]["objects"]["extension"] == 1 and report["proofs"][2]["objects"] == {"table": 4}
    for target in (url, sqlite_url, mariadb_url):
        _builds_and_matches_the_models(app, invoke, target)
    assert invoke("lint", cwd=app).exit_code == 0  # SQLite's and MariaDB's DDL are not judged by PostgreSQL rules


@pytest.mark.postgres
def test_a_baseline_refuses_a_kind_of_database_it_was_not_proved_on(
        tmp_path: Path, invoke: Callable[..., Result], pg_psycopg_url: str, sqlite_url: str) -> None:
    app = _reference_app(tmp_path)
    twice = invoke("squash", "--dry-run", "--also-on", "sqlite", "--also-on", "sqlite:///x.db", cwd=app)
    assert twice.exit_code == 1 and "names a second sqlite database" in twice.stderr
    _squash_reference_app(app, invoke, "--database-url", pg_psycopg_url)
    refused = invoke("upgrade", "--database-url", sqlite_url, cwd=app)
    assert refused.exit_code == 1
    assert "holds the DDL of postgresql databases" in refused.stderr and "--also-on" in refused.stderr


ZOO_OUTCOMES = {  # what squash does with each env.py of the zoo (tests/integration/test_env_zoo.py)
    "settings_url": "env.py connected elsewhere",  # the app's own URL wins over the scratch database's
    "tenant_loop": "migrated schemas of its own choosing",  # the baseline would name tenant schemas
}


@pytest.mark.postgres
@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_squash_runs_each_env_style_or_says_why_not(tmp_path: Path, invoke: Callable[..., Result],
                                                   dbs: dict[str, str], style: Style) -> None:  # noqa: F811
    """Every env.py shape dbops drives (sync, async, worker thread, revision hooks, cmd_opts readers, an
    app settings URL, a tenant loop): squash proves the baseline, or refuses in one paragraph, and the
    project's databases (the given one and the decoy alembic.ini names) are never touched."""
    app, _ = make_project(tmp_path, style, dbs["decoy"])
    given = zoo_url(dbs["given"])
    before = _files(app / "migrations" / "versions")
    args = () if style.settings_url else ("--database-url", given)
    result = invoke("squash", "--format", "json", *args, cwd=app, env={"ZOO_APP_DB": given})
    expected = ZOO_OUTCOMES.get(style.name)
    if expected is None:
        assert result.exit_code == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["proven"]
        assert list(_files(app / "migrations" / "versions")) == ["0002_color.py"]
    else:
        assert result.exit_code == 1, result.stdout + result.stderr
        assert expected in json.loads(result.stdout)["error"]["message"] and "Traceback" not in result.stderr
        assert _files(app / "migrations" / "versions") == before
    for name in (dbs["given"], dbs["decoy"]):
        assert user_tables(name) == [], name


MARIADB_CHAIN = [
    ("m1", None, "tables", "    op.create_table('accounts', sa.Column('id', sa.Integer, primary_key=True),\n"
     "                    sa.Column('email', sa.String(200), nullable=False, unique=True),\n"
     "                    sa.Column('balance', sa.Numeric(10, 2), server_default='0'))\n"
     "    op.create_table('moves', sa.Column('id', sa.Integer, primary_key=True),\n"
     "                    sa.Column('account_id', sa.Integer, sa.ForeignKey('accounts.id', ondelete='CASCADE')),\n"
     "                    sa.Column('amount', sa.Numeric(10, 2), nullable=False))", "    pass"),
    ("m2", "m1", "views", "    op.execute('CREATE VIEW rich AS SELECT id, email FROM accounts WHERE balance > 100')\n"
     "    op.execute('CREATE VIEW rich_emails AS SELECT email FROM rich')", "    pass"),
    ("m3", "m2", "routines and a trigger",
     "    op.execute('CREATE FUNCTION cents(x DECIMAL(10,2)) RETURNS INT DETERMINISTIC RETURN x * 100')\n"
     "    op.execute('CREATE PROCEDURE reset_all() UPDATE accounts SET balance = 0')\n"
     "    op.execute('CREATE TRIGGER moves_apply AFTER INSERT ON moves FOR EACH ROW "
     "UPDATE accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id')", "    pass"),
    ("m4", "m3", "check and index",
     "    op.execute('ALTER TABLE moves ADD CONSTRAINT ck_moves_amount CHECK (amount <> 0)')\n"
     "    op.create_index('ix_moves_amount', 'moves', ['amount'])", "    pass"),
]


@pytest.mark.mariadb
def test_mariadb_views_routines_and_triggers_squash(tmp_path: Path, invoke: Callable[..., Result],
                                                     mariadb_url: str) -> None:
    app = dbops_app(tmp_path, "app", MARIADB_CHAIN)
    result = invoke("squash", "--format", "json", "--database-url", mariadb_url, cwd=app)
    assert result.exit_code == 0, result.stdout + result.stderr
    (proof,) = json.loads(result.stdout)["proofs"]
    assert proof["dialect"] == "mysql" and proof["downgrade_proven"]
    assert proof["objects"] == {"function": 2, "table": 2, "trigger": 1, "view": 2}
    up = invoke("upgrade", "--database-url", mariadb_url, cwd=app)
    assert up.exit_code == 0, up.stderr
    execute(mariadb_url, "INSERT INTO accounts (id, email) VALUES (1, 'a@x')",
            "INSERT INTO moves (account_id, amount) VALUES (1, 150)")
    assert execute(mariadb_url, "SELECT email FROM rich_emails", "SELECT cents(1.5)")[0:2] == [[("a@x",)], [(150,)]]


@pytest.mark.postgres
def test_the_version_tables_own_schema_is_left_to_the_environment(tmp_path: Path, invoke: Callable[..., Result],
                                                                  pg_psycopg_url: str) -> None:
    """version_table_schema = "meta", created by the project's bootstrap before any revision: the
    baseline neither creates nor drops it (dropping it would fail: alembic_version lives there), and
    everything else is proved as usual."""
    import uuid

    boot = f"boot_{uuid.uuid4().hex[:6]}"
    app = dbops_app(tmp_path, "app", SMALL, toml=f'version_table_schema = "meta"\nbootstrap = "{boot}:make"\n')
    (app / f"{boot}.py").write_text('def make(conn):\n    conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS meta")\n')
    result = invoke("squash", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert result.exit_code == 0, result.stdout + result.stderr
    (proof,) = json.loads(result.stdout)["proofs"]
    assert proof["downgrade_proven"] and "schema" not in proof["objects"]
    assert "meta" not in (app / "migrations" / "versions" / "b3.py").read_text()
    up = invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app)
    assert up.exit_code == 0, up.stderr
    assert execute(pg_psycopg_url, "SELECT version_num FROM meta.alembic_version")[0] == [("b3",)]


IN_LIST_CHAIN = [
    ("k1", None, "varchar with an IN check",
     "    op.create_table('runs', sa.Column('id', sa.Integer, primary_key=True),\n"
     "                    sa.Column('status', sa.String(20)),\n"
     "                    sa.CheckConstraint(\"status IN ('RUNNING', 'FAILED')\", name='runs_status_check'))",
     "    pass"),
    ("k2", "k1", "later", "    op.add_column('runs', sa.Column('note', sa.Text))", "    pass"),
]


@pytest.mark.postgres
def test_a_check_the_servers_deparser_spells_differently_is_proved_by_a_round_trip(
        tmp_path: Path, invoke: Callable[..., Result], pg_psycopg_url: str) -> None:
    """mlflow's chain: `status IN ('a', 'b')` on a varchar column is stored as `= ANY ((ARRAY[...])::text[])`,
    which parses back to another tree (`ARRAY[(...)::text, ...]`). The proof gives the chain's definition
    to the server again and accepts them as the same expression, saying so; a CHECK really changed by hand
    in the baseline is still caught."""
    app = dbops_app(tmp_path, "app", IN_LIST_CHAIN)
    result = invoke("squash", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert result.exit_code == 0, result.stdout + result.stderr
    (proof,) = json.loads(result.stdout)["proofs"]
    assert proof["equivalent"] == ["constraint public.runs.runs_status_check"] and proof["differences"] == []
    baseline = app / "migrations" / "versions" / "k2.py"
    text = baseline.read_text()
    assert "'FAILED'" in text
    baseline.write_text(text.replace("'FAILED'", "'KILLED'"))
    broken = invoke("squash", "--check", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert broken.exit_code == 3, broken.stdout + broken.stderr
    (proof,) = json.loads(broken.stdout)["proofs"]
    assert [d.split(":")[0] for d in proof["differences"]] == ["constraint public.runs.runs_status_check"]


ON_BOOTSTRAP = [
    ("t1", None, "alter what the bootstrap made", "    op.add_column('accounts', sa.Column('email', sa.Text))",
     "    pass"),
    ("t2", "t1", "index", "    op.create_index('ix_accounts_email', 'accounts', ['email'])", "    pass"),
]


@pytest.mark.postgres
def test_a_chain_built_on_a_bootstrap_that_makes_tables(tmp_path: Path, invoke: Callable[..., Result],
                                                       pg_psycopg_url: str) -> None:
    """mlflow's shape: its initial tables come from create_all before the first revision. The baseline
    holds them and is proved without the bootstrap; the report says to remove the setting, squash.json
    keeps it, and --check (after removing it) replays the old chain with it."""
    import uuid

    boot = f"boot_{uuid.uuid4().hex[:6]}"
    app = dbops_app(tmp_path, "app", ON_BOOTSTRAP, toml=f'bootstrap = "{boot}:make"\n')
    (app / f"{boot}.py").write_text("def make(conn):\n"
                                    '    conn.exec_driver_sql("CREATE TABLE accounts (id int PRIMARY KEY)")\n')
    result = invoke("squash", "--format", "json", "--database-url", pg_psycopg_url, cwd=app)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["proven"] and "bootstrap" in report["notes"][0]
    assert "CREATE TABLE accounts" in (app / "migrations" / "versions" / "t2.py").read_text()
    manifest = json.loads((app / "migrations" / "squashed" / "t2" / "squash.json").read_text())
    assert manifest["bootstrap"] == f"{boot}:make"
    (app / "dbops.toml").write_text((app / "dbops.toml").read_text().replace(f'bootstrap = "{boot}:make"\n', ""))
    check = invoke("squash", "--check", "--database-url", pg_psycopg_url, cwd=app)
    assert check.exit_code == 0, check.stdout + check.stderr
    up = invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app)  # the baseline alone builds it
    assert up.exit_code == 0, up.stderr
    assert execute(pg_psycopg_url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_accounts_email'")[0] \
        == [(1,)]


@pytest.mark.mariadb
def test_a_mysql_baseline_builds_through_a_mariadb_url_too(tmp_path: Path, invoke: Callable[..., Result],
                                                          mariadb_url: str) -> None:
    """SQLAlchemy names the dialect after the URL (mysql+pymysql or mariadb+pymysql); the server and the
    DDL are the same, so a baseline squashed through one builds through the other."""
    app = _reference_app(tmp_path)
    _squash_reference_app(app, invoke, "--database-url", mariadb_url)
    other = mariadb_url.replace("mysql+pymysql://", "mariadb+pymysql://")
    up = invoke("upgrade", "--database-url", other, cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    assert execute(mariadb_url, "SELECT version_num FROM alembic_version")[0] == [("0002",)]
