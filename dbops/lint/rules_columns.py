"""Lint rules about the columns a revision adds or declares: defaults that rewrite the table,
generated and identity columns, types with a better choice, names the database truncates, and the
constraints and indexes that are built over an existing table."""
from __future__ import annotations

import ast

from dbops.lint.operations import OpCall
from dbops.lint.registry import (
    Context,
    column_call,
    column_kw,
    column_name,
    column_type,
    columns_of,
    existing,
    has_arg,
    rule,
    true_kw,
    type_name,
)


def _volatile_default(node: ast.expr) -> str | None:
    """The volatile function a server_default calls (``sa.text("gen_random_uuid()")``, a string, or
    ``sa.func.random()``), read with PostgreSQL's parser; None when it calls none known to be volatile
    (a function lint does not know is not guessed at)."""
    from dbops.lint.ddl_facts import BUILTIN_VOLATILITY, functions_called

    if isinstance(node, ast.Call) and ast.unparse(node.func).rsplit(".", 1)[-1] == "text" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        import pglast
        from pglast.parser import ParseError

        try:
            names = functions_called(pglast.parse_sql(f"SELECT {node.value}"))
        except ParseError:
            return None
    elif isinstance(node, ast.Call) and ".func." in "." + ast.unparse(node.func):
        names = [ast.unparse(node.func).rsplit(".", 1)[-1].lower()]
    else:
        return None
    return next((n for n in names if BUILTIN_VOLATILITY.get(n) == "v"), None)


@rule("DB014", "column added with a volatile default",
      "A default that differs per row (gen_random_uuid(), random(), clock_timestamp(), nextval) makes ADD COLUMN "
      "write every row of the table under an ACCESS EXCLUSIVE lock; a constant or now() does not. Add the column "
      "without it, set the default for new rows, and backfill the old ones in batches.",
      unsafe="""op.add_column("orders", sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))""",
      safe="""
op.add_column("orders", sa.Column("token", sa.Uuid()))
op.alter_column("orders", "token", server_default=sa.text("gen_random_uuid()"))  # new rows only
# old rows: a batched data migration (dbops data-migrate)""")
def _adds_volatile_default(call: OpCall, ctx: Context) -> str | None:
    if call.name != "add_column" or not existing(call, ctx):
        return None
    default = column_kw(call).get("server_default")
    volatile = _volatile_default(default) if default is not None else None
    if volatile:
        return f"add_column on {call.table} with a volatile default ({volatile}()) rewrites every row"
    return None


@rule("DB015", "stored generated column added to an existing table",
      "PostgreSQL computes a STORED generated column for every existing row while holding an ACCESS EXCLUSIVE "
      "lock (a rewrite). Add a plain column, fill it from the application or a trigger, backfill in batches.",
      unsafe="""
op.add_column("orders", sa.Column("total_cents", sa.Integer(), sa.Computed("total * 100", persisted=True)))""",
      safe="""
op.add_column("orders", sa.Column("total_cents", sa.Integer()))
# filled by the application (or a trigger) for new rows, by a batched data migration for old ones""")
def _stored_generated(call: OpCall, ctx: Context) -> str | None:
    column = column_call(call) if call.name == "add_column" and existing(call, ctx) else None
    if column is not None and has_arg(column, "Computed"):
        return f"add_column on {call.table} adds a stored generated column: every row is computed and rewritten"
    return None


@rule("DB016", "identity or serial column added to an existing table",
      "An identity / auto-increment column gives every existing row a value: the whole table is rewritten under "
      "an ACCESS EXCLUSIVE lock. Create a sequence, add the column nullable with nextval() as the default for new "
      "rows, backfill the old rows in batches, then add the constraint.",
      unsafe="""op.add_column("orders", sa.Column("seq", sa.BigInteger(), sa.Identity()))""",
      safe="""
op.execute("CREATE SEQUENCE orders_seq_seq")
op.add_column("orders", sa.Column("seq", sa.BigInteger()))
op.alter_column("orders", "seq", server_default=sa.text("nextval('orders_seq_seq')"))  # new rows only""")
def _identity_added(call: OpCall, ctx: Context) -> str | None:
    column = column_call(call) if call.name == "add_column" and existing(call, ctx) else None
    if column is None:
        return None
    kw = column_kw(call)
    serial = type_name(column_type(column)).upper() in ("SERIAL", "BIGSERIAL", "SMALLSERIAL")
    auto = isinstance(kw.get("autoincrement"), ast.Constant) and kw["autoincrement"].value is True  # type: ignore[attr-defined]
    if has_arg(column, "Identity", "Sequence") or serial or auto:
        return f"add_column on {call.table} adds an identity/serial column: every existing row is given a value"
    return None


