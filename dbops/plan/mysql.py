"""`dbops plan` on MariaDB / MySQL: for each pending statement, the best ALTER algorithm and lock
level the server accepts for it (INSTANT, NOCOPY, INPLACE with LOCK=NONE or SHARED, or COPY), asked
of the server itself, not guessed from a table.

How: a scratch database on the same server gets an empty copy of every table of the live schema
(``CREATE TABLE ... LIKE``: same columns, indexes, row format, engine), and the pending statements
are replayed there in order, each first with ``ALGORITHM=INSTANT``, then ``NOCOPY``, then ``INPLACE``
with ``LOCK=NONE``, then ``LOCK=SHARED``, then ``COPY``: the server refuses an algorithm it cannot use
for that change (error 1846, "ALGORITHM=INSTANT is not supported. Reason: ..."), so the first one it
accepts is the one a plain ALTER would use at best. Which algorithm applies does not depend on the
rows, only on the table's definition, so an empty copy answers for the live table. The scratch
database is dropped afterwards, whatever happens; the live database is only read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# (algorithm clause, lock clause, what the application can do meanwhile)
LADDER = (
    ("INSTANT", None, "metadata only, no row touched"),
    ("NOCOPY", None, "in place, the table is not rebuilt"),
    ("INPLACE", "NONE", "the table is rebuilt in place while reads and writes continue"),
    ("INPLACE", "SHARED", "the table is rebuilt in place; writes wait"),
    ("COPY", "SHARED", "the table is copied row by row; writes wait"),
)
UNSUPPORTED = (1845, 1846)  # LOCK=... / ALGORITHM=... not supported for this operation


@dataclass(frozen=True)
class Answer:
    statement: str
    table: str | None
    algorithm: str | None  # INSTANT | NOCOPY | INPLACE | COPY; None: not an ALTER the ladder applies to
    lock: str | None  # NONE | SHARED | EXCLUSIVE (what the best accepted form allows)
    rewrite: bool
    meaning: str
    reason: str = ""  # the server's reason the faster algorithms were refused
    error: str = ""  # the statement failed on the empty copy for another reason (reported, not guessed)


def _words(sql: str, limit: int | None = 7) -> list[str]:
    """The statement's words, with backquotes dropped (MySQL syntax, which PostgreSQL's parser cannot read;
    only the leading keywords and the table name are taken from it)."""
    out, word, quoted = [], [], False
    for ch in sql.strip():
        if ch == "`":
            quoted = not quoted
            continue
        if quoted or ch.isalnum() or ch in "_$.":
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
        if limit is not None and len(out) >= limit:
            break
    if word:
        out.append("".join(word))
    return out


def target(sql: str) -> tuple[str, str | None]:
    """(kind, table) of a MySQL DDL statement: ("alter", t), ("create_index", t), ("drop_index", t),
    ("create_table", t), ("other", None)."""
    words = _words(sql)
    upper = [w.upper() for w in words]
    if upper[:2] == ["ALTER", "TABLE"] and len(words) > 2:
        return "alter", words[2].rsplit(".", 1)[-1]
    if upper[:1] == ["CREATE"] and "INDEX" in upper[:4] and "ON" in upper:
        at = upper.index("ON")
        return "create_index", words[at + 1].rsplit(".", 1)[-1] if at + 1 < len(words) else None
    if upper[:2] == ["DROP", "INDEX"] and "ON" in upper:
        at = upper.index("ON")
        return "drop_index", words[at + 1].rsplit(".", 1)[-1] if at + 1 < len(words) else None
    if upper[:1] == ["UPDATE"] and len(words) > 1:
        return "dml", words[1].rsplit(".", 1)[-1]
    if upper[:2] in (["INSERT", "INTO"], ["DELETE", "FROM"]) and len(words) > 2:
        return "dml", words[2].rsplit(".", 1)[-1]
    if upper[:2] == ["CREATE", "TABLE"] and len(words) > 2:
        name = words[5] if upper[2:5] == ["IF", "NOT", "EXISTS"] and len(words) > 5 else words[2]
        return "create_table", name.rsplit(".", 1)[-1]
    return "other", None


def _with(sql: str, kind: str, algorithm: str, lock: str | None) -> str:
    body = sql.strip().rstrip(";")
    if kind == "drop_index":  # DROP INDEX takes no ALGORITHM clause on MariaDB: the same change as an ALTER
        words = _words(body)
        body = f"ALTER TABLE `{words[4]}` DROP INDEX `{words[2]}`" if len(words) > 4 else body
        kind = "alter"
    if kind == "alter":
        return f"{body}, ALGORITHM={algorithm}" + (f", LOCK={lock}" if lock else "")
    return f"{body} ALGORITHM={algorithm}" + (f" LOCK={lock}" if lock else "")  # CREATE/DROP INDEX options


def ask(conn: sa.Connection, sql: str) -> Answer:
    """Run ``sql`` on the scratch copy with the fastest algorithm the server accepts (the copy then holds
    its result, so the next statement sees the schema it will see live)."""
    kind, table = target(sql)
    if kind == "dml":  # rows, not the table's definition: nothing to ask (and nothing to change on the copy)
        return Answer(sql, table, None, None, False, "writes rows (row locks until the revision commits)")
    if kind not in ("alter", "create_index", "drop_index"):
        error = _run(conn, sql)
        return Answer(sql, table, None, None, False, "creates a new table" if kind == "create_table" else "",
                      error=error or "")
    reasons: list[str] = []
    for algorithm, lock, meaning in LADDER:
        try:
            conn.exec_driver_sql(_with(sql, kind, algorithm, lock).replace("%", "%%"))
        except sa.exc.DBAPIError as exc:
            args = exc.orig.args if exc.orig is not None else ()
            if args and args[0] in UNSUPPORTED:
                reasons.append(str(args[1]) if len(args) > 1 else str(exc.orig))
                continue
            return Answer(sql, table, None, None, False, "", error=_first(exc))
        return Answer(sql, table, algorithm, lock or ("NONE" if algorithm in ("INSTANT", "NOCOPY") else "SHARED"),
                      rewrite=algorithm in ("INPLACE", "COPY"), meaning=meaning,
                      reason=reasons[-1] if reasons else "")
    return Answer(sql, table, None, None, False, "", error="no ALGORITHM was accepted: " + "; ".join(reasons))


def _run(conn: sa.Connection, sql: str) -> str | None:
    try:
        conn.exec_driver_sql(sql.replace("%", "%%"))
    except sa.exc.DBAPIError as exc:
        return _first(exc)
    return None


def _first(exc: Any) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig.args[1] if orig is not None and len(orig.args) > 1 else exc).splitlines()[0]


def copy_schema(live: sa.Connection, scratch: sa.Connection, schema: str) -> None:
    """An empty copy of every base table of the live schema in the scratch database (no foreign keys:
    ``CREATE TABLE ... LIKE`` leaves them out; the ladder's answers do not depend on them except for a
    foreign key being added, which needs the referenced table: it is there)."""
    scratch.exec_driver_sql("SET SESSION foreign_key_checks = 0")
    names = [r[0] for r in live.execute(sa.text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_type = 'BASE TABLE'"),
        {"s": schema})]
    for name in names:
        scratch.exec_driver_sql(f"CREATE TABLE `{name}` LIKE `{schema}`.`{name}`")
    scratch.exec_driver_sql("SET SESSION foreign_key_checks = 1")


def builds_index(sql: str) -> bool:
    kind, _ = target(sql)
    upper = [w.upper() for w in _words(sql, limit=None)]
    return kind == "create_index" or any(a == "ADD" and b in ("INDEX", "KEY", "UNIQUE", "PRIMARY", "FULLTEXT",
                                                                  "SPATIAL")
                                         for a, b in zip(upper, upper[1:], strict=False))


@dataclass(frozen=True)
class Facts:
    rows: int
    bytes: int


def table_facts(live: sa.Connection, schema: str, table: str) -> Facts | None:
    row = live.execute(sa.text(
        "SELECT table_rows, data_length + index_length FROM information_schema.tables "
        "WHERE table_schema = :s AND table_name = :t"), {"s": schema, "t": table}).first()
    return None if row is None else Facts(int(row[0] or 0), int(row[1] or 0))


def open_transactions(live: sa.Connection, older_than: float = 0.0) -> list[dict[str, Any]]:
    """Transactions open on the server (InnoDB): an ALTER waits for the metadata lock of every one that
    has touched its table, and every query after the waiting ALTER queues behind it."""
    rows = live.execute(sa.text(
        "SELECT t.trx_mysql_thread_id, p.user, p.host, p.command, "
        "TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), COALESCE(p.info, '') "
        "FROM information_schema.innodb_trx t LEFT JOIN information_schema.processlist p "
        "ON p.id = t.trx_mysql_thread_id WHERE t.trx_mysql_thread_id <> CONNECTION_ID() "
        "AND TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) >= :age"), {"age": older_than})
    return [{"pid": int(r[0]), "user": r[1] or "", "application": r[2] or "", "state": r[3] or "",
             "transaction_seconds": float(r[4] or 0), "query": " ".join(str(r[5]).split())[:200]} for r in rows]
