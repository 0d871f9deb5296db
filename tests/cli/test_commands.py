"""Every migration command through the CLI: exact output and exit codes."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import REPO, schema_of

DURATION = r"\d+\.\d (ms|s)"


def _masked(url: str) -> str:
    return url


def test_upgrade_table_output(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("upgrade", "--database-url", sqlite_url)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"Upgraded {re.escape(sqlite_url)}: base -> 0002 \(2 revisions in {DURATION}\)", lines[0])
    assert re.fullmatch(r"revision\s+message\s+duration", lines[1])
    assert re.fullmatch(rf"0001\s+initial schema\s+{DURATION}", lines[2])
    assert re.fullmatch(rf"0002\s+orders\.total: add, backfill in batches, then NOT NULL\s+{DURATION}", lines[3])
    assert len(lines) == 4
    assert result.stderr == ""

    again = invoke("upgrade", "--database-url", sqlite_url)
    assert again.stdout == f"Nothing to do: {sqlite_url} is already at 0002.\n"


def test_upgrade_json(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("upgrade", "0001", "--database-url", sqlite_url, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["command"] == "upgrade"
    assert data["from_revisions"] == [] and data["to_revisions"] == ["0001"]
    assert [s["revision"] for s in data["steps"]] == ["0001"]
    assert data["steps"][0]["direction"] == "upgrade"
    assert data["steps"][0]["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", data["finished_at"])


def test_downgrade_then_current(invoke: Callable[..., Result], sqlite_url: str) -> None:
    invoke("upgrade", "--database-url", sqlite_url)
    result = invoke("downgrade", "-1", "--database-url", sqlite_url)
    assert result.exit_code == 0
    assert re.match(rf"Downgraded {re.escape(sqlite_url)}: 0002 -> 0001 \(1 revision in {DURATION}\)\n",
                    result.stdout)
    current = invoke("current", "--database-url", sqlite_url)
    assert current.exit_code == 0
    lines = [line.rstrip() for line in current.stdout.splitlines()]
    assert lines[:3] == [sqlite_url, "current: 0001   head: 0002   (1 pending)", "pending:"]
    assert re.fullmatch(r"0002\s+0001\s+orders\.total: add, backfill in batches, then NOT NULL\s+head", lines[4])

    check = invoke("current", "--check", "--database-url", sqlite_url, "--format", "json")
    assert check.exit_code == 3
    data = json.loads(check.stdout)
    assert data["at_head"] is False and data["current"] == ["0001"]
    assert data["error"]["kind"] == "not_at_head"
    assert check.stderr == (
        "Error: The database is at 0001, not at head 0002: 1 revision(s) pending. Usually a deploy ran "
        "without its migrations.\nRun: dbops upgrade\n"
    )


def test_upgrade_sql_starts_at_the_databases_revision(invoke: Callable[..., Result], any_url: str) -> None:
    invoke("upgrade", "0001", "--database-url", any_url)
    result = invoke("upgrade", "--sql", "--database-url", any_url)
    assert result.exit_code == 0
    assert "-- Running upgrade 0001 -> 0002" in result.stdout
    assert "Running upgrade  -> 0001" not in result.stdout
    assert "CREATE TABLE users" not in result.stdout
    assert "ALTER TABLE orders ADD COLUMN total NUMERIC(12, 2)" in result.stdout
    assert schema_of(any_url)["version"] == ["0001"]  # preview only

    invoke("upgrade", "--database-url", any_url)
    done = invoke("upgrade", "--sql", "--database-url", any_url)
    assert done.stdout == "-- nothing to do: the database is already at 0002\n"


def test_upgrade_sql_from_empty_database(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("upgrade", "--sql", "--database-url", sqlite_url)
    assert "CREATE TABLE alembic_version" in result.stdout
    assert "CREATE TABLE users" in result.stdout
    assert schema_of(sqlite_url)["tables"] == []


def test_stamp(invoke: Callable[..., Result], sqlite_url: str) -> None:
    result = invoke("stamp", "0001", "--database-url", sqlite_url)
    assert result.exit_code == 0
    assert result.stdout == f"Stamped {sqlite_url}: base -> 0001 (no migrations run)\n"
    assert schema_of(sqlite_url) == {"tables": [], "indexes": {}, "version": ["0001"]}


def test_heads_and_history(invoke: Callable[..., Result], sqlite_url: str) -> None:
    heads = invoke("heads")
    assert heads.exit_code == 0
    assert [line.split()[0] for line in heads.stdout.splitlines()[1:]] == ["0002"]
    history = invoke("history", "--format", "json")
    data = json.loads(history.stdout)
    assert [r["revision"] for r in data["revisions"]] == ["0002", "0001"]
    assert data["revisions"][0]["is_head"] is True and data["current"] is None
    invoke("upgrade", "0001", "--database-url", sqlite_url)
    marked = invoke("history", "--indicate-current", "--database-url", sqlite_url)
    rows = [line.split() for line in marked.stdout.splitlines()[1:]]
    assert rows[0][0] == "0002" and rows[0][-1] == "head"
    assert rows[1][0] == "0001" and rows[1][-1] == "current"


def test_revision_autogenerate_on_changed_model(invoke: Callable[..., Result], project: Path, sqlite_url: str) -> None:
    invoke("upgrade", "--database-url", sqlite_url, cwd=project)
    models = project / "extra_models.py"
    models.write_text(
        "import sqlalchemy as sa\nfrom shop.models import metadata\n"
        "coupons = sa.Table('coupons', metadata, sa.Column('code', sa.String(20), primary_key=True))\n"
    )
    result = invoke("revision", "--autogenerate", "-m", "add coupons", "--rev-id", "0003",
                    "--metadata", "extra_models:metadata", "--database-url", sqlite_url, cwd=project)
    try:
        assert result.exit_code == 0, result.stderr
        created = project / "migrations" / "versions" / "0003_add_coupons.py"
        assert result.stdout.splitlines() == [
            f"Created revision 0003 (add coupons) -> {created}",
            "Detected 1 change(s); review the file before applying:",
            "  add_table coupons",
        ]
        assert "op.create_table('coupons'" in created.read_text()
        up = invoke("upgrade", "--database-url", sqlite_url, cwd=project)
        assert up.exit_code == 0
        assert "coupons" in schema_of(sqlite_url)["tables"]
    finally:
        from shop.models import metadata

        metadata.remove(metadata.tables["coupons"])


def test_revision_autogenerate_refuses_when_behind(
    invoke: Callable[..., Result], project: Path, sqlite_url: str
) -> None:
    invoke("upgrade", "0001", "--database-url", sqlite_url, cwd=project)
    result = invoke("revision", "--autogenerate", "-m", "x", "--database-url", sqlite_url, cwd=project)
    assert result.exit_code == 1
    assert "Run: dbops upgrade, then re-run dbops revision --autogenerate" in result.stderr
    assert sorted(p.name for p in (project / "migrations" / "versions").glob("*.py")) == [
        "0001_initial_schema.py", "0002_orders_total.py"]


def test_embedded_default_notice(invoke: Callable[..., Result], project: Path) -> None:
    result = invoke("upgrade", cwd=project)
    assert result.exit_code == 0
    assert result.stderr == (
        f"dbops: no database URL configured; using the embedded SQLite database {project / 'dbops.sqlite'} "
        "(set DATABASE_URL or --database-url to change).\n"
    )
    assert (project / "dbops.sqlite").is_file()
    quiet = invoke("current", "-q", cwd=project)
    assert quiet.stderr == "" and "(at head)" in quiet.stdout
    # check-drift with no database compares the models with a replay: it does not look at the file,
    # so it does not announce it; asked to compare with it, it does
    replay_only = invoke("check-drift", cwd=project)
    assert replay_only.exit_code == 0 and "embedded SQLite" not in replay_only.stderr
    assert "models vs migrations" in replay_only.stdout
    live = invoke("check-drift", "--against", "both", cwd=project)
    assert "using the embedded SQLite database" in live.stderr


def test_database_url_from_environment(invoke: Callable[..., Result], sqlite_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    result = invoke("upgrade", "0001", env={"DATABASE_URL": other, "DBOPS_DATABASE_URL": sqlite_url})
    assert result.exit_code == 0
    assert schema_of(sqlite_url)["version"] == ["0001"]
    assert not (tmp_path / "other.sqlite").exists()


def test_wait_gives_up_after_the_deadline(invoke: Callable[..., Result]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = invoke("upgrade", "--wait", "1", "--database-url", f"postgresql+psycopg://u:pw@127.0.0.1:{port}/d")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Gave up after waiting 1s (")
    assert "the connection was refused" in result.stderr


@pytest.mark.postgres
def test_wait_returns_when_server_is_up(invoke: Callable[..., Result], pg_asyncpg_url: str) -> None:
    result = invoke("upgrade", "--wait", "10", "--database-url", pg_asyncpg_url)
    assert result.exit_code == 0
    assert "base -> 0002" in result.stdout


def test_json_output_of_every_command_is_one_object(invoke: Callable[..., Result], sqlite_url: str) -> None:
    for args in (["upgrade"], ["current"], ["history"], ["heads"], ["downgrade", "base"], ["stamp", "head"]):
        extra = [] if args[0] == "heads" else ["--database-url", sqlite_url]
        result = invoke(*args, *extra, "--format", "json")
        assert result.exit_code == 0, (args, result.stderr)
        data = json.loads(result.stdout)
        assert isinstance(data, dict) and data["command"] == args[0]


def test_repo_is_the_reference_project() -> None:
    assert (REPO / "migrations" / "env.py").read_text().count("run_migrations()") == 1
