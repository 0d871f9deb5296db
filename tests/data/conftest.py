from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import execute

MIGRATIONS = '''
import os
from dbops.data import DataMigration

migrations = [
    DataMigration(name="bump", table="items", key="id", set={{"n": "n + 1"}}),
    DataMigration(name="bump_open", table="items", key="id", set={{"n": "n + 1"}}, where="state = 'open'"),
    DataMigration(name="pairs_total", table="pairs", key=("a", "b"), set={{"total": "a * 1000 + b"}}),
]


def _double(rows):
    bad = int(os.environ.get("DBOPS_TEST_FAIL_AT", "0"))
    out = []
    for r in rows:
        if bad and r["id"] == bad:
            raise ValueError(f"cannot handle row {{r['id']}}")
        out.append({{"id": r["id"], "n": r["n"] * 2 + 1}})
    return out


migrations.append(DataMigration(name="double_py", table="items", key="id", fn=_double, columns=["n"]))
'''


def make_project(root: Path, rows: int, url: str | None) -> Path:
    """A data-only project: tables created directly, migrations in data_migrations/."""
    (root / "data_migrations").mkdir(parents=True)
    (root / "data_migrations" / "cases.py").write_text(MIGRATIONS.format())
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    (root / "dbops.toml").write_text('script_location = "migrations"\n')
    if url is None:
        return root
    big = "generate_series(1, {n})" if url.startswith("postgresql") else None
    stmts = ["DROP TABLE IF EXISTS items", "DROP TABLE IF EXISTS pairs", "DROP TABLE IF EXISTS dbops_data_migrations",
             "CREATE TABLE items (id integer PRIMARY KEY, n integer NOT NULL, state varchar(10) NOT NULL)",
             "CREATE TABLE pairs (a integer NOT NULL, b integer NOT NULL, total integer, PRIMARY KEY (a, b))"]
    if big:
        # ids with gaps: 3, 6, 9, ...
        stmts.append(f"INSERT INTO items SELECT g * 3, 0, CASE WHEN g % 2 = 0 THEN 'open' ELSE 'closed' END "
                     f"FROM {big.format(n=rows)} g")
        stmts.append("INSERT INTO pairs (a, b) SELECT a, b FROM generate_series(1, 40) a, generate_series(1, 50) b "
                     "WHERE (a + b) % 7 <> 0")
    else:
        stmts.append(f"WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {rows}) "
                     "INSERT INTO items SELECT x * 3, 0, CASE WHEN x % 2 = 0 THEN 'open' ELSE 'closed' END FROM g")
        stmts.append("WITH RECURSIVE a(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM a WHERE x < 40), "
                     "b(y) AS (SELECT 1 UNION ALL SELECT y + 1 FROM b WHERE y < 50) "
                     "INSERT INTO pairs (a, b) SELECT x, y FROM a, b WHERE (x + y) % 7 <> 0")
    execute(url, *stmts)
    return root


@pytest.fixture
def data_project(tmp_path: Path):  # type: ignore[no-untyped-def]
    def build(url: str | None, rows: int = 5000) -> Path:
        return make_project(tmp_path / "proj", rows, url)

    return build
