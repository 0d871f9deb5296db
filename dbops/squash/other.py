"""SQLite and MariaDB/MySQL: the DDL that rebuilds a database's schema, as the server keeps or shows it.

SQLite stores each object's CREATE statement as the schema itself (``sqlite_master.sql``), so the
baseline replays those texts: tables, then indexes, views and triggers, each in creation order.
MariaDB/MySQL: ``SHOW CREATE TABLE`` / ``VIEW`` / ``TRIGGER`` / ``FUNCTION`` / ``PROCEDURE``, without the
table's AUTO_INCREMENT counter (data, not schema), the DEFINER (the role that replays it owns it) and the
database's own name; foreign-key checks are off while the tables are created, as mysqldump does.
"""
from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dbops.squash.catalog import Statement

_ORDER = {"table": 0, "index": 1, "view": 2, "trigger": 3}


def _qi(name: str, quote: str) -> str:
    return quote + name.replace(quote, quote * 2) + quote


def sqlite(conn: Connection, skip_tables: set[str]) -> tuple[list[Statement], list[Statement]]:
    rows = conn.execute(text("SELECT type, name, tbl_name, sql, rowid FROM sqlite_master WHERE sql IS NOT NULL "
                             "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")).fetchall()
    rows = sorted((r for r in rows if r[2] not in skip_tables), key=lambda r: (_ORDER.get(r[0], 9), r[4]))
    # whitespace at line ends and leading tabs tidied (the fingerprint compares SQLite's text whitespace-folded)
    up = [Statement(kind, name, "\n".join(line.rstrip().replace("\t", "    ") for line in sql.splitlines()))
          for kind, name, _table, sql, _rowid in rows]
    down = [Statement(kind, name, f"DROP {kind.upper()} IF EXISTS {_qi(name, chr(34))}")
            for kind, name, *_ in reversed(rows)]
    return up, down


_DEFINER = re.compile(r"\s+DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`")
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


def mysql(conn: Connection, skip_tables: set[str]) -> tuple[list[Statement], list[Statement]]:
    database = conn.execute(text("SELECT DATABASE()")).scalar_one()
    own = f"`{database.replace('`', '``')}`."

    def clean(sql: str) -> str:
        return _DEFINER.sub("", sql).replace(own, "")

    up = [Statement("setting", "foreign_key_checks", "SET FOREIGN_KEY_CHECKS = 0")]
    down = [Statement("setting", "foreign_key_checks", "SET FOREIGN_KEY_CHECKS = 0")]
    tables = conn.execute(text("SELECT table_name, table_type FROM information_schema.tables "
                               "WHERE table_schema = DATABASE() ORDER BY create_time, table_name")).fetchall()
    views = []
    for name, kind in tables:
        if name in skip_tables:
            continue
        quoted = _qi(name, "`")
        if kind == "VIEW":
            views.append(name)
            continue
        sql = conn.execute(text(f"SHOW CREATE TABLE {quoted}")).one()[1]
        up.append(Statement("table", name, _AUTO_INCREMENT.sub("", sql)))
        down.append(Statement("table", name, f"DROP TABLE IF EXISTS {quoted}"))
    for name, kind in conn.execute(text("SELECT routine_name, routine_type FROM information_schema.routines "
                                        "WHERE routine_schema = DATABASE() ORDER BY created, routine_name")):
        sql = conn.execute(text(f"SHOW CREATE {kind} {_qi(name, '`')}")).one()[2]
        up.append(Statement("function", name, clean(sql)))
        down.insert(1, Statement("function", name, f"DROP {kind} IF EXISTS {_qi(name, '`')}"))
    defined = {name: clean(conn.execute(text(f"SHOW CREATE VIEW {_qi(name, '`')}")).one()[1]) for name in views}
    placed: list[str] = []
    while len(placed) < len(views):  # a view over a view comes after it (the server quotes every name it reads)
        ready = [v for v in views if v not in placed and not any(
            f"`{other}`" in defined[v] for other in views if other != v and other not in placed)]
        placed.extend(ready or [v for v in views if v not in placed])
    for name in placed:
        up.append(Statement("view", name, defined[name]))
        down.insert(1, Statement("view", name, f"DROP VIEW IF EXISTS {_qi(name, '`')}"))
    for (name,) in conn.execute(text("SELECT trigger_name FROM information_schema.triggers "
                                     "WHERE trigger_schema = DATABASE() ORDER BY created, trigger_name")):
        sql = conn.execute(text(f"SHOW CREATE TRIGGER {_qi(name, '`')}")).one()[2]
        up.append(Statement("trigger", name, clean(sql)))
    up.append(Statement("setting", "foreign_key_checks", "SET FOREIGN_KEY_CHECKS = 1"))
    down.append(Statement("setting", "foreign_key_checks", "SET FOREIGN_KEY_CHECKS = 1"))
    return up, down
