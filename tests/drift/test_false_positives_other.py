"""The false-positive corpus on SQLite and MariaDB: the constructs that exist there, spelled the way
their chains and servers spell them. (PostgreSQL: test_false_positives.py.)"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dbops.drift.compare import compare
from dbops.drift.from_models import models_spec
from dbops.drift.reflect import reflect_schema
from tests.drift.test_false_positives import Case, t

SQLITE = [
    Case("boolean default sa.false() vs 0", lambda m: t(m, sa.Column("b", sa.Boolean, server_default=sa.false())),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, b BOOLEAN DEFAULT 0)"]),
    Case("boolean default 'true' vs 1", lambda m: t(m, sa.Column("b", sa.Boolean, server_default=sa.true())),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, b BOOLEAN DEFAULT 1)"]),
    Case("now() vs CURRENT_TIMESTAMP", lambda m: t(m, sa.Column("at", sa.DateTime, server_default=sa.func.now())),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME DEFAULT CURRENT_TIMESTAMP)"]),
    Case("float vs double precision", lambda m: t(m, sa.Column("f", sa.Float)),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, f DOUBLE PRECISION)"]),
    Case("float vs real", lambda m: t(m, sa.Column("f", sa.Float)),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, f REAL)"]),
    Case("integer default '0' vs 0", lambda m: t(m, sa.Column("n", sa.Integer, server_default="0")),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 0)"]),
    Case("unique declared twice", lambda m: t(m, sa.Column("e", sa.Text, unique=True), sa.UniqueConstraint("e")),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, e TEXT, UNIQUE (e))"]),
    # SQLAlchemy's SQLite reflection drops the sort order and skips expression indexes; dbops reads the
    # statements SQLite stores (found on Prefect's SQLite chain, session 8)
    Case("DESC index key", lambda m: sa.Index("ix_t_key_at", (tab := t(m, sa.Column("key", sa.Text),
                                                                       sa.Column("at", sa.DateTime))).c.key,
                                              tab.c.at.desc()),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, key TEXT, at DATETIME)",
          'CREATE INDEX ix_t_key_at ON t ("key", at DESC)']),
    Case("ASC index key", lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at.asc()),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME)", "CREATE INDEX ix_t_at ON t (at)"]),
    Case("expression index", lambda m: sa.Index("ix_t_lower", sa.func.lower(t(m, sa.Column("c", sa.Text)).c.c)),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT)", "CREATE INDEX ix_t_lower ON t (lower(c))"]),
    Case("partial unique expression index", lambda m: sa.Index(
        "ix_t_live", sa.func.lower((tab := t(m, sa.Column("c", sa.Text), sa.Column("gone", sa.DateTime))).c.c).desc(),
        unique=True, sqlite_where=tab.c.gone.is_(None)),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, gone DATETIME)",
          "CREATE UNIQUE INDEX ix_t_live ON t (lower(c) DESC) WHERE gone IS NULL"]),
]

SQLITE_TRUE_POSITIVES = [
    Case("DESC dropped", lambda m: sa.Index("ix_t_at", t(m, sa.Column("at", sa.DateTime)).c.at.desc()),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME)", "CREATE INDEX ix_t_at ON t (at)"]),
    Case("expression index missing", lambda m: sa.Index("ix_t_lower", sa.func.lower(t(m, sa.Column("c", sa.Text)).c.c)),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT)"]),
    Case("expression changed", lambda m: sa.Index("ix_t_lower", sa.func.lower(t(m, sa.Column("c", sa.Text)).c.c)),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT)", "CREATE INDEX ix_t_lower ON t (upper(c))"]),
]

MARIADB = [
    Case("boolean default sa.false() vs 0", lambda m: t(m, sa.Column("b", sa.Boolean, server_default=sa.false())),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, b TINYINT(1) DEFAULT 0)"]),
    Case("boolean default 'true' vs 1", lambda m: t(m, sa.Column("b", sa.Boolean, server_default="1")),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, b BOOL DEFAULT TRUE)"]),
    Case("now() vs current_timestamp()", lambda m: t(m, sa.Column("at", sa.DateTime, server_default=sa.func.now())),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, at DATETIME DEFAULT NOW())"]),
    Case("integer display width", lambda m: t(m, sa.Column("n", sa.Integer, server_default="0")),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, n INT(11) DEFAULT '0')"]),
    Case("float vs double", lambda m: t(m, sa.Column("f", sa.Float(53))),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, f DOUBLE)"]),
    Case("unique declared twice", lambda m: t(m, sa.Column("e", sa.String(50), unique=True),
                                            sa.UniqueConstraint("e", name="uq_t_e")),
         ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, e VARCHAR(50), CONSTRAINT uq_t_e UNIQUE (e))"]),
]


def _diff(url: str, case: Case) -> list[str]:
    meta = sa.MetaData()
    case.model(meta)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in case.ddl:
                conn.execute(sa.text(stmt))
        with engine.connect() as conn:
            live = reflect_schema(conn)
            models = models_spec(meta, conn.dialect, sa.inspect(conn).default_schema_name)
    finally:
        engine.dispose()
    return [d.detail for d in compare(models, live)]


@pytest.mark.parametrize("case", SQLITE, ids=[c.name for c in SQLITE])
def test_no_false_positive_on_sqlite(sqlite_url: str, case: Case) -> None:
    assert _diff(sqlite_url, case) == []


@pytest.mark.parametrize("case", SQLITE_TRUE_POSITIVES, ids=[c.name for c in SQLITE_TRUE_POSITIVES])
def test_real_index_differences_stay_caught_on_sqlite(sqlite_url: str, case: Case) -> None:
    assert len(_diff(sqlite_url, case)) == 1


@pytest.mark.mariadb
@pytest.mark.parametrize("case", MARIADB, ids=[c.name for c in MARIADB])
def test_no_false_positive_on_mariadb(mariadb_url: str, case: Case) -> None:
    assert _diff(mariadb_url, case) == []