@rule("DB017", "json column (prefer jsonb)",
      "PostgreSQL's json keeps the text as written: no equality operator (DISTINCT, GROUP BY and UNIQUE fail), "
      "no GIN indexing, reparsed on every access. jsonb is what apps mean.",
      severity="warning",
      unsafe="""op.add_column("orders", sa.Column("meta", sa.JSON()))""",
      safe="""op.add_column("orders", sa.Column("meta", postgresql.JSONB()))""")
def _json(call: OpCall, ctx: Context) -> str | None:
    for column in columns_of(call):
        if type_name(column_type(column)) == "JSON" and _sqlalchemy_type(column_type(column)):
            return f"{call.name} on {call.table}: column {column_name(column)} is json, not jsonb"
    return None


# the modules a revision reaches SQLAlchemy's own JSON through (sa.JSON, postgresql.JSON, a bare JSON);
# a project's type of the same name (Prefect's prefect.server.utilities.database.JSON is jsonb on PostgreSQL)
# is not SQLAlchemy's json
_SQLALCHEMY_PREFIXES = ("", "sa", "sqlalchemy", "types", "postgresql", "pg", "postgres", "psql")


def _sqlalchemy_type(node: ast.expr | None) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if target is None:
        return False
    prefix = ast.unparse(target).rpartition(".")[0]
    return prefix.rsplit(".", 1)[-1] in _SQLALCHEMY_PREFIXES


@rule("DB018", "primary key added to an existing table",
      "ADD PRIMARY KEY builds its unique index and checks NOT NULL while holding an ACCESS EXCLUSIVE lock. Build "
      "the unique index CONCURRENTLY first, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX (a catalog change).",
      unsafe="""op.create_primary_key("pk_events", "events", ["id"])""",
      safe="""
with op.get_context().autocommit_block():
    op.create_index("pk_events", "events", ["id"], unique=True, postgresql_concurrently=True)
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY USING INDEX pk_events")""")
def _primary_key(call: OpCall, ctx: Context) -> str | None:
    if call.name == "create_primary_key" and existing(call, ctx):
        return f"create_primary_key on existing table {call.table} builds its index under an exclusive lock"
    return None


@rule("DB019", "exclusion constraint added to an existing table",
      "Adding an EXCLUDE constraint builds its index and checks every row while blocking reads and writes, and "
      "there is no NOT VALID or USING INDEX way around it. Create it with the table, or run it in a maintenance "
      "window.",
      unsafe="""op.create_exclude_constraint("ex_bookings_room", "bookings", ("room_id", "="), ("during", "&&"))""",
      safe="""
op.create_table("bookings", sa.Column("room_id", sa.Integer()), sa.Column("during", postgresql.TSRANGE()))
op.create_exclude_constraint("ex_bookings_room", "bookings", ("room_id", "="), ("during", "&&"))""")
def _exclusion(call: OpCall, ctx: Context) -> str | None:
    if call.name == "create_exclude_constraint" and existing(call, ctx):
        return f"create_exclude_constraint on existing table {call.table} blocks reads and writes while it builds"
    return None


@rule("DB020", "unique column added to an existing table",
      "sa.Column(..., unique=True) in add_column adds a UNIQUE constraint whose index is built while writes are "
      "blocked. Add the column plain, build a unique index CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX.",
      unsafe="""op.add_column("users", sa.Column("handle", sa.String(40), unique=True))""",
      safe="""
op.add_column("users", sa.Column("handle", sa.String(40)))
with op.get_context().autocommit_block():
    op.create_index("uq_users_handle", "users", ["handle"], unique=True, postgresql_concurrently=True)""")
def _unique_column(call: OpCall, ctx: Context) -> str | None:
    if call.name == "add_column" and existing(call, ctx):
        unique = column_kw(call).get("unique")
        if isinstance(unique, ast.Constant) and unique.value is True:
            return f"add_column on {call.table} with unique=True builds a unique index under a write lock"
    return None


IDENTIFIER_LIMIT = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1); MySQL rejects over 64


def _names(call: OpCall) -> list[str]:
    out: list[str] = []
    if call.name in ("create_table", "create_index", "create_foreign_key", "create_unique_constraint",
                     "create_check_constraint", "create_primary_key", "create_exclude_constraint"):
        first = call.const_arg(0)
        if isinstance(first, str):
            out.append(first)
    if call.name == "rename_table":
        second = call.const_arg(1)
        if isinstance(second, str):
            out.append(second)
    for column in columns_of(call):
        name = column_name(column)
        if name:
            out.append(name)
    new_name = call.kwargs.get("new_column_name")
    if isinstance(new_name, ast.Constant) and isinstance(new_name.value, str):
        out.append(new_name.value)
    return out


