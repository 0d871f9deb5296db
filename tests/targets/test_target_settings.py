"""A target's own settings (alembic_ini, ini_section, search_path, version_locations, metadata) are
applied the same way by --target NAME and by fan-out (--all / --group), by one function."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from dbops.config import load_config
from dbops.targets.expand import for_target
from tests.helpers import DBOPS_ENV_PY, REVISION_TEMPLATE, empty_databases, execute

pytestmark = pytest.mark.postgres
SERVER = "host=127.0.0.1 user=postgres dbname=postgres"


@pytest.fixture
def database() -> Iterator[str]:
    with empty_databases("dbops_tset", ("db",)) as names:
        yield f"postgresql+psycopg://postgres@127.0.0.1/{names['db']}"


def _chain(directory: Path, table: str, rev: str) -> None:
    directory.mkdir(parents=True)
    (directory / "env.py").write_text(DBOPS_ENV_PY)
    (directory / "versions").mkdir()
    (directory / "versions" / f"{rev}.py").write_text(REVISION_TEMPLATE.format(
        doc=table, rev=rev, down=None,
        up=f"    op.create_table('{table}', sa.Column('id', sa.Integer, primary_key=True))",
        down_body=f"    op.drop_table('{table}')"))


def test_a_target_reads_its_own_alembic_ini_section_and_search_path(invoke: Callable[..., Result], tmp_path: Path,
                                                                  database: str) -> None:
    app = tmp_path / "multi"
    _chain(app / "main_migrations", "orders", "m001")
    _chain(app / "reporting_migrations", "daily_totals", "r001")
    (app / "alembic.ini").write_text(textwrap.dedent('''
        [alembic]
        script_location = %(here)s/main_migrations

        [reporting]
        script_location = %(here)s/reporting_migrations
    '''))
    (app / "dbops.toml").write_text(textwrap.dedent(f'''
        url = "{database}"

        [targets.reporting]
        url = "{database}"
        ini_section = "reporting"            # alembic --name reporting
        version_table = "reporting_version"
        search_path = ["reporting"]
    '''))
    execute(database, "CREATE SCHEMA reporting")
    heads = invoke("heads", "--target", "reporting", "--format", "json", cwd=app)
    assert heads.exit_code == 0, heads.stdout + heads.stderr
    assert [h["revision"] for h in json.loads(heads.stdout)["heads"]] == ["r001"]
    assert [h["revision"] for h in json.loads(invoke("heads", "--format", "json", cwd=app).stdout)["heads"]] \
        == ["m001"]
    up = invoke("upgrade", "--target", "reporting", "--format", "json", cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    # unqualified names went where the target's search_path points
    assert execute(database, "SELECT to_regclass('reporting.daily_totals') IS NOT NULL, "
                             "to_regclass('public.daily_totals') IS NULL")[0] == [(True, True)]
    down = invoke("downgrade", "base", "--target", "reporting", cwd=app)
    assert down.exit_code == 0, down.stdout + down.stderr
    assert execute(database, "SELECT to_regclass('reporting.daily_totals') IS NULL")[0] == [(True,)]
    fanned = invoke("upgrade", "--all", "--format", "json", cwd=app)  # fan-out applies the same settings
    assert fanned.exit_code == 0, fanned.stdout + fanned.stderr
    assert [(t["target"], t["to_revisions"]) for t in json.loads(fanned.stdout)["targets"]] == [("reporting",
                                                                                                 ["r001"])]
    assert execute(database, "SELECT to_regclass('reporting.daily_totals') IS NOT NULL, "
                             "to_regclass('public.daily_totals') IS NULL, "
                             "to_regclass('reporting.reporting_version') IS NOT NULL")[0] == [(True, True, True)]
    again = invoke("upgrade", "--target", "reporting", "--format", "json", cwd=app)  # read where it was written
    assert again.exit_code == 0 and json.loads(again.stdout)["steps"] == [], again.stdout + again.stderr
    assert json.loads(again.stdout)["warnings"] == []


def test_fan_out_and_target_apply_a_target_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "other.ini").write_text("[alembic]\nscript_location = %(here)s/elsewhere\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "dbops.toml").write_text(textwrap.dedent('''
        script_location = "migrations"
        metadata = "app.models:metadata"

        [targets.a]
        url = "sqlite:///a.db"
        metadata = "app.a_models:metadata"
        alembic_ini = "other.ini"
        version_locations = ["elsewhere", "extra"]
        search_path = "app"
    '''))
    by_flag = load_config(cwd=tmp_path, target="a")
    by_fanout = for_target(load_config(cwd=tmp_path, needs_database=False), by_flag.targets["a"])
    for config in (by_flag, by_fanout):
        assert config.metadata == "app.a_models:metadata"
        assert config.script_location == (tmp_path / "elsewhere").resolve()
        assert config.version_locations == ("elsewhere", "extra")
        assert config.search_path == ("app",)
        assert config.version_table_schema == "app"  # the unqualified version table lands there
        assert config.target == "a"
    # --metadata wins over the target's, with --target and with fan-out alike
    forced = load_config(cwd=tmp_path, target="a", metadata="x.y:metadata")
    assert forced.metadata == "x.y:metadata"
    fanned = for_target(load_config(cwd=tmp_path, metadata="x.y:metadata", needs_database=False), forced.targets["a"])
    assert fanned.metadata == "x.y:metadata"
