"""Every option of every fan-out verb reaches the targets through the fan-out path.

A fan-out that dropped ``--sql`` once applied migrations while promising a preview; these tests
run each option through ``--group`` on real PostgreSQL and check its effect on the databases.
"""
from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import Result

from tests.helpers import REPO, execute

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TENANTS = ["tenant_a", "tenant_b", "tenant_c"]
pytestmark = pytest.mark.postgres


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Three tenant schemas in one database (group `tenants`), and a group `down` whose only
    target is a closed port."""
    db = f"dbops_fanopt_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1/{db}"
    execute(url, *(f"CREATE SCHEMA {t}" for t in TENANTS))
    project = tmp_path / "fleet"
    project.mkdir()
    shutil.copytree(REPO / "migrations", project / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data_migrations", project / "data_migrations",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / "dbops.toml").write_text(f'''metadata = "shop.models:metadata"
script_location = "migrations"

[targets.closed]
url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
[targets.solo]
url = "{url}"

[groups.down]
targets = ["closed"]
[groups.solo]
targets = ["solo"]

[groups.tenants]
url = "postgresql+asyncpg://postgres@127.0.0.1/{db}"
schemas_sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1"
''')
    try:
        yield project, url
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _catalog(url: str) -> dict[str, object]:
    """Everything a preview could write: relations per schema, version rows, audit rows."""
    rels = execute(url, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2")[0]
    out: dict[str, object] = {"relations": [tuple(r) for r in rels]}
    for schema, name in rels:
        if name in ("alembic_version", "dbops_history", "dbops_data_migrations"):
            out[f"{schema}.{name}"] = sorted(map(tuple, execute(url, f"SELECT * FROM {schema}.{name}")[0]), key=str)
    return out


def _versions(url: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for t in TENANTS:
        exists = execute(url, f"SELECT to_regclass('{t}.alembic_version') IS NOT NULL")[0][0][0]
        rows = execute(url, f"SELECT version_num FROM {t}.alembic_version")[0] if exists else []
        out[t] = rows[0][0] if rows else None
    return out


def _targets(result: Result) -> dict[str, dict[str, object]]:
    return {t["target"]: t for t in json.loads(result.stdout)["targets"]}


def _sections(script: str) -> dict[str, str]:
    """A fan-out SQL preview split into each target's part."""
    parts = re.split(r"^-- ===== target (\S+): .*=====$", script, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_upgrade_sql_under_fan_out_previews_and_writes_nothing(
    invoke: Callable[..., Result], fleet: tuple[Path, str]
) -> None:
    project, url = fleet
    before = _catalog(url)
    table = invoke("upgrade", "--group", "tenants", "--sql", cwd=project)
    assert table.exit_code == 0, table.stdout + table.stderr
    assert _catalog(url) == before  # nothing created: no version table, no audit table, no app table
    sections = _sections(table.stdout)
    assert list(sections) == TENANTS
    for tenant, sql in sections.items():
        assert f'SET search_path TO "{tenant}", public;' in sql
        assert "CREATE TABLE users" in sql and f"INSERT INTO {tenant}.alembic_version" in sql
    assert table.stdout.rstrip().endswith("a preview: nothing was applied.")

    as_json = invoke("upgrade", "--group", "tenants", "--sql", "--format", "json", cwd=project)
    assert as_json.exit_code == 0
    for t in _targets(as_json).values():
        assert t["summary"] == "SQL preview of 2 revision(s); nothing applied"
        assert t["from_revisions"] == [] and "CREATE TABLE users" in str(t["sql"])
    assert _catalog(url) == before

    # from a real revision: only what each tenant lacks, and the script is runnable as printed
    assert invoke("upgrade", "0001", "--group", "tenants", cwd=project).exit_code == 0
    before = _catalog(url)
    pending = invoke("upgrade", "--group", "tenants", "--sql", cwd=project)
    assert pending.exit_code == 0
    assert _catalog(url) == before
    sections = _sections(pending.stdout)
    assert all("CREATE TABLE users" not in s and "ALTER TABLE orders" in s for s in sections.values())
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={url.rsplit('/', 1)[1]}", autocommit=True) as conn:
        conn.execute(sections["tenant_b"].encode())  # type: ignore[call-overload]
    assert _versions(url) == {"tenant_a": "0001", "tenant_b": "0002", "tenant_c": "0001"}
    cols = execute(url, "SELECT table_schema FROM information_schema.columns WHERE table_name = 'orders' "
                        "AND column_name = 'total' ORDER BY 1")[0]
    assert [c[0] for c in cols] == ["tenant_b"]  # the printed SQL went to its tenant, not to public


def test_wait_reaches_every_target(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    project, _ = fleet
    started = time.monotonic()
    waited = invoke("upgrade", "--group", "down", "--wait", "1.5", "--format", "json", cwd=project)
    assert waited.exit_code == 1
    assert time.monotonic() - started >= 1.5
    assert "Gave up after waiting 1.5s" in str(_targets(waited)["closed"]["error"])
    plain = invoke("upgrade", "--group", "down", "--format", "json", cwd=project)
    assert "Gave up" not in str(_targets(plain)["closed"]["error"])


def test_lock_wait_reaches_upgrade_and_downgrade(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    from dbops.config import load_config
    from dbops.safety.guard import migration_guard
    from dbops.targets.expand import select_targets

    project, url = fleet
    refs = {r.name: r for r in select_targets(load_config(cwd=project, environ={}), group="tenants",
                                                   all_targets=False, shard=None)}
    assert invoke("upgrade", "0001", "--group", "tenants", cwd=project).exit_code == 0
    with migration_guard(refs["tenant_b"].config, lock_wait=1):  # another runner holds tenant_b
        for args in (("upgrade",), ("downgrade", "-1")):
            started = time.monotonic()
            result = invoke(*args, "--group", "tenants", "--lock-wait", "0.5", "--continue-on-error",
                            "--format", "json", cwd=project)
            assert result.exit_code == 1, result.stdout
            assert 0.5 <= time.monotonic() - started < 30  # waited, but not the 60 s default
            targets = _targets(result)
            assert targets["tenant_b"]["outcome"] == "failed"
            assert "Another runner holds the lock" in str(targets["tenant_b"]["error"])
            assert {targets[t]["outcome"] for t in ("tenant_a", "tenant_c")} == {"ok"}
    assert _versions(url) == {"tenant_a": "0001", "tenant_b": "0001", "tenant_c": "0001"}
    assert invoke("downgrade", "base", "--group", "tenants", cwd=project).exit_code == 0
    assert set(_versions(url).values()) == {None}


def _failed_rows(url: str, tenant: str) -> int:
    return int(execute(url, f"SELECT count(*) FROM {tenant}.dbops_history WHERE outcome = 'failed'")[0][0][0])


def test_safety_options_reach_every_target(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    project, url = fleet
    assert invoke("upgrade", "0001", "--group", "tenants", cwd=project).exit_code == 0
    db = url.rsplit("/", 1)[1]
    holder = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db} application_name=holder")
    try:
        holder.execute("LOCK TABLE tenant_a.orders IN ACCESS SHARE MODE")  # idle in transaction from here

        strict = invoke("upgrade", "--group", "tenants", "--strict", "--continue-on-error", "--format", "json",
                        cwd=project)
        assert strict.exit_code == 3, strict.stdout
        targets = _targets(strict)
        assert targets["tenant_a"]["outcome"] == "check_failed" and "--strict" in str(targets["tenant_a"]["error"])
        assert _versions(url) == {"tenant_a": "0001", "tenant_b": "0002", "tenant_c": "0002"}

        retried = invoke("upgrade", "--group", "tenants", "--lock-timeout", "0.2", "--retries", "1",
                         "--format", "json", cwd=project)
        assert retried.exit_code == 1
        assert "lock" in str(_targets(retried)["tenant_a"]["error"]).lower()
        assert _failed_rows(url, "tenant_a") == 2  # one retry, as asked (the default is 3)

        timed = invoke("upgrade", "--group", "tenants", "--lock-timeout", "0", "--statement-timeout", "0.3",
                       "--retries", "0", "--format", "json", cwd=project)
        assert timed.exit_code == 1
        assert "statement timeout" in str(_targets(timed)["tenant_a"]["error"])
        assert _failed_rows(url, "tenant_a") == 3
    finally:
        holder.close()
    assert invoke("upgrade", "--group", "tenants", cwd=project).exit_code == 0
    assert set(_versions(url).values()) == {"0002"}


def test_current_check_and_drift_options_under_fan_out(
    invoke: Callable[..., Result], fleet: tuple[Path, str]
) -> None:
    project, url = fleet
    assert invoke("upgrade", "0001", "--group", "tenants", cwd=project).exit_code == 0
    assert invoke("current", "--group", "tenants", cwd=project).exit_code == 0
    checked = invoke("current", "--group", "tenants", "--check", "--format", "json", cwd=project)
    assert checked.exit_code == 3
    assert {t["outcome"] for t in _targets(checked).values()} == {"check_failed"}
    assert invoke("upgrade", "--group", "tenants", cwd=project).exit_code == 0
    assert invoke("current", "--group", "tenants", "--check", cwd=project).exit_code == 0

    execute(url, "ALTER TABLE tenant_c.users ADD COLUMN nickname text")  # out of band, one tenant
    drift = invoke("check-drift", "--group", "tenants", "--format", "json", cwd=project)
    assert drift.exit_code == 3
    assert [n for n, t in _targets(drift).items() if t["outcome"] == "check_failed"] == ["tenant_c"]
    ignored = invoke("check-drift", "--group", "tenants", "--ignore", "column:users.nickname", cwd=project)
    assert ignored.exit_code == 0, ignored.stdout
    # --against migrations never reads the live tenants: the out-of-band column is not its business
    assert invoke("check-drift", "--group", "tenants", "--against", "migrations", cwd=project).exit_code == 0


def test_data_migrate_options_under_fan_out(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    project, url = fleet
    assert invoke("upgrade", "--group", "solo", cwd=project).exit_code == 0
    execute(url, "INSERT INTO users (id, email, hashed_password, is_active) VALUES "
                 "(1, 'A@X.ORG', 'x', true), (2, 'B@X.ORG', 'x', true)")
    before = _catalog(url)
    dry = invoke("data-migrate", "users_email_lowercase", "--group", "solo", "--dry-run", "--format", "json",
                 cwd=project)
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert _catalog(url) == before  # no checkpoint written
    assert execute(url, "SELECT email FROM users ORDER BY id")[0] == [("A@X.ORG",), ("B@X.ORG",)]
    listed = invoke("data-migrate", "--list", "--group", "solo", "--format", "json", cwd=project)
    assert listed.exit_code == 0
    assert "users_email_lowercase: pending" in str(_targets(listed)["solo"]["summary"])
    real = invoke("data-migrate", "users_email_lowercase", "--group", "solo", "--batch-size", "1",
                  "--format", "json", cwd=project)
    assert real.exit_code == 0
    assert _targets(real)["solo"]["summary"] == "users_email_lowercase: done (2 rows)"
    assert execute(url, "SELECT email FROM users ORDER BY id")[0] == [("a@x.org",), ("b@x.org",)]


def test_probe_options_under_fan_out(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    project, _ = fleet
    watch = invoke("probe", "--group", "solo", "--watch", "1", cwd=project)
    assert watch.exit_code == 2 and "--watch" in watch.stderr
    bouncer = invoke("probe", "--group", "solo", "--pgbouncer", "postgresql://pgbouncer@127.0.0.1:1/pgbouncer",
                     "--format", "json", cwd=project)
    assert "pgbouncer" in json.dumps(_targets(bouncer)["solo"]).lower()


def test_the_remaining_options_reach_every_target(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    project, url = fleet
    assert invoke("upgrade", "--group", "solo", cwd=project).exit_code == 0
    execute(url, "INSERT INTO users (id, email, hashed_password, is_active) VALUES "
                 "(1, 'A@X.ORG', 'x', true), (2, 'B@X.ORG', 'x', true), (3, 'C@X.ORG', 'x', true)")
    # throttles: 3 rows in batches of 1 at 2 rows/s and a 0.3 s pause take >= 1 s; without them, far less
    started = time.monotonic()
    slow = invoke("data-migrate", "users_email_lowercase", "--group", "solo", "--batch-size", "1",
                  "--max-rows-per-second", "2", "--pause", "0.3", "--batch-seconds", "5", "--lock-timeout", "1",
                  "--format", "json", cwd=project)
    assert slow.exit_code == 0, slow.stdout
    assert time.monotonic() - started >= 1.0
    assert _targets(slow)["solo"]["summary"] == "users_email_lowercase: done (3 rows)"
    execute(url, "UPDATE users SET email = upper(email)")
    emails = "SELECT string_agg(email, ',' ORDER BY id) FROM users"
    assert invoke("data-migrate", "users_email_lowercase", "--group", "solo", cwd=project).exit_code == 0
    assert execute(url, emails)[0][0][0] == "A@X.ORG,B@X.ORG,C@X.ORG"  # finished before: not run again
    reset = invoke("data-migrate", "users_email_lowercase", "--group", "solo", "--reset", cwd=project)
    assert reset.exit_code == 0
    assert execute(url, emails)[0][0][0] == "a@x.org,b@x.org,c@x.org"  # --reset reached the target

    scratch = invoke("check-drift", "--group", "solo", "--scratch-url",
                     "postgresql+psycopg://postgres@127.0.0.1:1/postgres", "--format", "json", cwd=project)
    assert scratch.exit_code == 1
    assert "127.0.0.1:1" in str(_targets(scratch)["solo"]["error"])  # the scratch server it was told to use

    bad = invoke("probe", "--group", "solo", "--threshold", "no_such_threshold=1", "--format", "json", cwd=project)
    assert "no_such_threshold" in str(_targets(bad)["solo"]["error"])
    shown = invoke("probe", "--group", "solo", "--show-queries", "--statement-timeout", "1.5", "--format", "json",
                   cwd=project)
    assert _targets(shown)["solo"]["outcome"] in ("ok", "check_failed")


def test_one_target_of_a_group(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    project, url = fleet
    one = invoke("upgrade", "--target", "tenants:tenant_b", "--format", "json", cwd=project)
    assert one.exit_code == 0, one.stdout + one.stderr
    assert [s["revision"] for s in json.loads(one.stdout)["steps"]] == ["0001", "0002"]
    assert _versions(url) == {"tenant_a": None, "tenant_b": "0002", "tenant_c": None}  # that tenant only
    current = invoke("current", "--target", "tenants:tenant_b", "--check", cwd=project)
    assert current.exit_code == 0, current.stdout + current.stderr
    missing = invoke("current", "--target", "tenants:tenant_z", cwd=project)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: Group 'tenants' has no target 'tenant_z' (3 target(s): tenant_a, "
                                     "tenant_b, tenant_c).")


def test_probe_over_schema_tenants_probes_their_database_once(invoke: Callable[..., Result],
                                                              fleet: tuple[Path, str]) -> None:
    """Three tenant schemas of one database: one probe answers for all three, and says so."""
    project, _ = fleet
    result = invoke("probe", "--group", "tenants", "--format", "json", cwd=project)
    targets = json.loads(result.stdout)["targets"]
    assert [(t["target"], t["serves"]) for t in targets] == [("tenant_a", ["tenant_b", "tenant_c"])]
    assert targets[0]["outcome"] in ("ok", "check_failed")
    table = invoke("probe", "--group", "tenants", cwd=project)
    # rich wraps the table at 80 columns, and where the line breaks depends on the probe's findings (an idle
    # session another test left makes one longer): compare with the whitespace folded
    assert "(also 2 target(s) on the same database: tenant_b, tenant_c)" in " ".join(table.stdout.split())


def test_a_rollout_reads_every_tenant_version_once_and_runs_only_the_behind(invoke: Callable[..., Result],
                                                                             fleet: tuple[Path, str]) -> None:
    """One query reads the three tenants' version tables: those at head are answered from it (no worker, no
    lock), the behind one runs, and a tenant at a revision no file knows is left to its own run, which
    refuses it as a single upgrade would."""
    project, url = fleet
    assert invoke("upgrade", "--group", "tenants", cwd=project).exit_code == 0
    assert invoke("downgrade", "base", "--target", "tenants:tenant_b", cwd=project).exit_code == 0
    execute(url, "UPDATE tenant_c.alembic_version SET version_num = 'f00dfeed'")
    history = "SELECT count(*) FROM tenant_a.dbops_history"
    rows_before = execute(url, history)[0][0][0]
    result = invoke("upgrade", "--group", "tenants", "--continue-on-error", "--format", "json", cwd=project)
    targets = {t["target"]: t for t in json.loads(result.stdout)["targets"]}
    assert targets["tenant_a"]["summary"] == "already at target" and targets["tenant_a"]["to_revisions"] == ["0002"]
    assert targets["tenant_b"]["summary"] == "2 revision(s) applied"
    assert targets["tenant_c"]["outcome"] == "failed" and "f00dfeed" in targets["tenant_c"]["error"]
    assert execute(url, history)[0][0][0] == rows_before  # tenant_a: nothing ran there, nothing was written
    assert result.exit_code == 1


def test_a_targets_warnings_reach_the_rollout_report(invoke: Callable[..., Result], fleet: tuple[Path, str]) -> None:
    """What a target's run says besides its result (here: an applied revision was edited since) is in its
    row (JSON) and under the table, not dropped."""
    project, _ = fleet
    assert invoke("upgrade", "--group", "solo", cwd=project).exit_code == 0
    first = next((project / "migrations" / "versions").glob("0001_*.py"))
    first.write_text(first.read_text() + "\n_EDITED_AFTER_IT_RAN = True\n")
    result = invoke("upgrade", "--group", "solo", "--format", "json", cwd=project)
    assert result.exit_code == 0
    [solo] = json.loads(result.stdout)["targets"]
    assert solo["summary"] == "already at target"
    assert any("revision 0001 was edited after it was applied" in w for w in solo["warnings"])
    table = invoke("upgrade", "--group", "solo", cwd=project)
    assert "(1 warning(s), below)" in table.stdout
    assert "warning: solo: revision 0001 was edited after it was applied" in table.stdout


def test_a_long_detail_never_hides_which_targets_a_probe_answered_for() -> None:
    """The detail is clipped to keep the table readable, never the `(also N target(s) ...)` part after it
    (a probe that found idle sessions lost it under -n 2, when another test left one)."""
    import io

    from dbops.render import render
    from dbops.reports.targets import FanOutReport, TargetResult

    long = "WARN: " + ", ".join(f"finding number {i} about an idle session" for i in range(10))
    report = FanOutReport("probe", "tenants", 4, None, (TargetResult("tenant_a", "ok", summary=long,
                                                                     serves=("tenant_b", "tenant_c")),))
    out = io.StringIO()
    render(report, "table", out)
    text = " ".join(out.getvalue().split())
    assert "(also 2 target(s) on the same database: tenant_b, tenant_c)" in text and "…" in text