@rule("DB021", "identifier longer than 63 characters",
      "PostgreSQL silently cuts names to 63 bytes (two long index names can collide, and the next autogenerate "
      "sees a name it did not write); MySQL refuses names over 64. Name it shorter, e.g. with a naming convention.",
      scope="any",
      unsafe="""op.create_table("customer_orders_shipping_addresses_history_by_country_and_region_2024")""",
      safe="""op.create_table("order_address_history")""")
def _long_name(call: OpCall, ctx: Context) -> str | None:
    long = [n for n in _names(call) if len(n.encode()) > IDENTIFIER_LIMIT]
    if long:
        return f"{call.name}: {long[0]!r} is {len(long[0].encode())} bytes (limit {IDENTIFIER_LIMIT})"
    return None


@rule("DB022", "index over more than three columns",
      "A non-unique index over more than three columns rarely helps more than its first columns do, and costs "
      "every write; check the queries it serves.",
      scope="any", severity="warning",
      unsafe="""
with op.get_context().autocommit_block():
    op.create_index("ix_orders_wide", "orders", ["user_id", "status", "created_at", "total"],
                    postgresql_concurrently=True)""",
      safe="""
with op.get_context().autocommit_block():
    op.create_index("ix_orders_user_status", "orders", ["user_id", "status", "created_at"],
                    postgresql_concurrently=True)""")
def _wide_index(call: OpCall, ctx: Context) -> str | None:
    if call.name != "create_index" or true_kw(call, "unique"):
        return None
    columns = call.node.args[2] if len(call.node.args) > 2 else call.kwargs.get("columns")
    if isinstance(columns, ast.List | ast.Tuple) and len(columns.elts) > 3:
        return f"create_index {call.const_arg(0)!r} on {call.table} has {len(columns.elts)} columns"
    return None


@rule("DB023", "CHAR(n) column",
      "CHAR(n) pads every value with spaces to n characters (and compares ignoring them): it is slower and "
      "stranger than VARCHAR or TEXT, never faster.",
      scope="any", severity="warning",
      unsafe="""op.add_column("orders", sa.Column("country", sa.CHAR(2)))""",
      safe="""op.add_column("orders", sa.Column("country", sa.String(2)))""")
def _char(call: OpCall, ctx: Context) -> str | None:
    for column in columns_of(call):
        if type_name(column_type(column)) in ("CHAR", "NCHAR"):
            return f"{call.name} on {call.table}: column {column_name(column)} is CHAR(n)"
    return None


@rule("DB024", "timestamp without time zone",
      "TIMESTAMP WITHOUT TIME ZONE stores wall-clock time with no zone: values written from servers or sessions "
      "in different zones cannot be compared. Use sa.DateTime(timezone=True) (timestamptz).",
      severity="warning",
      unsafe="""op.add_column("orders", sa.Column("shipped_at", sa.DateTime()))""",
      safe="""op.add_column("orders", sa.Column("shipped_at", sa.DateTime(timezone=True)))""")
def _naive_timestamp(call: OpCall, ctx: Context) -> str | None:
    for column in columns_of(call):
        kind = column_type(column)
        if type_name(kind) in ("DateTime", "TIMESTAMP") and not (
                isinstance(kind, ast.Call) and any(kw.arg == "timezone" and isinstance(kw.value, ast.Constant)
                                                   and kw.value.value is True for kw in kind.keywords)):
            return f"{call.name} on {call.table}: column {column_name(column)} is a timestamp without time zone"
    return None


@rule("DB025", "integer primary key on a new table",
      "A 32-bit integer key runs out at 2,147,483,647 rows (or inserts, with gaps), and widening it later rewrites "
      "the table and every foreign key to it. Use BigInteger (or a UUID) from the start.",
      scope="any", severity="warning",
      unsafe="""op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))""",
      safe="""op.create_table("events", sa.Column("id", sa.BigInteger(), primary_key=True))""")
def _int_key(call: OpCall, ctx: Context) -> str | None:
    if call.name != "create_table":
        return None
    for column in columns_of(call):
        primary = any(kw.arg == "primary_key" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                      for kw in column.keywords)
        if primary and type_name(column_type(column)) in ("Integer", "INTEGER", "INT", "SmallInteger"):
            return f"create_table {call.table}: primary key {column_name(column)} is a 32-bit integer"
    return None
