"""Keyset batch statements, built with SQLAlchemy Core (identifiers quoted by the dialect;
the user's SQL expressions and filter are the only raw text)."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from dbops.data.declaration import DataMigration

Key = tuple[Any, ...]


class KeysetTable:
    """The table of a data migration with its key columns typed as reflected (so bound key
    values compare with the right type: uuid, date, ...)."""

    def __init__(self, m: DataMigration, column_types: dict[str, Any]) -> None:
        self.m = m
        self.names = list(dict.fromkeys([*m.key_columns, *m.columns]))  # what the function path reads
        self.all_columns = set(column_types)
        self.table = sa.table(m.table, *(sa.column(c, t) for c, t in column_types.items()), schema=m.schema)
        self.keys = [self.table.c[k] for k in m.key_columns]
        self.key_types = [column_types.get(k) for k in m.key_columns]

    def _after(self, last: Key | None) -> Any:
        if last is None:
            return sa.true()
        if len(self.keys) == 1:
            return self.keys[0] > sa.bindparam("last_0", last[0], type_=self.key_types[0])
        return sa.tuple_(*self.keys) > sa.tuple_(
            *(sa.bindparam(f"last_{i}", v, type_=t) for i, (v, t) in enumerate(zip(last, self.key_types, strict=True))))

    def _upto(self, hi: Key) -> Any:
        if len(self.keys) == 1:
            return self.keys[0] <= sa.bindparam("hi_0", hi[0], type_=self.key_types[0])
        return sa.tuple_(*self.keys) <= sa.tuple_(
            *(sa.bindparam(f"hi_{i}", v, type_=t) for i, (v, t) in enumerate(zip(hi, self.key_types, strict=True))))

    def _filter(self) -> Any:
        return sa.text(f"({self.m.where})") if self.m.where else sa.true()

    def bound(self, conn: sa.Connection, last: Key | None, n: int) -> tuple[Key | None, bool]:
        """The batch's upper bound: the key of the n-th row after ``last`` (a full batch of n
        keys), else the last key of the table (a final, shorter batch), else None (done)."""
        stmt = sa.select(*self.keys).where(self._after(last)).order_by(*self.keys).offset(n - 1).limit(1)
        row = conn.execute(stmt).first()
        if row is not None:
            return tuple(row), True
        stmt = sa.select(*self.keys).where(self._after(last)).order_by(*(k.desc() for k in self.keys)).limit(1)
        row = conn.execute(stmt).first()
        return (tuple(row) if row is not None else None), False

    def update_range(self, conn: sa.Connection, last: Key | None, hi: Key) -> int:
        """One UPDATE of every row in (last, hi] matching the filter: rows never enter Python."""
        assert self.m.set is not None
        values: dict[str, Any] = {col: sa.literal_column(f"({expr})") for col, expr in self.m.set.items()}
        stmt = self.table.update().where(self._after(last), self._upto(hi), self._filter()).values(values)
        return int(conn.execute(stmt).rowcount or 0)

    def count_range(self, conn: sa.Connection, last: Key | None, hi: Key) -> int:
        stmt = sa.select(sa.func.count()).select_from(self.table).where(self._after(last), self._upto(hi))
        return int(conn.execute(stmt).scalar_one())

    def select_batch(self, conn: sa.Connection, last: Key | None, n: int) -> list[dict[str, Any]]:
        """The next n rows after ``last`` with the key and ``columns`` (the Python-function path)."""
        stmt = (sa.select(*(self.table.c[c] for c in self.names)).where(self._after(last), self._filter())
                .order_by(*self.keys).limit(n))
        result = conn.execute(stmt)
        names = list(result.keys())
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]  # fetchall: no per-row fetch

    def update_rows(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
        """executemany UPDATE ... WHERE key = :key for the rows a function returned."""
        if not rows:
            return 0
        value_cols = [c for c in rows[0] if c not in self.m.key_columns]
        if not value_cols:
            return 0
        unknown = sorted(set(value_cols) - self.all_columns)
        if unknown:
            raise ValueError(f"the function returned column(s) {', '.join(unknown)}, which {self.m.table!r} "
                             "does not have")
        if conn.dialect.name == "postgresql":
            done = self._update_rows_unnest(conn, rows, value_cols)
            if done is not None:
                return done
        stmt = self.table.update().where(*(k == sa.bindparam(f"k_{k.name}", type_=k.type) for k in self.keys)).values(
            {c: sa.bindparam(f"v_{c}") for c in value_cols})
        params = [{**{f"k_{k}": r[k] for k in self.m.key_columns}, **{f"v_{c}": r[c] for c in value_cols}}
                  for r in rows]
        conn.execute(stmt, params)
        return len(rows)

    def _update_rows_unnest(self, conn: sa.Connection, rows: list[dict[str, Any]], value_cols: list[str]) -> int | None:
        """PostgreSQL: one ``UPDATE ... FROM unnest(arrays)`` per batch instead of one statement per
        row (several times faster than executemany). None when a column type has no array form."""
        prep = conn.dialect.identifier_preparer
        cols = [*self.m.key_columns, *value_cols]
        casts = []
        for i, name in enumerate(cols):
            col_type = self.table.c[name].type
            if isinstance(col_type, (sa.types.NullType, sa.ARRAY, sa.JSON)):
                return None
            try:
                casts.append(f"CAST(:p{i} AS {col_type.compile(dialect=conn.dialect)}[])")
            except Exception:
                return None
        target = (prep.quote_schema(self.m.schema) + "." if self.m.schema else "") + prep.quote(self.m.table)
        q = prep.quote
        sql = (f"UPDATE {target} AS t SET {', '.join(f'{q(c)} = v.{q(c)}' for c in value_cols)} "
               f"FROM unnest({', '.join(casts)}) AS v({', '.join(q(c) for c in cols)}) "
               f"WHERE {' AND '.join(f't.{q(k)} = v.{q(k)}' for k in self.m.key_columns)}")
        params = {f"p{i}": [r[c] for r in rows] for i, c in enumerate(cols)}
        conn.execute(sa.text(sql), params)
        return len(rows)

    def validate(self, conn: sa.Connection) -> None:
        """Run the expressions and filter against zero rows: a typo fails here, before any write."""
        exprs = (self.m.set or {}).values()
        cols: list[Any] = [sa.literal_column(f"({e})").label(f"e{i}") for i, e in enumerate(exprs)]
        conn.execute(sa.select(*self.keys, *cols).select_from(self.table).where(self._filter()).limit(0))

    def estimate(self, conn: sa.Connection) -> int:
        """Rows in the table for progress/ETA: PostgreSQL's planner estimate when it has one
        (count(*) of a large table costs a full scan per run), else count(*)."""
        if conn.dialect.name == "postgresql":
            qualified = f"{self.m.schema}.{self.m.table}" if self.m.schema else self.m.table
            guess = conn.execute(sa.text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:t)"),
                                 {"t": conn.dialect.identifier_preparer.quote(qualified) if "." not in qualified
                                  else qualified}).scalar()
            if guess is not None and guess > 100_000:
                return int(guess)
        return self.count(conn, filtered=False)

    def count(self, conn: sa.Connection, *, filtered: bool) -> int:
        stmt = sa.select(sa.func.count()).select_from(self.table)
        if filtered:
            stmt = stmt.where(self._filter())
        return int(conn.execute(stmt).scalar_one())


def dump_key(key: Key | None) -> str | None:
    def plain(v: Any) -> Any:
        if isinstance(v, (uuid.UUID, Decimal)):
            return str(v)
        if isinstance(v, (datetime, date)):
            return v.isoformat()
        return v

    return None if key is None else json.dumps([plain(v) for v in key])


def load_key(text: str | None, types: list[Any]) -> Key | None:
    if text is None:
        return None
    out = []
    for value, type_ in zip(json.loads(text), types, strict=True):
        py = _python_type(type_)
        if value is not None and py is not None and not isinstance(value, py):
            value = py.fromisoformat(value) if py in (datetime, date) else py(value)
        out.append(value)
    return tuple(out)


def _python_type(type_: Any) -> Any:
    try:
        return type_.python_type if type_ is not None else None
    except NotImplementedError:
        return None
