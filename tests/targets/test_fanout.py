"""Fan-out on real databases: 50 tenant schemas, 3 PostgreSQL databases, MariaDB and SQLite."""
from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from dbops.targets.expand import TargetRef, shard_of
from tests.helpers import REPO, execute

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
EVIL = 'tenant_x"; DROP TABLE users; --'


def _admin(*statements: str) -> None:
    engine = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for s in statements:
            conn.execute(sa.text(s))
    engine.dispose()


@pytest.fixture
def fleet(tmp_path: Path, mariadb_url: str) -> Iterator[tuple[Path, str, list[str]]]:
    """A copy of the reference project with: group `tenants` (50 schemas + one evil name in one PG
    database), group `dbs` (3 PG databases by URL template), group `mixed` (PG + MariaDB + SQLite)."""
    tag = uuid.uuid4().hex[:6]
    main = f"dbops_fleet_{tag}"
    dbs = [f"dbops_fleet_{tag}_{i}" for i in range(3)]
    _admin(*(f'CREATE DATABASE "{d}"' for d in [main, *dbs]))
    tenants = [f"tenant_{i:02d}" for i in range(50)] + [EVIL]
    quoted = ['"' + t.replace('"', '""') + '"' for t in tenants]
    execute(f"postgresql+psycopg://postgres@127.0.0.1/{main}", *(f"CREATE SCHEMA {q}" for q in quoted))
    project = tmp_path / "fleet"
    project.mkdir()
    shutil.copytree(REPO / "migrations", project / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "dbops.toml").write_text(f'''metadata = "shop.models:metadata"
script_location = "migrations"

[targets.pg]
url = "postgresql+psycopg://postgres@127.0.0.1/{dbs[0]}"
[targets.maria]
url = "{mariadb_url}"
[targets.lite]
url = "sqlite:///{project / 'lite.sqlite'}"

[groups.mixed]
targets = ["pg", "maria", "lite"]

[groups.dbs]
url_template = "postgresql+asyncpg://postgres@127.0.0.1/{{name}}"
names = {json.dumps(dbs)}

[groups.tenants]
url = "postgresql+asyncpg://postgres@127.0.0.1/{main}"
schemas_sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1"
''')
    try:
        yield project, main, tenants
    finally:
        _admin(*(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)' for d in [main, *dbs]))


def _versions(main: str) -> dict[str, str | None]:
    url = f"postgresql+psycopg://postgres@127.0.0.1/{main}"
    out: dict[str, str | None] = {}
    tables = execute(url, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'")
    for (schema,) in tables[0]:
        q = '"' + schema.replace('"', '""') + '"'
        rows = execute(url, f"SELECT version_num FROM {q}.alembic_version")[0]
        out[schema] = rows[0][0] if rows else None
    return out


@pytest.mark.postgres
@pytest.mark.mariadb
def test_upgrade_every_group(invoke: Callable[..., Result], fleet: tuple[Path, str, list[str]]) -> None:
    project, main, tenants = fleet
    peak = {"n": 0}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rows = execute(SERVER, f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{main}'")
            peak["n"] = max(peak["n"], int(rows[0][0][0]))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = invoke("upgrade", "--group", "tenants", "--parallel", "4", "--format", "json", cwd=project)
    stop.set()
    watcher.join()
    assert result.exit_code == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert [t["target"] for t in data["targets"]] == sorted(tenants)
    assert {t["outcome"] for t in data["targets"]} == {"ok"}
    assert _versions(main) == {t: "0002" for t in tenants}
    # the evil name was quoted, not executed: every tenant still has its users table
    users = execute(f"postgresql+psycopg://postgres@127.0.0.1/{main}",
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'users'")[0][0][0]
    assert users == len(tenants)
    # one connection per in-flight target (the migration runs on its lock connection), + discovery
    assert 1 <= peak["n"] <= 4 + 1
    again = invoke("upgrade", "--group", "tenants", "--format", "json", cwd=project)
    assert {t["summary"] for t in json.loads(again.stdout)["targets"]} == {"already at target"}

    for group in ("dbs", "mixed"):
        res = invoke("upgrade", "--group", group, "--format", "json", cwd=project)
        assert res.exit_code == 0, res.stdout + res.stderr
        assert {t["outcome"] for t in json.loads(res.stdout)["targets"]} == {"ok"}
    status = invoke("status", "--group", "mixed", "--format", "json", cwd=project)
    assert [(t["target"], t["summary"].split(" at 20")[0]) for t in json.loads(status.stdout)["targets"]] == [
        ("pg", "at head; last run upgrade success"), ("maria", "at head; last run upgrade success"),
        ("lite", "at head; last run upgrade success")]
    shutil.copytree(REPO / "data_migrations", project / "data_migrations")
    data = invoke("data-migrate", "--group", "mixed", "--format", "json", cwd=project)
    assert data.exit_code == 0, data.stdout + data.stderr
    assert [t["summary"] for t in json.loads(data.stdout)["targets"]] == [
        "orders_total_recompute: done (0 rows), users_email_lowercase: done (0 rows)"] * 3
    tenant_status = invoke("status", "--group", "tenants", "--format", "json", cwd=project)
    summaries = {t["summary"].split(" at 20")[0] for t in json.loads(tenant_status.stdout)["targets"]}
    assert summaries == {"at head; last run upgrade success"}
    drift = invoke("check-drift", "--group", "tenants", "--parallel", "3", cwd=project)
    assert drift.exit_code == 0, drift.stdout[-2000:]


@pytest.mark.postgres
@pytest.mark.mariadb
def test_failing_tenant_canary_continue_and_resume(
    invoke: Callable[..., Result], fleet: tuple[Path, str, list[str]]
) -> None:
    project, main, tenants = fleet
    url = f"postgresql+psycopg://postgres@127.0.0.1/{main}"
    execute(url, "CREATE TABLE tenant_07.users (id int)")  # 0001 will fail on this tenant only
    stops = invoke("upgrade", "--group", "tenants", "--parallel", "2", "--format", "json", cwd=project)
    assert stops.exit_code == 1
    data = json.loads(stops.stdout)
    outcomes = {t["target"]: t["outcome"] for t in data["targets"]}
    assert outcomes["tenant_07"] == "failed" and "skipped" in outcomes.values()
    assert data["error"]["message"].startswith("upgrade failed on 1 of 51 target(s): tenant_07;")

    canary = invoke("upgrade", "--group", "tenants", "--canary", "tenant_07", "--continue-on-error",
                    "--format", "json", cwd=project)
    assert canary.exit_code == 1
    targets = json.loads(canary.stdout)["targets"]
    skipped = [t for t in targets if t["outcome"] == "skipped"]
    done = [t for t in targets if t["summary"] == "already at target"]  # read before anything ran, not run
    assert done and len(skipped) + len(done) == 50  # the canary failed: nothing else ran, despite --continue-on-error
    assert all(t["from_revisions"] == t["to_revisions"] == ["0002"] for t in done)

    cont = invoke("upgrade", "--group", "tenants", "--continue-on-error", "--format", "json", cwd=project)
    assert cont.exit_code == 1
    outcomes = {t["target"]: t["outcome"] for t in json.loads(cont.stdout)["targets"]}
    assert [t for t, o in outcomes.items() if o != "ok"] == ["tenant_07"]

    execute(url, "DROP TABLE tenant_07.users")  # fixed: re-running resumes the rollout
    resumed = invoke("upgrade", "--group", "tenants", "--format", "json", cwd=project)
    assert resumed.exit_code == 0
    summaries = {t["target"]: t["summary"] for t in json.loads(resumed.stdout)["targets"]}
    assert summaries["tenant_07"] == "2 revision(s) applied"
    assert sum(1 for s in summaries.values() if s == "already at target") == 50
    assert set(_versions(main).values()) == {"0002"}


def test_shards_partition_the_targets() -> None:
    from dbops.config import Config

    config = Config(root=Path("."), url="sqlite://", url_source="test", script_location=Path("."))
    refs = [TargetRef(f"tenant_{i}", config) for i in range(1000)]
    shards = [shard_of(refs, f"{k}/8") for k in range(1, 9)]
    names = [r.name for s in shards for r in s]
    assert sorted(names) == sorted(r.name for r in refs)  # every target in exactly one shard
    assert all(90 <= len(s) <= 160 for s in shards)  # and spread roughly evenly
    assert [r.name for r in shard_of(refs, "3/8")] == [r.name for r in shards[2]]  # deterministic


@pytest.mark.postgres
@pytest.mark.mariadb
def test_interrupted_rollout_resumes(fleet: tuple[Path, str, list[str]]) -> None:
    import os
    import signal
    import subprocess
    import sys

    project, main, tenants = fleet
    exe = str(Path(sys.executable).with_name("dbops"))
    proc = subprocess.Popen([exe, "upgrade", "--group", "tenants", "--parallel", "1"], cwd=project,
                            env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(v == "0002" for v in _versions(main).values()) < 5:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole rollout, workers included, dies mid-way
    proc.wait()
    done_before = sum(v == "0002" for v in _versions(main).values())
    assert 5 <= done_before < len(tenants)
    resumed = subprocess.run([exe, "upgrade", "--group", "tenants", "--format", "json"], cwd=project,
                             env={**os.environ}, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summaries = [t["summary"] for t in json.loads(resumed.stdout)["targets"]]
    assert summaries.count("already at target") >= done_before - 1  # the one killed mid-revision may redo it
    assert set(_versions(main).values()) == {"0002"} and len(_versions(main)) == len(tenants)


@pytest.mark.parametrize(("env", "shard"), [
    ({"DBOPS_SHARD": "3/8"}, ("3/8", "DBOPS_SHARD")),
    ({"JOB_COMPLETION_INDEX": "0", "DBOPS_SHARD_COUNT": "4"}, ("1/4", "JOB_COMPLETION_INDEX and DBOPS_SHARD_COUNT")),
    ({"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "5"}, ("2/5", "CI_NODE_INDEX and CI_NODE_TOTAL")),  # GitLab: 1-based
    ({"CIRCLE_NODE_INDEX": "4", "CIRCLE_NODE_TOTAL": "5"}, ("5/5", "CIRCLE_NODE_INDEX and CIRCLE_NODE_TOTAL")),
    ({"BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "3"},
     ("2/3", "BUILDKITE_PARALLEL_JOB and BUILDKITE_PARALLEL_JOB_COUNT")),
])
def test_shard_auto_reads_the_runner(env: dict[str, str], shard: tuple[str, str]) -> None:
    from dbops.targets.expand import shard_from_environment

    assert shard_from_environment(env) == shard


def test_shard_auto_without_a_count_or_an_index_says_what_to_set() -> None:
    from dbops.errors import ConfigError
    from dbops.targets.expand import shard_from_environment

    with pytest.raises(ConfigError, match="DBOPS_SHARD_COUNT"):
        shard_from_environment({"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(ConfigError, match="found none of the variables"):
        shard_from_environment({})


@pytest.mark.postgres
def test_four_indexed_jobs_side_by_side_migrate_every_tenant_exactly_once(tmp_path: Path) -> None:
    """Four `dbops upgrade --group tenants --shard auto` processes at once, as a Kubernetes Indexed Job
    with completions=4 runs them (JOB_COMPLETION_INDEX 0..3, DBOPS_SHARD_COUNT=4), over 100 tenants:
    each tenant is migrated by exactly one job (one audit row per revision per tenant) and together
    they cover every tenant."""
    import os
    import subprocess
    import sys

    tag = uuid.uuid4().hex[:6]
    main = f"dbops_shards_{tag}"
    _admin(f'CREATE DATABASE "{main}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1/{main}"
    tenants = [f"tenant_{i:03d}" for i in range(100)]
    try:
        execute(url, *(f"CREATE SCHEMA {t}" for t in tenants))
        project = tmp_path / "shards"
        project.mkdir()
        shutil.copytree(REPO / "migrations", project / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
        (project / "dbops.toml").write_text(f'''metadata = "shop.models:metadata"
script_location = "migrations"

[groups.tenants]
url = "{url}"
schemas_sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1"
''')
        dbops = str(Path(sys.executable).with_name("dbops"))
        jobs = [subprocess.Popen([dbops, "upgrade", "--group", "tenants", "--shard", "auto", "--parallel", "2",
                                  "--format", "json"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env={**os.environ, "JOB_COMPLETION_INDEX": str(i), "DBOPS_SHARD_COUNT": "4",
                                                 "PYTHONPATH": str(REPO)})
                for i in range(4)]
        reports = []
        for job in jobs:
            out, err = job.communicate(timeout=600)
            assert job.returncode == 0, err[-2000:]
            reports.append(json.loads(out))
        assert [r["shard"] for r in reports] == [f"{i}/4 (from JOB_COMPLETION_INDEX and DBOPS_SHARD_COUNT)"
                                                 for i in range(1, 5)]
        names = [t["target"] for r in reports for t in r["targets"]]
        assert sorted(names) == tenants  # every tenant, each in exactly one job
        assert all(len(r["targets"]) > 0 for r in reports)
        assert set(_versions(main).values()) == {"0002"}
        for tenant in tenants:  # each revision applied once in each tenant: one audit row each
            rows = execute(url, f"SELECT revision, count(*) FROM {tenant}.dbops_history WHERE outcome = 'success' "
                                "AND revision IS NOT NULL GROUP BY revision ORDER BY revision")[0]
            assert [tuple(r) for r in rows] == [("0001", 1), ("0002", 1)], tenant
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{main}" WITH (FORCE)')


@contextmanager
def _tenant_app(tmp_path: Path, prefix: str, revision: tuple[str, str],
                tenants: list[str]) -> Iterator[tuple[Path, str]]:
    """(a project whose one revision is ``revision`` (id, upgrade body), its database's URL): a fresh
    database with the ``tenants`` schemas as the group ``tenants``; dropped afterwards."""
    from tests.helpers import dbops_app

    main = f"{prefix}_{uuid.uuid4().hex[:6]}"
    _admin(f'CREATE DATABASE "{main}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1/{main}"
    try:
        execute(url, *(f"CREATE SCHEMA {t}" for t in tenants))
        rev, body = revision
        yield dbops_app(tmp_path, "app", [(rev, None, rev, body, "    pass")],
                        toml=f'[groups.tenants]\nurl = "{url}"\nschemas_sql = "SELECT nspname FROM pg_namespace '
                        "WHERE nspname LIKE 'tenant_%' ORDER BY 1\"\n"), url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{main}" WITH (FORCE)')


SESSION_PROBE = '''    op.execute("CREATE TABLE seen AS SELECT current_setting('work_mem') AS work_mem, "
               "current_setting('application_name') AS app, pg_backend_pid() AS pid, "
               "(SELECT count(*) FROM pg_class WHERE relpersistence = 't') AS temp_tables, "
               "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks")
    op.execute("SET work_mem = '77kB'")
    op.execute("CREATE TEMP TABLE leftover (x int)")'''


@pytest.mark.postgres
def test_a_worker_reuses_its_session_for_the_next_tenant_reset_to_a_fresh_one(
        invoke: Callable[..., Result], tmp_path: Path) -> None:
    """A worker keeps one server session for the tenants of one database (no reconnect per tenant), and
    each tenant's migration starts from a fresh session's state: what the previous tenant's revision
    set (a setting, a temporary table) is gone, its lock is released, its application_name is its own."""
    tenants = ["tenant_a", "tenant_b", "tenant_c"]
    with _tenant_app(tmp_path, "dbops_reuse", ("p1", SESSION_PROBE), tenants) as (app, url):
        default = execute(url, "SELECT current_setting('work_mem')")[0][0][0]
        result = invoke("upgrade", "--group", "tenants", "--parallel", "1", cwd=app)
        assert result.exit_code == 0, result.stdout + result.stderr
        seen = {t: tuple(execute(url, f"SELECT work_mem, app, pid, temp_tables, locks FROM {t}.seen")[0][0])
                for t in tenants}
        assert len({row[2] for row in seen.values()}) == 1  # one backend served the three tenants
        for tenant, (work_mem, app_name, _pid, temps, locks) in seen.items():
            assert (work_mem, app_name, temps) == (default, f"dbops-migration:{tenant}", 0), tenant
            assert locks == 1, tenant  # its own migration lock, nothing left from the tenant before


def test_the_indexed_has_table_answers_as_sqlalchemys(pg_psycopg_url: str) -> None:
    """dbops's engines look tables up with to_regclass (SQLAlchemy 2.1's PostgreSQL has_table scans
    pg_class: ~2 ms per call with 200 tenant schemas); the answers must be SQLAlchemy's."""
    import sqlalchemy as sa

    from dbops.db.engine import create_engine_for

    execute(pg_psycopg_url, "CREATE SCHEMA other", 'CREATE TABLE "Mixed" (id int)', "CREATE TABLE plain (id int)",
            "CREATE VIEW v AS SELECT 1 AS x", "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x",
            "CREATE TABLE parted (d date) PARTITION BY RANGE (d)", "CREATE SEQUENCE seq",
            "CREATE INDEX ix_plain ON plain (id)", "CREATE TABLE other.inner_t (id int)")
    ours = create_engine_for(sa.make_url(pg_psycopg_url))
    theirs = sa.create_engine(pg_psycopg_url)
    cases = [("plain", None), ("Mixed", None), ("mixed", None), ("v", None), ("mv", None), ("parted", None),
             ("seq", None), ("ix_plain", None), ("nosuch", None), ("inner_t", None), ("inner_t", "other"),
             ("plain", "other"), ("plain", "nosuch_schema"), ('we"ird', None), ("temp_t", None)]
    try:
        with ours.connect() as a, theirs.connect() as b:
            for conn in (a, b):
                conn.exec_driver_sql("CREATE TEMP TABLE temp_t (id int)")
            answers = [(a.dialect.has_table(a, name, schema=schema), b.dialect.has_table(b, name, schema=schema))
                       for name, schema in cases]
            assert ours.dialect.has_table.__func__ is not theirs.dialect.has_table.__func__  # really ours
    finally:
        ours.dispose()
        theirs.dispose()
    assert [x for x, _ in answers] == [y for _, y in answers], list(zip(cases, answers, strict=True))
    assert [x for x, _ in answers] == [True, True, False, True, True, True, False, False, False, False, True,
                                       False, False, False, True]


DIES_ON_B = '''    import os
    op.execute("CREATE TABLE t (id int)")
    if op.get_bind().exec_driver_sql("SELECT current_schema()").scalar() == "tenant_b":
        os._exit(7)  # the worker dies: a segfault in a driver, the OOM killer, kill -9'''


@pytest.mark.postgres
@pytest.mark.parametrize("keep_going", [True, False])
def test_a_worker_that_dies_is_replaced_and_its_target_reported(
        invoke: Callable[..., Result], tmp_path: Path, keep_going: bool) -> None:
    """A worker process that dies mid-target sinks neither the rollout nor the report: that target is
    failed with where its version table stands, a new worker takes the next targets (with
    --continue-on-error), and the exit code says a target failed."""
    tenants = ["tenant_a", "tenant_b", "tenant_c", "tenant_d"]
    with _tenant_app(tmp_path, "dbops_dies", ("d1", DIES_ON_B), tenants) as (app, url):
        args = ["upgrade", "--group", "tenants", "--parallel", "1", "--format", "json"]
        result = invoke(*args, *(["--continue-on-error"] if keep_going else []), cwd=app)
        assert result.exit_code == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        rows = {t["target"]: t for t in json.loads(result.stdout)["targets"]}
        assert rows["tenant_b"]["outcome"] == "failed" and rows["tenant_b"]["summary"] == "worker died"
        assert "worker process running it died" in rows["tenant_b"]["error"]
        assert "version table now says base" in rows["tenant_b"]["error"]  # its transaction died with it
        assert rows["tenant_a"]["outcome"] == "ok"
        after = ["ok", "ok"] if keep_going else ["skipped", "skipped"]
        assert [rows[t]["outcome"] for t in ("tenant_c", "tenant_d")] == after
        versions = execute(url, *(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{t}' AND tablename = 't'"
                                  for t in tenants))
        assert [v[0][0] for v in versions] == [1, 0, 1 if keep_going else 0, 1 if keep_going else 0]
