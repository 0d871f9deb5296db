"""check-drift through the CLI: three-way scenarios, scratch cleanup, output formats."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import REPO, REVISION_TEMPLATE, execute


def _scratch_databases(pid: int | None = None) -> list[str]:
    """The scratch databases of this process (or ``pid``): named dbops_scratch_<pid>_..., and other test
    runs may share the server."""
    prefix = f"dbops_scratch_{pid or os.getpid()}_%"
    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text(
                "SELECT datname FROM pg_database WHERE datname LIKE :prefix"), {"prefix": prefix})]
    finally:
        engine.dispose()


def _items(result: Result) -> list[tuple[str, str, str, str | None, str]]:
    data = json.loads(result.stdout)
    return [(i["verdict"], i["kind"], i["change"], i["table"], i["name"]) for i in data["items"]]


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_psycopg_url", "pg_asyncpg_url", "mariadb_url"])
def test_reference_app_is_clean(invoke: Callable[..., Result], request: pytest.FixtureRequest,
                                url_fixture: str) -> None:
    url = request.getfixturevalue(url_fixture)
    assert invoke("upgrade", "--database-url", url).exit_code == 0
    result = invoke("check-drift", "--database-url", url, "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["clean"] is True and data["items"] == [] and data["against"] == "both"
    assert data["live_revisions"] == ["0002"] and data["head_revisions"] == ["0002"]


def test_reference_app_against_migrations_without_a_database(invoke: Callable[..., Result], project: Path) -> None:
    result = invoke("check-drift", cwd=project)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "check-drift sqlite: models vs migrations (head 0002)"
    assert result.stdout.splitlines()[-1].startswith("Clean: no drift (0 pending) in ")
    assert not (project / "dbops.sqlite").exists()  # the scratch was a temporary file


@pytest.mark.postgres
def test_a_chain_that_fails_to_replay_is_reported_as_the_scratch_not_the_live_database(
        invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app).exit_code == 0
    # a revision edited after it ran: it no longer replays from an empty database
    third = mini_app / "migrations" / "versions" / "0003.py"
    third.write_text(third.read_text().replace("op.add_column('widgets', sa.Column('weight'",
                                               "op.add_column('gadgets', sa.Column('weight'"))
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--against", "migrations", "--format", "json",
                    cwd=mini_app)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "scratch_failed"
    assert error["message"].startswith("check-drift replays the migrations into a scratch database it creates, and "
                                       "the replay failed there, so nothing was compared (the live database was "
                                       "not touched): Revision 0003 (weight and index) failed: ")
    assert "gadgets" in error["message"] and "version table" not in error["message"]
    assert _scratch_databases() == []
    with sa.create_engine(pg_psycopg_url).connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0003"


@pytest.mark.postgres
def test_forgotten_migration(invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str) -> None:
    # the models have weight + index (0003) but the migrations stop at 0002
    (mini_app / "migrations" / "versions" / "0003.py").unlink()
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app).exit_code == 0
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=mini_app)
    assert result.exit_code == 3
    assert _items(result) == [
        ("missing_migration", "column", "missing", "widgets", "weight"),
        ("missing_migration", "index", "missing", "widgets", "ix_widgets_name"),
    ]
    data = json.loads(result.stdout)
    assert "op.add_column('widgets', sa.Column('weight'" in data["upgrade_code"]
    assert "op.create_index('ix_widgets_name', 'widgets', ['name'], unique=False)" in data["upgrade_code"]
    assert data["error"]["kind"] == "drift_detected"
    assert result.stderr.startswith("Error: Drift found: 2 missing_migration (the models differ from what the "
                                    "migrations build: usually a model changed without a revision).\n"
                                    "Run: dbops revision --autogenerate -m '...'")


@pytest.mark.postgres
def test_manual_alter_is_out_of_band(invoke: Callable[..., Result], mini_app: Path, pg_asyncpg_url: str) -> None:
    assert invoke("upgrade", "--database-url", pg_asyncpg_url, cwd=mini_app).exit_code == 0
    execute(pg_asyncpg_url, "ALTER TABLE widgets ALTER COLUMN name TYPE varchar(150)",
            "ALTER TABLE widgets ADD COLUMN hotfix int")
    result = invoke("check-drift", "--database-url", pg_asyncpg_url, "--format", "json", cwd=mini_app)
    assert result.exit_code == 3
    assert _items(result) == [
        ("out_of_band", "column", "extra", "widgets", "hotfix"),
        ("out_of_band", "type", "changed", "widgets", "name"),
    ]
    item = json.loads(result.stdout)["items"][1]
    assert (item["expected"], item["actual"]) == ("VARCHAR(100)", "VARCHAR(150)")


@pytest.mark.postgres
def test_two_revisions_behind_is_pending_not_drift(
    invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str
) -> None:
    assert invoke("upgrade", "0001", "--database-url", pg_psycopg_url, cwd=mini_app).exit_code == 0
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=mini_app)
    assert result.exit_code == 0, result.stderr
    assert _items(result) == [
        ("pending_migration", "column", "missing", "widgets", "color"),
        ("pending_migration", "column", "missing", "widgets", "weight"),
        ("pending_migration", "index", "missing", "widgets", "ix_widgets_name"),
    ]
    assert json.loads(result.stdout)["live_revisions"] == ["0001"]
    # and a manual change on the behind database is still caught, as out_of_band
    execute(pg_psycopg_url, "CREATE INDEX ix_by_hand ON widgets (name)")
    again = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=mini_app)
    assert again.exit_code == 3
    assert ("out_of_band", "index", "extra", "widgets", "ix_by_hand") in _items(again)
    two_way = invoke("check-drift", "--against", "database", "--database-url", pg_psycopg_url, "--format", "json",
                     cwd=mini_app)
    assert two_way.exit_code == 3
    verdicts = {(v, n) for v, _, _, _, n in _items(two_way)}
    assert verdicts == {("pending_migration", "color"), ("pending_migration", "weight"),
                        ("pending_migration", "ix_widgets_name"), ("drift", "ix_by_hand")}


@pytest.mark.postgres
def test_ignore_rules_from_flag_and_config(invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str) -> None:
    invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app)
    execute(pg_psycopg_url, "CREATE INDEX ix_runtime_gin ON widgets (color)", "CREATE TABLE celery_tasks (id int)")
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--ignore", "index:ix_*_gin",
                    "--format", "json", cwd=mini_app)
    assert _items(result) == [("out_of_band", "table", "extra", "celery_tasks", "celery_tasks")]
    with (mini_app / "dbops.toml").open("a") as fh:
        fh.write('\n[drift]\nignore = ["table:celery_*"]\n')
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--ignore", "index:ix_*_gin",
                    "--format", "json", cwd=mini_app)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["clean"] is True
    assert sorted(i["name"] for i in data["ignored"]) == ["celery_tasks", "ix_runtime_gin"]


@pytest.mark.postgres
def test_github_format_points_at_the_model(invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str) -> None:
    (mini_app / "migrations" / "versions" / "0003.py").unlink()
    invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app)
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "github", cwd=mini_app)
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("::error file=")
    assert "models.py,line=" in lines[0]
    assert lines[0].endswith(",title=dbops missing_migration%3A column::column widgets.weight is missing")


@pytest.mark.postgres
def test_scratch_database_dropped_after_success_and_failure(
    invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str
) -> None:
    before = _scratch_databases()
    invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app)
    assert invoke("check-drift", "--database-url", pg_psycopg_url, cwd=mini_app).exit_code == 0
    assert _scratch_databases() == before
    (mini_app / "migrations" / "versions" / "0004.py").write_text(
        'revision = "0004"\ndown_revision = "0003"\nfrom alembic import op\n'
        "def upgrade():\n    op.execute('SELECT no_such_function()')\n\ndef downgrade():\n    pass\n")
    failed = invoke("check-drift", "--database-url", pg_psycopg_url, cwd=mini_app)
    assert failed.exit_code == 1
    assert failed.stderr.startswith("Error: check-drift replays the migrations into a scratch database it creates, "
                                    "and the replay failed there, so nothing was compared (the live database was "
                                    "not touched): Revision 0004 (no message) failed: ")
    assert _scratch_databases() == before


@pytest.mark.postgres
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_scratch_database_dropped_on_signal(mini_app: Path, pg_psycopg_url: str, sig: int) -> None:
    marker = mini_app / "replaying"
    (mini_app / "migrations" / "versions" / "0004.py").write_text(
        'revision = "0004"\ndown_revision = "0003"\nimport pathlib, time\n'
        f"def upgrade():\n    pathlib.Path({str(marker)!r}).touch()\n    time.sleep(60)\n\n"
        "def downgrade():\n    pass\n")
    exe = Path(sys.executable).with_name("dbops")
    proc = subprocess.Popen([str(exe), "check-drift", "--against", "migrations", "--database-url", pg_psycopg_url],
                            cwd=mini_app, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    assert len(_scratch_databases(proc.pid)) == 1  # it exists while replaying
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert _scratch_databases(proc.pid) == []


def test_json_matches_the_documented_schema(invoke: Callable[..., Result], mini_app: Path, sqlite_url: str) -> None:
    import jsonschema

    schema = json.loads((REPO / "docs" / "check-drift.schema.json").read_text())
    (mini_app / "migrations" / "versions" / "0003.py").unlink()
    invoke("upgrade", "--database-url", sqlite_url, cwd=mini_app)
    execute(sqlite_url, "CREATE TABLE stray (id int)")
    result = invoke("check-drift", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    jsonschema.validate(data, schema)
    assert {i["verdict"] for i in data["items"]} == {"missing_migration", "out_of_band"}
    clean = invoke("check-drift", "--against", "migrations", "--format", "json", cwd=REPO)
    jsonschema.validate(json.loads(clean.stdout), schema)


def test_ignore_patterns_are_validated(invoke: Callable[..., Result], mini_app: Path, sqlite_url: str) -> None:
    bad = invoke("check-drift", "--ignore", "bogus:x", "--database-url", sqlite_url, cwd=mini_app)
    assert bad.exit_code == 2
    assert "unknown kind 'bogus' in 'bogus:x'; kinds: table, column, type" in bad.stderr
    assert "KIND is one of table, column" in invoke("check-drift", "--help").stdout
    toml = mini_app / "dbops.toml"
    toml.write_text(toml.read_text() + '\n[drift]\nignor = ["table:x"]\n')
    typo = invoke("check-drift", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert typo.exit_code == 1
    assert json.loads(typo.stdout)["error"]["message"].startswith(
        "Unknown setting(s) ignor under [drift] in ") and "(did you mean ignore?)" in typo.stdout


def test_replay_cache_clones_the_chain_and_applies_only_new_revisions(invoke: Callable[..., Result],
                                                                      mini_app: Path, pg_psycopg_url: str) -> None:
    env_py = mini_app / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + f"# {uuid.uuid4().hex}\n")  # this test's own cache context

    def run(*extra: str) -> dict[str, object]:
        result = invoke("check-drift", "--against", "migrations", "--database-url", pg_psycopg_url, "--format",
                        "json", *extra, cwd=mini_app)
        assert result.exit_code == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    first = run()
    assert first["replay_cache"] == "miss: replayed in full, cached for the next run"
    second = run()
    assert str(second["replay_cache"]).startswith("3 of 3 revision(s) from the cache dbops_cache_")
    assert run("--no-cache")["replay_cache"] is None
    (mini_app / "migrations" / "versions" / "0004.py").write_text(REVISION_TEMPLATE.format(
        doc="noop", rev="0004", down="0003", up="    op.execute('SELECT 1')", down_body="    pass"))
    assert str(run()["replay_cache"]).startswith("3 of 4 revision(s) from the cache")
    assert str(run()["replay_cache"]).startswith("4 of 4 revision(s) from the cache")
    edited = mini_app / "migrations" / "versions" / "0001.py"  # an applied revision edited: no cache fits
    source = edited.read_text()
    assert "def upgrade():\n" in source
    edited.write_text(source.replace("def upgrade():\n", "def upgrade():\n    op.execute('SELECT 2')\n"))
    assert run()["replay_cache"] == "miss: replayed in full, cached for the next run"


def test_a_minor_difference_is_reported_and_does_not_fail_the_gate(invoke: Callable[..., Result], mini_app: Path,
                                                                   pg_psycopg_url: str) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app).exit_code == 0
    execute(pg_psycopg_url, "ALTER TABLE widgets ALTER COLUMN color TYPE varchar")  # the limit dropped
    result = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "json", cwd=mini_app)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["clean"] is True
    assert [(i["verdict"], i["kind"], i["severity"]) for i in report["items"]] == [("out_of_band", "type", "warning")]
    github = invoke("check-drift", "--database-url", pg_psycopg_url, "--format", "github", cwd=mini_app)
    assert github.exit_code == 0 and github.stdout.startswith("::warning ")
    table = invoke("check-drift", "--database-url", pg_psycopg_url, cwd=mini_app)
    assert "out_of_band (minor)" in table.stdout and "Clean: no drift (0 pending, 1 minor)" in table.stdout


def test_models_metadata_without_tables_is_refused_not_passed(invoke: Callable[..., Result], tmp_path: Path,
                                                              sqlite_url: str) -> None:
    """A metadata whose tables are defined in a module nobody imported (mealie's env.py imports its models
    only for their side effect) used to compare nothing with the cache and pass or fail by accident."""
    from tests.helpers import models_app

    app, module = models_app(tmp_path, "nomodels", "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n",
                             [("a1", None, "t", "    op.create_table('t', sa.Column('id', sa.Integer, "
                               "primary_key=True))", "    pass")])
    for against in ("migrations", "database", "both"):
        result = invoke("check-drift", "--against", against, "--format", "json", "--database-url", sqlite_url,
                        cwd=app)
        assert result.exit_code == 1, (against, result.stdout)
        assert json.loads(result.stdout)["error"]["message"].startswith(
            f"The models' metadata ({module}.models:metadata) holds no tables")
